package node_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// The profiler is served with --pprof only, and then to admins only.
func TestProfilerAccess(t *testing.T) {
	nw := testnet.New(t, 2, func(i int, c *testnet.Setup) { c.Pprof = i == 1 })
	get := func(nd *testnet.Node, path, token string) (int, string) {
		req, _ := http.NewRequest("GET", nd.URL()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	off, on := nw.Nodes[0], nw.Nodes[1]
	if st, body := get(off, "/debug/pprof/", off.AdminToken); st != 404 || strings.Contains(body, "goroutine") {
		t.Errorf("without --pprof: %d %.100s", st, body)
	}
	if st, _ := get(on, "/debug/pprof/", ""); st != 401 {
		t.Errorf("anonymous: %d", st)
	}
	if st, _ := get(on, "/debug/pprof/goroutine?debug=1", on.UserToken); st != 403 {
		t.Errorf("a user token: %d", st)
	}
	if st, body := get(on, "/debug/pprof/goroutine?debug=1", on.AdminToken); st != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("admin: %d %.100s", st, body)
	}
	if st, body := get(on, "/debug/pprof/profile?seconds=1", on.AdminToken); st != 200 || len(body) == 0 {
		t.Errorf("CPU profile: %d, %d bytes", st, len(body))
	}
}
