package provider_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/provider"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// Hardhat's development keys: well known, never funded anywhere real.
const (
	consumerHex  = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
	otherHex     = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
	decrypterHex = "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
)

func mustKey(t testing.TB, h string) *identity.Key {
	k, err := identity.FromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign signs original+nonce the way ocean.js signProviderRequest does.
func sign(t testing.TB, k *identity.Key, original, nonce string) string {
	sig, err := k.SignHash(provider.MessageHash(original, nonce))
	if err != nil {
		t.Fatal(err)
	}
	return "0x" + hex.EncodeToString(sig)
}

type env struct {
	t        testing.TB
	net      *testnet.Network
	nd       *testnet.Node
	files    *httptest.Server // a file server on loopback
	content  []byte
	consumer *identity.Key
}

// allowLoopback is the operator's allowance tests need to fetch from their
// own loopback file server.
func allowLoopback(_ int, c *node.Config) {
	c.Provider.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

func newEnv(t testing.TB, opts ...testnet.Option) *env {
	e := &env{t: t, consumer: mustKey(t, consumerHex)}
	e.content = bytes.Repeat([]byte("0123456789abcdef"), 4096)
	e.files = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/data.csv":
			if r.Header.Get("X-Secret") != "s3cret" {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "text/csv")
			http.ServeContent(w, r, "data.csv", testnet.Start, bytes.NewReader(e.content))
		case "/open.csv": // no header needed: ocean.js's file objects carry none
			w.Header().Set("Content-Type", "text/csv")
			http.ServeContent(w, r, "open.csv", testnet.Start, bytes.NewReader(e.content))
		case "/redirect":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(e.files.Close)
	e.net = testnet.New(t, 1, opts...)
	e.nd = e.net.Nodes[0]
	return e
}

// do sends a request and returns the status and body.
func (e *env) do(method, path string, body io.Reader, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.nd.URL()+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (e *env) get(path string, q url.Values, hdr ...string) (int, []byte) {
	e.t.Helper()
	if q != nil {
		path += "?" + q.Encode()
	}
	st, b, _ := e.do("GET", path, nil, hdr...)
	return st, b
}

func (e *env) postJSON(path string, v any) (int, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(v)
	st, body, _ := e.do("POST", path, bytes.NewReader(b), "Content-Type", "application/json")
	return st, body
}

// wantError checks a 4xx in the provider's convention.
func wantError(t *testing.T, what string, status int, body []byte, wantStatus int, contains string) {
	t.Helper()
	var e struct{ Error string }
	if status != wantStatus || json.Unmarshal(body, &e) != nil || e.Error == "" || !strings.Contains(e.Error, contains) {
		t.Fatalf("%s: got %d %s, want %d with an error containing %q", what, status, body, wantStatus, contains)
	}
}

// encrypt calls the node's encrypt endpoint.
func (e *env) encrypt(plain []byte) string {
	e.t.Helper()
	st, b, _ := e.do("POST", "/api/services/encrypt?chainId=8996", bytes.NewReader(plain), "Content-Type", "application/octet-stream")
	if st != http.StatusCreated || !strings.HasPrefix(string(b), "0x") {
		e.t.Fatalf("encrypt: %d %s", st, b)
	}
	return string(b)
}

// publish publishes a DDO with one access service over files, priced at
// price with the given timeout, and returns its DID.
func (e *env) publish(nft string, files []provider.FileObject, price string, timeout int64, token string) string {
	e.t.Helper()
	fl, _ := json.Marshal(provider.FileList{NFTAddress: nft, DatatokenAddress: "0x00000000000000000000000000000000000000d7", Files: files})
	ddo := map[string]any{
		"@context": []string{"https://w3id.org/did/v1"}, "version": "4.1.0", "chainId": 8996, "nftAddress": nft,
		"metadata": map[string]any{"name": "test data", "type": "dataset", "author": "t", "license": "MIT"},
		"services": []map[string]any{{"id": "access-1", "type": "access", "files": e.encrypt(fl),
			"datatokenAddress": "0x00000000000000000000000000000000000000d7", "serviceEndpoint": e.nd.URL(),
			"timeout": timeout, "price": price}},
	}
	b, _ := json.Marshal(ddo)
	st, body, _ := e.do("POST", "/api/aquarius/assets/ddo", bytes.NewReader(b), "Authorization", "Bearer "+token, "Content-Type", "application/json")
	if st != http.StatusCreated {
		e.t.Fatalf("publish: %d %s", st, body)
	}
	var out struct{ ID string }
	json.Unmarshal(body, &out)
	return out.ID
}

// pay records an order through the Billing face and returns its id.
func (e *env) pay(did, service string, consumer *identity.Key, amount string) string {
	e.t.Helper()
	p, err := e.nd.Payer().Pay(e.t.Context(), client.PaymentRequest{Status: "success", Amount: amount,
		Extra: map[string]any{"document_id": did, "service_id": service, "consumer_address": consumer.Address()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

func (e *env) nonce(addr string) string {
	e.t.Helper()
	st, b := e.get("/api/services/nonce", url.Values{"userAddress": {addr}})
	var n struct{ Nonce string }
	if st != 200 || json.Unmarshal(b, &n) != nil {
		e.t.Fatalf("nonce: %d %s", st, b)
	}
	return n.Nonce
}

// downloadQuery is a signed download request.
func (e *env) downloadQuery(did, service, tx string, k *identity.Key, nonce string, idx string) url.Values {
	return url.Values{"documentId": {did}, "serviceId": {service}, "transferTxId": {tx}, "fileIndex": {idx},
		"consumerAddress": {k.Address()}, "nonce": {nonce}, "signature": {sign(e.t, k, did, nonce)}}
}
