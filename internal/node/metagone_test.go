package node_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// A PostgreSQL database that goes away while the node serves is a 503 with
// Retry-After on every face, and the node serves again once it is back.
func TestMetadataGoneIs503(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testtool.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db := testtool.Proxy(t, u.Host)
	u.Host = db.Addr
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Meta = u.String()
	cfg.Listen = "127.0.0.1:0"
	cfg.SweepEvery = -1
	cfg.Network.ReplicateEvery = -1
	n, err := node.Open(ctx, cfg, node.Deps{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := n.Auth.CreatePrincipal(ctx, "", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := n.Auth.IssueToken(ctx, p.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	requests := map[string]func() *http.Request{ // one per face
		"dds": func() *http.Request { return req(t, "GET", n.URL()+"/files", tok, "") },
		"dds post": func() *http.Request {
			return req(t, "POST", n.URL()+"/files", tok, `{"data":{"type":"file","attributes":{"name":"a","data":"aGk=","duration":86400}}}`)
		},
		"assets":   func() *http.Request { return req(t, "GET", n.URL()+"/api/v1/meta/data", tok, "") },
		"storlets": func() *http.Request { return req(t, "GET", n.URL()+"/storlets", tok, "") },
	}
	db.Stop()
	for name, r := range requests {
		resp, err := http.DefaultClient.Do(r())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with the database gone: %d, Retry-After %q; want 503 with Retry-After", name, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	db.Start(t)
	resp, err := http.DefaultClient.Do(requests["dds"]())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the database came back: %d", resp.StatusCode)
	}
}

func req(t *testing.T, method, url, token, body string) *http.Request {
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		r.Header.Set("Content-Type", "application/vnd.api+json")
	}
	return r
}
