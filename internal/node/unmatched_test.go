package node_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// What no route takes is a 404 (or a 405 with Allow) in the face's format.
func TestUnmatchedRoutes(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	for _, c := range []struct {
		method, path string
		status       int
		body, allow  string
	}{
		{"GET", "/nope", 404, `"errors":[{"status":"404","code":"not_found"`, ""},
		{"DELETE", "/payments", 405, `"code":"method_not_allowed"`, "POST"},
		{"PUT", "/files", 405, `"status":"405"`, "GET, HEAD, POST"},
		{"POST", "/api/services/nope", 404, `{"error":"no endpoint /api/services/nope`, ""},
		{"GET", "/api/v1/nope", 404, `{"error":{"code":404,`, ""},
		{"GET", "/api/v1/meta/nope", 404, `"code":"not_found","status":404`, ""},
	} {
		req, _ := http.NewRequest(c.method, nd.URL()+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q Allow %q", c.method, c.path, resp.StatusCode, b, resp.Header.Get("Allow"))
		}
	}
}
