package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// probes: slow bodies and oversized bodies on every face.
func (c *campaign) probes() error {
	n, err := c.newNode("probes", "--body-min-rate", "1024", "--body-rate-window", "2s", "--body-idle-timeout", "4s")
	if err != nil {
		return err
	}
	defer n.stop()
	userTok := n.user.Token
	id, err := n.user.RegisterAsset(context.Background(), []byte(`{"name":"probe"}`))
	if err != nil {
		return err
	}
	for _, p := range []struct{ face, method, path, hdr, first string }{
		{"DDS", "POST", "/files", "Authorization: Bearer " + userTok + "\r\nContent-Type: application/vnd.api+json", `{"data":{"type":"file","attributes":{"name":"s","data":"`},
		{"DEP-7", "PUT", "/api/v1/assets/" + id, "Authorization: token " + userTok, ""},
		{"Billing", "POST", "/payments", "Authorization: Bearer " + n.payer.Token + "\r\nContent-Type: application/vnd.api+json", `{"data":{"type":"payment","attributes":{"x":"`},
		{"storlets", "POST", "/storlets", "X-Auth-Token: " + n.admin, `{"name":"`},
		{"Ocean", "POST", "/api/services/encrypt?chainId=8996", "", ""},
	} {
		status, took := trickle(n.url, p.method, p.path, p.hdr, p.first)
		c.add("slow body, "+p.face, (status == 408 || (p.face == "DDS" && status == 400)) && took < 8*time.Second,
			"trickling 4 B/s: %d after %s (window 2 s)", status, took.Round(100*time.Millisecond))
	}
	over := func(n int) string { return `{"x":"` + strings.Repeat("a", n) + `"}` }
	for _, p := range []struct {
		face, method, path, body string
		hdr                      []string
	}{
		{"DDS", "PATCH", "/files/none", over(1 << 20), []string{"Authorization", "Bearer " + userTok, "Content-Type", "application/vnd.api+json"}},
		{"Billing", "POST", "/payments", over(1 << 20), []string{"Authorization", "Bearer " + n.payer.Token, "Content-Type", "application/vnd.api+json"}},
		{"DEP-7", "POST", "/api/v1/meta/data", over(1 << 20), []string{"Authorization", "token " + userTok}},
		{"storlets", "POST", "/storlets", over(64 << 10), []string{"X-Auth-Token", n.admin}},
		{"Ocean", "POST", "/api/services/encrypt?chainId=8996", over(16 << 20), nil},
		{"Ocean", "POST", "/api/services/fileinfo", over(1 << 20), nil},
		{"deals", "POST", "/api/v1/deal/create", over(1 << 20), []string{"Authorization", "Bearer " + userTok}},
	} {
		req, _ := http.NewRequest(p.method, n.url+p.path, strings.NewReader(p.body))
		for i := 0; i+1 < len(p.hdr); i += 2 {
			req.Header.Set(p.hdr[i], p.hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		status := 0
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		c.add("oversized body, "+p.face+" "+p.method+" "+strings.SplitN(p.path, "?", 2)[0], status == 413, "%d bytes: %d %v", len(p.body), status, err)
	}
	return nil
}

// trickle sends a body of 1 MiB at 4 bytes/s and returns the answer's status
// and when it came.
func trickle(base, method, path, hdr, first string) (int, time.Duration) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, 0
	}
	defer conn.Close()
	start := time.Now()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", method, path, 1<<20)
	if hdr != "" {
		head += hdr + "\r\n"
	}
	io.WriteString(conn, head+"\r\n"+first)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
				if _, err := io.WriteString(conn, "aaaa"); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, time.Since(start)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}
