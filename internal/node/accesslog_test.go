package node_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// --access-log logs every request, never its query string.
func TestAccessLog(t *testing.T) {
	var logs syncBuffer
	nw := testnet.New(t, 1, func(_ int, c *testnet.Setup) {
		c.AccessLog = true
		c.Deps.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	resp, err := http.Get(nw.Nodes[0].URL() + "/healthz?signature=0xsecret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := logs.String()
	if !strings.Contains(got, "log=access") || !strings.Contains(got, "path=/healthz") || !strings.Contains(got, "status=200") {
		t.Fatalf("access log:\n%s", got)
	}
	if strings.Contains(got, "0xsecret") {
		t.Fatalf("the access log shows a query string:\n%s", got)
	}
}
