package testtool

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Balancer spreads requests over a node's live processes, round robin: the
// one address in front of several processes of a node, as a load balancer
// is in production.
type Balancer struct {
	URL   string
	mu    sync.Mutex
	procs []string
	next  int
}

// NewBalancer starts a balancer with no process yet (Set gives them); it
// stops when t ends.
func NewBalancer(t testing.TB) *Balancer {
	lb := &Balancer{}
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		lb.mu.Lock()
		host := lb.procs[lb.next%len(lb.procs)]
		lb.next++
		lb.mu.Unlock()
		r.SetURL(&url.URL{Scheme: "http", Host: host})
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(srv.Close)
	lb.URL = srv.URL
	return lb
}

// Set makes the processes at addrs (host:port) the live ones: a health
// check's job in production.
func (lb *Balancer) Set(addrs ...string) {
	lb.mu.Lock()
	lb.procs = addrs
	lb.mu.Unlock()
}
