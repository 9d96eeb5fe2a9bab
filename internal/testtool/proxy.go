package testtool

import (
	"io"
	"net"
	"sync"
	"testing"
)

// TCPProxy forwards TCP connections to a server until stopped, so that a
// test can take the server away (and bring it back on the same address).
type TCPProxy struct {
	Addr   string // where clients connect
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

// Proxy starts a TCPProxy to target, stopped when t ends.
func Proxy(t testing.TB, target string) *TCPProxy {
	p := &TCPProxy{target: target}
	p.Start(t)
	t.Cleanup(p.Stop)
	return p
}

// Start listens (again) on p.Addr, or on a free port the first time.
func (p *TCPProxy) Start(t testing.TB) {
	addr := p.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// Stop refuses new connections and cuts the open ones.
func (p *TCPProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
