package node_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// /metrics needs an admin token unless the node runs with --metrics-public.
func TestMetricsAccess(t *testing.T) {
	nw := testnet.New(t, 2, func(i int, c *testnet.Setup) { c.Metrics.Public = i == 1 })
	scrape := func(nd *testnet.Node, token string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", nd.URL()+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	protected, public := nw.Nodes[0], nw.Nodes[1]
	if st, body, h := scrape(protected, ""); st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") || strings.Contains(body, "dds_") {
		t.Errorf("anonymous scrape: %d %v %.100s", st, h, body)
	}
	if st, _, _ := scrape(protected, "not-a-token"); st != 401 {
		t.Errorf("a wrong token: %d", st)
	}
	for _, tok := range []string{protected.UserToken, protected.PaymentToken} {
		if st, body, _ := scrape(protected, tok); st != 403 || strings.Contains(body, "dds_") {
			t.Errorf("another role: %d %.100s", st, body)
		}
	}
	if st, body, _ := scrape(protected, protected.AdminToken); st != 200 || !strings.Contains(body, "dds_assets") {
		t.Errorf("admin scrape: %d %.100s", st, body)
	}
	if st, body, _ := scrape(public, ""); st != 200 || !strings.Contains(body, "dds_assets") {
		t.Errorf("public scrape: %d %.100s", st, body)
	}
}
