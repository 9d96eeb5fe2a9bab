package ocean_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/ecies"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/testnet"
)

func fileinfo(t *testing.T, e *env, req api.FileInfoRequest) []api.FileInfo {
	t.Helper()
	out, err := e.c.OceanFileInfo(t.Context(), req)
	if err != nil {
		t.Fatalf("fileinfo %+v: %v", req, err)
	}
	return out
}

// urlFile asks fileinfo about a URL.
func urlFile(u string) api.FileInfoRequest {
	return api.FileInfoRequest{FileObject: api.FileObject{Type: "url", URL: u}}
}

// TestSSRF: without the operator's allowance, the node refuses to fetch
// from loopback (its own file server here), private and metadata
// addresses, directly and through redirects.
func TestSSRF(t *testing.T) {
	e := newEnv(t) // no allowance
	for _, u := range []string{e.files.URL + "/data.csv", "http://10.0.0.1:9/x", "http://169.254.169.254/latest/meta-data/",
		"http://[::1]:9/", "http://localhost:9/"} {
		req := urlFile(u)
		req.Method = "GET"
		fi := fileinfo(t, e, req)
		if len(fi) != 1 || fi[0].Valid || !strings.Contains(fi[0].Error, "refused") {
			t.Fatalf("%s: %+v", u, fi)
		}
	}
	// The publisher's URL is checked again at download time.
	files := []api.FileObject{{Type: "url", URL: e.files.URL + "/data.csv", Headers: map[string]string{"X-Secret": "s3cret"}}}
	did := e.publish("0x00000000000000000000000000000000000000c1", files, "0", 0, e.nd.UserToken)
	tx := e.pay(did, "access-1", e.consumer, "0")
	_, err := e.download(did, "access-1", tx, e.consumer, "1", 0)
	wantErr(t, "download from loopback", err, 400, "refused")
	_, err = e.c.OceanInitialize(t.Context(), api.OceanAccess{DocumentID: did, ServiceID: "access-1", ConsumerAddress: e.consumer.Address()})
	wantErr(t, "initialize a refused file", err, 400, "refused")

	// With loopback allowed (and only loopback), the file is served, but a
	// redirect from there to a private address is refused.
	a := newEnv(t, allowLoopback)
	req := urlFile(a.files.URL + "/data.csv")
	req.Headers, req.Checksum = map[string]string{"X-Secret": "s3cret"}, true
	fi := fileinfo(t, a, req)
	sum := sha256.Sum256(a.content)
	if !fi[0].Valid || fi[0].ContentLength != "65536" || fi[0].ContentType != "text/csv" || fi[0].Checksum != hex.EncodeToString(sum[:]) || fi[0].Filename != "data.csv" {
		t.Fatalf("allowed: %+v", fi)
	}
	fi = fileinfo(t, a, urlFile(a.files.URL+"/redirect?to="+url.QueryEscape("http://192.168.7.7:9/x")))
	if fi[0].Valid || !strings.Contains(fi[0].Error, "refused") {
		t.Fatalf("redirect to private: %+v", fi)
	}
	// Unreachable and missing files are valid:false, not errors.
	for _, u := range []string{a.files.URL + "/missing", "http://127.0.0.1:1/"} {
		fi = fileinfo(t, a, urlFile(u))
		if fi[0].Valid || fi[0].Error == "" {
			t.Fatalf("%s: %+v", u, fi)
		}
	}
	// ipfs and arweave go through the configured gateways.
	g := newEnv(t, allowLoopback, func(_ int, c *testnet.Setup) {
		c.Ocean.IPFSGateway = "http://127.0.0.1:1"
	})
	fi = fileinfo(t, g, api.FileInfoRequest{FileObject: api.FileObject{Type: "ipfs", Hash: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"}})
	if fi[0].Valid || !strings.Contains(fi[0].Error, "unreachable") {
		t.Fatalf("ipfs via gateway: %+v", fi)
	}
}

func TestAuthTokens(t *testing.T) {
	e := newEnv(t, allowLoopback)
	files := []api.FileObject{{Type: "url", URL: e.files.URL + "/data.csv", Headers: map[string]string{"X-Secret": "s3cret"}}}
	did := e.publish("0x00000000000000000000000000000000000000e1", files, "0", 0, e.nd.UserToken)
	tx := e.pay(did, "access-1", e.consumer, "0")
	addr := e.consumer.Address()

	// GET with query parameters (the Python provider's form).
	st, b := e.get("/api/services/createAuthToken", url.Values{"address": {addr}, "nonce": {"1"}, "signature": {sign(t, e.consumer, addr, "1")}, "expiration": {"1793494800"}})
	var tok struct{ Token string }
	if st != 200 || json.Unmarshal(b, &tok) != nil || strings.Count(tok.Token, ".") != 2 {
		t.Fatalf("createAuthToken: %d %s", st, b)
	}
	// Replaying the signed request is refused.
	st, b = e.get("/api/services/createAuthToken", url.Values{"address": {addr}, "nonce": {"1"}, "signature": {sign(t, e.consumer, addr, "1")}})
	wantError(t, "replayed createAuthToken", st, b, 400, "nonce")

	q := url.Values{"documentId": {did}, "serviceId": {"access-1"}, "transferTxId": {tx}, "fileIndex": {"0"}, "consumerAddress": {addr}}
	st, body := e.get("/api/services/download", q, "AuthToken", tok.Token)
	if st != 200 || !bytes.Equal(body, e.content) {
		t.Fatalf("download with token: %d %s", st, body[:min(len(body), 200)])
	}
	other := mustKey(t, otherHex)
	q2 := url.Values{"documentId": {did}, "serviceId": {"access-1"}, "transferTxId": {tx}, "consumerAddress": {other.Address()}}
	st, b = e.get("/api/services/download", q2, "AuthToken", tok.Token)
	wantError(t, "someone else's token", st, b, 401, "belongs to")
	st, b = e.get("/api/services/download", q, "AuthToken", tok.Token+"x")
	wantError(t, "tampered token", st, b, 401, "invalid")
	st, b = e.get("/api/services/download", q)
	wantError(t, "neither signature nor token", st, b, 400, "signature is required")

	// POST with a JSON body (ocean.js 4.x invalidateAuthToken).
	st, b = e.sendJSON("POST", "/api/services/deleteAuthToken", map[string]any{"address": addr, "nonce": "2", "signature": sign(t, e.consumer, addr, "2"), "token": tok.Token})
	if st != 200 || !strings.Contains(string(b), "Token has been deactivated.") {
		t.Fatalf("deleteAuthToken: %d %s", st, b)
	}
	st, b = e.get("/api/services/download", q, "AuthToken", tok.Token)
	wantError(t, "revoked token", st, b, 401, "deactivated")
	st, b = e.sendJSON("POST", "/api/services/deleteAuthToken", map[string]any{"address": addr, "nonce": "3", "signature": sign(t, e.consumer, addr, "3"), "token": tok.Token})
	wantError(t, "revoked twice", st, b, 400, "already")

	// A token expires.
	st, b = e.sendJSON("POST", "/api/services/createAuthToken", map[string]any{"address": addr, "nonce": "4", "signature": sign(t, e.consumer, addr, "4")})
	if st != 200 || json.Unmarshal(b, &tok) != nil {
		t.Fatalf("createAuthToken (POST): %d %s", st, b)
	}
	e.net.Clock.Advance(2 * 3600 * 1e9)
	st, b = e.get("/api/services/download", q, "AuthToken", tok.Token)
	wantError(t, "expired token", st, b, 401, "expired")

	// The typed client: create a token, download with it, revoke it.
	ctx := t.Context()
	token, err := e.c.OceanAuthToken(ctx, e.consumer, time.Time{})
	if err != nil {
		t.Fatalf("client createAuthToken: %v", err)
	}
	access := api.OceanAccess{DocumentID: did, ServiceID: "access-1", TransferTxID: tx, ConsumerAddress: addr}
	resp, err := e.nd.Client(token).OceanDownload(ctx, nil, access)
	if err != nil {
		t.Fatalf("client download with a token: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, e.content) {
		t.Fatalf("client download with a token: %d bytes", len(body))
	}
	if err := e.c.OceanDeleteAuthToken(ctx, e.consumer, token); err != nil {
		t.Fatalf("client deleteAuthToken: %v", err)
	}
	_, err = e.nd.Client(token).OceanDownload(ctx, nil, access)
	wantErr(t, "client download with a revoked token", err, 401, "deactivated")
}

func TestDecrypt(t *testing.T) {
	dec := mustKey(t, decrypterHex)
	e := newEnv(t, func(_ int, c *testnet.Setup) { c.Ocean.Decrypters = []string{dec.Address()} })
	doc := []byte(`{"@context":["https://w3id.org/did/v1"],"id":"did:op:x","metadata":{"name":"decrypted"}}`)
	sum := sha256.Sum256(doc)
	var z bytes.Buffer
	zw, _ := xz.WriterConfig{DictCap: 1 << 16}.NewWriter(&z) // small: fast under -race
	zw.Write(doc)
	zw.Close()
	ct, _ := ecies.Encrypt(e.nd.Key.Private().PubKey(), z.Bytes())
	nft := "0x00000000000000000000000000000000000000f1"
	req := func(k *identity.Key, flags int, data []byte, nonce string, hash string) map[string]any {
		return map[string]any{"decrypterAddress": k.Address(), "chainId": 8996, "dataNftAddress": nft,
			"encryptedDocument": "0x" + hex.EncodeToString(data), "flags": flags, "documentHash": hash,
			"nonce": nonce, "signature": sign(t, k, nft+k.Address()+"8996", nonce)}
	}
	hash := "0x" + hex.EncodeToString(sum[:])
	st, b := e.sendJSON("POST", "/api/services/decrypt", req(dec, 3, ct, "1644315615.24195", hash))
	if st != 201 || !bytes.Equal(b, doc) {
		t.Fatalf("decrypt lzma+ecies: %d %s", st, b)
	}
	st, b = e.sendJSON("POST", "/api/services/decrypt", req(dec, 0, doc, "1644315616", hash))
	if st != 201 || !bytes.Equal(b, doc) {
		t.Fatalf("decrypt plain: %d %s", st, b)
	}
	st, b = e.sendJSON("POST", "/api/services/decrypt", req(dec, 3, ct, "1644315617", "0x"+strings.Repeat("0", 64)))
	wantError(t, "hash mismatch", st, b, 400, "Unmatched document hash")
	st, b = e.sendJSON("POST", "/api/services/decrypt", req(dec, 2, z.Bytes(), "1644315618", hash))
	wantError(t, "not encrypted for us", st, b, 400, "decrypt")
	st, b = e.sendJSON("POST", "/api/services/decrypt", req(dec, 3, ct, "1644315617", hash))
	wantError(t, "replay", st, b, 400, "nonce")
	st, b = e.sendJSON("POST", "/api/services/decrypt", req(e.consumer, 3, ct, "1", hash))
	wantError(t, "unauthorized decrypter", st, b, 403, "not authorized")
	r := req(dec, 3, ct, "1644315620", hash)
	r["chainId"] = 1
	st, b = e.sendJSON("POST", "/api/services/decrypt", r)
	wantError(t, "other chain", st, b, 400, "chain")
	// The signature covers the chain id: signed for chain 1, sent for 8996.
	r = req(dec, 3, ct, "1644315621", hash)
	r["signature"] = sign(t, dec, nft+dec.Address()+"1", "1644315621")
	st, b = e.sendJSON("POST", "/api/services/decrypt", r)
	wantError(t, "signature for another chain", st, b, 401, "Invalid signature")
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	addr := e.consumer.Address()
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/services/nonce", "", 400},
		{"GET", "/api/services/nonce?userAddress=0x123", "", 400},
		{"POST", "/api/services/encrypt", "abc", 400},
		{"POST", "/api/services/encrypt?chainId=1", "abc", 400},
		{"POST", "/api/services/encrypt?chainId=x", "abc", 400},
		{"POST", "/api/services/encrypt?chainId=8996", "", 400},
		{"POST", "/api/services/decrypt", "{", 400},
		{"POST", "/api/services/decrypt", `{"decrypterAddress":"` + addr + `","chainId":8996}`, 403},
		{"POST", "/api/services/fileinfo", "", 400},
		{"POST", "/api/services/fileinfo", "[]", 400},
		{"POST", "/api/services/fileinfo", `{"type":"ftp","url":"ftp://x"}`, 400},
		{"POST", "/api/services/fileinfo", `{"type":"url","url":"file:///etc/passwd"}`, 400},
		{"POST", "/api/services/fileinfo", `{"type":"url","url":"http://x/","method":"DELETE"}`, 400},
		{"POST", "/api/services/fileinfo", `{"did":"did:op:nope"}`, 404},
		{"GET", "/api/services/initialize", "", 400},
		{"GET", "/api/services/initialize?documentId=did:op:x&serviceId=a&consumerAddress=" + addr, "", 404},
		{"GET", "/api/services/initialize?documentId=did:op:x&serviceId=a&consumerAddress=bad", "", 400},
		{"GET", "/api/services/download", "", 400},
		{"GET", "/api/services/download?documentId=d&serviceId=s&consumerAddress=" + addr + "&transferTxId=t&nonce=1&signature=0x00", "", 401},
		{"GET", "/api/services/download?documentId=d&serviceId=s&consumerAddress=" + addr + "&transferTxId=t&nonce=-1&signature=0x00", "", 400},
		{"GET", "/api/services/download?documentId=d&serviceId=s&consumerAddress=" + addr + "&transferTxId=t&fileIndex=x", "", 400},
		{"GET", "/api/services/createAuthToken", "", 400},
		{"GET", "/api/services/createAuthToken?address=" + addr + "&nonce=1&signature=0x00&expiration=1", "", 400},
		{"DELETE", "/api/services/deleteAuthToken?address=" + addr, "", 400},
		{"GET", "/api/aquarius/assets/ddo/did:op:nope", "", 404},
		{"GET", "/api/aquarius/assets/ddo?limit=0", "", 400},
		{"GET", "/api/aquarius/assets/ddo?offset=-1", "", 400},
		{"POST", "/api/aquarius/assets/ddo", "{}", 401},
	} {
		var body *strings.Reader
		body = strings.NewReader(c.body)
		st, b, _ := e.do(c.method, c.path, body, "Content-Type", "application/json")
		var er struct{ Error string }
		if st != c.status || json.Unmarshal(b, &er) != nil || er.Error == "" {
			t.Errorf("%s %s %q: got %d %s, want %d", c.method, c.path, c.body, st, b, c.status)
		}
	}
	// Bad DDOs are 400s that say what is wrong.
	for _, ddo := range []string{`nope`, `{}`, `{"chainId":1,"id":"did:op:x"}`,
		`{"chainId":8996,"nftAddress":"0x00000000000000000000000000000000000000a1","metadata":{"name":"x"},"services":[]}`,
		`{"chainId":8996,"nftAddress":"0x00000000000000000000000000000000000000a1","metadata":{"name":"x"},"services":[{"id":"a","type":"access","files":"0x00"}]}`,
		`{"chainId":8996,"nftAddress":"0x00000000000000000000000000000000000000a1","metadata":{"name":"x"},"services":[{"id":"a","type":"weird","files":"0x00"}]}`,
		`{"chainId":8996,"nftAddress":"0x00000000000000000000000000000000000000a1","metadata":{"name":"x"},"services":[{"id":"a","type":"access","files":"0x00","price":"-1"}]}`,
		`{"chainId":8996,"id":"did:op:0000000000000000000000000000000000000000000000000000000000000000","nftAddress":"0x00000000000000000000000000000000000000a1","metadata":{"name":"x"},"services":[{"id":"a","type":"access","files":"0x00"}]}`,
	} {
		st, b, _ := e.do("POST", "/api/aquarius/assets/ddo", strings.NewReader(ddo), "Authorization", "Bearer "+e.nd.UserToken)
		var er struct{ Error string }
		if st != 400 || json.Unmarshal(b, &er) != nil || er.Error == "" {
			t.Errorf("DDO %s: got %d %s", ddo, st, b)
		}
	}
	// Billing refuses orders for unknown documents or services.
	did := e.publish("0x00000000000000000000000000000000000000a9", []api.FileObject{{Type: "url", URL: "https://example.com/x"}}, "1", 0, e.nd.UserToken)
	for _, attrs := range []string{
		`"document_id":"did:op:nope","service_id":"access-1","consumer_address":"` + addr + `"`,
		`"document_id":"` + did + `","service_id":"nope","consumer_address":"` + addr + `"`,
		`"document_id":"` + did + `","service_id":"access-1","consumer_address":"0x12"`,
		`"document_id":"` + did + `","consumer_address":"` + addr + `"`,
	} {
		body := `{"data":{"type":"payment","attributes":{"status":"success","amount":1,` + attrs + `}}}`
		st, b, _ := e.do("POST", "/payments", strings.NewReader(body), "Authorization", "Bearer "+e.nd.PaymentToken, "Content-Type", "application/vnd.api+json")
		if st != 400 && st != 404 {
			t.Errorf("order %s: %d %s", attrs, st, b)
		}
	}
	// The advertised routes do not swallow other paths.
	if st, _, _ := e.do("GET", "/nope", nil); st != http.StatusNotFound {
		t.Errorf("GET /nope: %d", st)
	}
}

// TestConcurrentReplay sends one signed download many times at once: the
// nonce lets exactly one through.
func TestConcurrentReplay(t *testing.T) {
	e := newEnv(t, allowLoopback)
	files := []api.FileObject{{Type: "url", URL: e.files.URL + "/open.csv"}}
	did := e.publish("0x00000000000000000000000000000000000000d1", files, "0", 0, e.nd.UserToken)
	tx := e.pay(did, "access-1", e.consumer, "0")
	const n = 8
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			resp, err := e.c.OceanDownload(t.Context(), e.consumer, api.OceanAccess{DocumentID: did, ServiceID: "access-1", TransferTxID: tx, Nonce: "1"})
			var ce *client.Error
			switch {
			case errors.As(err, &ce):
				codes <- ce.Status
			case err != nil:
				codes <- 0
			default:
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			}
		}()
	}
	got := map[int]int{}
	for i := 0; i < n; i++ {
		got[<-codes]++
	}
	if got[200] != 1 || got[400] != n-1 {
		t.Fatalf("status counts %v: want one 200 and %d 400s", got, n-1)
	}
}

// TestSecretURL: what fileinfo and download say about a published file
// never names its URL or the address it resolves to.
func TestSecretURL(t *testing.T) {
	e := newEnv(t, allowLoopback)
	files := []api.FileObject{{Type: "url", URL: "http://127.0.0.1:1/secret-path.csv"}}
	did := e.publish("0x00000000000000000000000000000000000000d2", files, "0", 0, e.nd.UserToken)
	fi := fileinfo(t, e, api.FileInfoRequest{DID: did, ServiceID: "access-1"})
	b, _ := json.Marshal(fi)
	if strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "secret-path") || !strings.Contains(string(b), `"valid":false`) {
		t.Fatalf("fileinfo: %s", b)
	}
	tx := e.pay(did, "access-1", e.consumer, "0")
	_, err := e.download(did, "access-1", tx, e.consumer, "1", 0)
	wantErr(t, "unreachable origin", err, 502, "could not be fetched")
	if strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "secret-path") {
		t.Fatalf("download error leaks the URL: %v", err)
	}
}
