// Package run starts the processes the benchmarks measure (a `dds serve`
// node, MinIO) and reads what the machine says about them: resident memory
// and the load average.
package run

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BuildDDS builds ./cmd/dds of the module the benchmark runs from into dir.
func BuildDDS(dir string) (string, error) {
	bin := filepath.Join(dir, "dds")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/dds")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dds (run from the repository's root): %w", err)
	}
	return bin, nil
}

// FreeAddr is a loopback address with a free port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Proc is a server process the benchmark started.
type Proc struct {
	Cmd *exec.Cmd
	URL string
}

// Start runs bin with args, its output appended to logPath, and waits until
// url+health answers 200.
func Start(ctx context.Context, url, health, logPath string, env []string, bin string, args ...string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, URL: url}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.Stop()
	return nil, fmt.Errorf("%s did not answer %s within 60 s (log: %s)", bin, health, logPath)
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *Proc) Stop() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { p.Cmd.Wait(); close(done) }()
	p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-done
	}
}

// Memory is the process's resident memory now and at its peak, in bytes
// (VmRSS and VmHWM of /proc/PID/status).
func (p *Proc) Memory() (rss, peak int64) {
	m := p.memory()
	return m["VmRSS:"], m["VmHWM:"]
}

// MemoryParts splits the resident memory now: anon is the process's own
// (heap, stacks, SQLite's page caches), file is pages of files it maps
// (SQLite's database, read through mmap), which are the kernel's page cache
// and reclaimable, the pages a read(2) would have gone through anyway.
func (p *Proc) MemoryParts() (anon, file int64) {
	m := p.memory()
	return m["RssAnon:"], m["RssFile:"]
}

// memory is /proc/PID/status's sizes in bytes, by field name with its colon.
func (p *Proc) memory() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[f[0]] = kb << 10
		}
	}
	return out
}

// DDS is a `dds serve` node with a user, a payment processor and an admin.
type DDS struct {
	*Proc
	Data                 string
	User, Payment, Admin string // tokens
	bin                  string
	args                 []string
}

// StartDDS starts `bin serve` on a fresh data directory with extra flags and
// creates the tokens the benchmarks use.
func StartDDS(ctx context.Context, bin, data string, extra ...string) (*DDS, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data", data, "--listen", addr, "--log-level", "warn"}, extra...)
	p, err := Start(ctx, "http://"+addr, "/healthz", data+".log", nil, bin, args...)
	if err != nil {
		return nil, err
	}
	n := &DDS{Proc: p, Data: data, bin: bin, args: args}
	tok := func(role string) (string, error) {
		out, err := exec.Command(bin, "token", "create", "--data", data, "--role", role).Output()
		if err != nil {
			return "", fmt.Errorf("dds token create --role %s: %w", role, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], nil
	}
	for role, dst := range map[string]*string{"user": &n.User, "payment": &n.Payment} {
		if *dst, err = tok(role); err != nil {
			p.Stop()
			return nil, err
		}
	}
	a, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		p.Stop()
		return nil, err
	}
	n.Admin = string(bytes.TrimSpace(a))
	return n, nil
}

// Restart stops the node and starts it again on the same data and address;
// it returns how long the new process took to answer /healthz.
func (n *DDS) Restart(ctx context.Context) (time.Duration, error) {
	n.Stop()
	t := time.Now()
	p, err := Start(ctx, n.URL, "/healthz", n.Data+".log", nil, n.bin, n.args...)
	if err != nil {
		return 0, err
	}
	n.Proc = p
	return time.Since(t), nil
}

// Uptime is what `uptime` prints (the load average is what matters).
func Uptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		b, _ := os.ReadFile("/proc/loadavg")
		return "load average (/proc/loadavg): " + strings.TrimSpace(string(b))
	}
	return strings.TrimSpace(string(out))
}

// Load1 is the one-minute load average.
func Load1() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// MiB formats bytes as MiB.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Transport is the one set of HTTP transport settings every benchmark
// client uses, whatever server it talks to: kept-alive connections for
// every worker, no compression, 256 KiB socket buffers.
func Transport(workers int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * workers,
		MaxIdleConnsPerHost: 4 * workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
}

// CPU is the processor time the process has used (user + system), which a
// busy machine disturbs less than the wall-clock rates.
func (p *Proc) CPU() time.Duration {
	f := p.stat()
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ is 100 on Linux
}

// MajorFaults is how many of the process's page faults so far had to read
// from storage: the pages of a mapped database that the kernel's page cache
// no longer held.
func (p *Proc) MajorFaults() int64 {
	f := p.stat()
	if len(f) < 10 {
		return 0
	}
	n, _ := strconv.ParseInt(f[9], 10, 64) // majflt, field 12
	return n
}

// stat is /proc/PID/stat's fields from state (field 3) on: the command name
// before them may hold spaces.
func (p *Proc) stat() []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
}

// EnvFlags gives every flag of the command line an environment twin, as the
// node's flags have: PREFIX_ and the flag's name in capitals with _ for -
// (--large-mib is VSMINIO_LARGE_MIB). Call it before flag.Parse, so that a
// flag given wins over its twin.
func EnvFlags(prefix string) error {
	var err error
	flag.VisitAll(func(f *flag.Flag) {
		name := prefix + "_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

// Written is the bytes the process has caused to be written to storage
// (write_bytes of /proc/PID/io): the blobs, the database and its log.
func (p *Proc) Written() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// Parallel runs f(0..n-1) on workers goroutines; the first error stops it.
func Parallel(ctx context.Context, workers, n int, f func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}
