package node_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// The JSON:API faces negotiate as JSON:API 1.0 says: an Accept whose only
// JSON:API media types carry parameters is a 406, a body without a
// Content-Type a 415.
func TestJSONAPINegotiation(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	send := func(method, path, token, ct, accept, body string) int {
		req, _ := http.NewRequest(method, nd.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const mt = "application/vnd.api+json"
	file := `{"data":{"type":"file","attributes":{"name":"a","data":"aGk="}}}`
	pay := `{"data":{"type":"payment","attributes":{"file_id":"none","status":"success","amount":1}}}`
	for _, c := range []struct {
		method, path, token, ct, accept, body string
		want                                  int
	}{
		{"POST", "/files", nd.UserToken, mt, mt + ";ext=x", file, 406},
		{"POST", "/files", nd.UserToken, mt, mt + ";ext=x, " + mt + ";q=0.5", file, 402},
		{"POST", "/files", nd.UserToken, mt, "*/*", file, 402},
		{"POST", "/files", nd.UserToken, "", "", file, 415},
		{"POST", "/payments", nd.PaymentToken, mt, mt + `;profile="x"`, pay, 406},
		{"POST", "/payments", nd.PaymentToken, mt, mt, pay, 404},
	} {
		if got := send(c.method, c.path, c.token, c.ct, c.accept, c.body); got != c.want {
			t.Errorf("%s %s Content-Type %q Accept %q: %d, want %d", c.method, c.path, c.ct, c.accept, got, c.want)
		}
	}
}
