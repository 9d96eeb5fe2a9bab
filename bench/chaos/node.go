package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus-dds/dds/client"
)

// node is one dds serve process on a data directory that outlives it.
type node struct {
	bin, data, url string
	extra          []string
	cmd            *exec.Cmd
	user, payer    *client.Client
	admin          string
}

func (c *campaign) newNode(name string, extra ...string) (*node, error) {
	n := &node{bin: c.bin, data: filepath.Join(c.work, name), extra: extra}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n.url = "http://" + ln.Addr().String()
	ln.Close()
	if err := n.start(); err != nil {
		return nil, err
	}
	tok := func(role string) (string, error) {
		out, err := exec.Command(n.bin, "token", "create", "--data", n.data, "--role", role).Output()
		if err != nil {
			return "", fmt.Errorf("token create: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], nil
	}
	u, err := tok("user")
	if err != nil {
		return nil, err
	}
	p, err := tok("payment")
	if err != nil {
		return nil, err
	}
	a, err := os.ReadFile(filepath.Join(n.data, "admin.token"))
	if err != nil {
		return nil, err
	}
	n.user, n.payer, n.admin = client.New(n.url, u), client.New(n.url, p), strings.TrimSpace(string(a))
	return n, nil
}

func (n *node) start() error {
	args := append([]string{"serve", "--data", n.data, "--listen", strings.TrimPrefix(n.url, "http://"), "--log-level", "error"}, n.extra...)
	n.cmd = exec.Command(n.bin, args...)
	// The node's log goes next to its data (kept with --keep).
	logf, err := os.OpenFile(n.data+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	n.cmd.Stderr = logf
	if err := n.cmd.Start(); err != nil {
		return err
	}
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(n.url + "/healthz"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the node did not come up")
}

func (n *node) kill9() {
	n.cmd.Process.Signal(syscall.SIGKILL)
	n.cmd.Wait()
}

func (n *node) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		n.kill9()
	}
}

// peakRSS is the process's peak resident memory in MiB.
func (n *node) peakRSS() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// gauge reads one value of the node's metrics (as its admin).
func (n *node) gauge(name string) float64 {
	req, _ := http.NewRequest("GET", n.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+n.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}

// alive tells whether the node answers its health check.
func (n *node) alive() bool {
	resp, err := http.Get(n.url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
