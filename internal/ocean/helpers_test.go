package ocean_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// Hardhat's development keys: well known, never funded anywhere real.
const (
	consumerHex  = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
	otherHex     = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
	decrypterHex = "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
)

var (
	algorithms = map[string][]byte{} // name → WASI module, built by TestMain
	cacheDir   string                // compiled modules, shared by the tests' nodes
)

// TestMain builds the example algorithms once.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "compute-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = filepath.Join(dir, "cache")
	var built []string
	for _, name := range []string{"linecount", "colstats", "fail", "forever", "escape"} {
		out := filepath.Join(dir, name+".wasm")
		cmd := exec.Command("go", "build", "-o", out, "./testdata/"+name)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", name, err, b)
			os.Exit(1)
		}
		if algorithms[name], err = os.ReadFile(out); err != nil {
			panic(err)
		}
		built = append(built, out)
	}
	// Compiling a Go-built module takes a second, but a minute in a binary
	// built with -race: a helper without it fills the cache the nodes use.
	cmd := exec.Command("go", "test", "-count=1", "-run=TestPrecompile", "./testdata/precompile")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "PRECOMPILE_CACHE="+cacheDir,
		"PRECOMPILE_MODULES="+strings.Join(built, string(os.PathListSeparator)))
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "precompiling: %v\n%s", err, b)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func mustKey(t testing.TB, h string) *identity.Key {
	k, err := identity.FromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign signs original+nonce the way ocean.js signProviderRequest does.
func sign(t testing.TB, k client.Signer, original, nonce string) string {
	sig, err := client.Sign(k, original, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// forger signs with its key while it claims another address.
type forger struct {
	*identity.Key
	claims string
}

func (f forger) Address() string { return f.claims }

// recorder keeps the statuses every job reached, in order.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]int
}

func (r *recorder) record(id string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[id] = append(r.seen[id], status)
}

func (r *recorder) statuses(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.seen[id]...)
}

type env struct {
	t        testing.TB
	net      *testnet.Network
	nd       *testnet.Node
	c        *client.Client   // the Ocean face's client: no node token, consumers sign
	files    *httptest.Server // a file server on loopback
	content  []byte           // at /data.csv (with the X-Secret header) and /open.csv
	dataset  []byte           // at /dataset.csv
	rec      *recorder
	consumer *identity.Key
	other    *identity.Key
}

// The compute environments of the tests' nodes.
var testEnvironments = []ocean.Environment{
	{ID: "wasm", MaxJobs: 2, MaxJobDuration: time.Minute, MemoryMiB: 256},
	{ID: "short", MaxJobs: 2, MaxJobDuration: time.Second, MemoryMiB: 256},
	{ID: "single", MaxJobs: 1, MaxJobDuration: time.Minute, MemoryMiB: 256},
	{ID: "tiny-output", MaxJobs: 1, MaxJobDuration: time.Minute, MemoryMiB: 256, MaxOutput: 64},
	{ID: "priced", MaxJobs: 1, MaxJobDuration: 90 * time.Second, MemoryMiB: 256, PriceMin: money.Unit / 2}, // 0.5 a minute
}

// allowLoopback is the operator's allowance tests need to fetch from their
// own loopback file server.
func allowLoopback(_ int, c *testnet.Setup) {
	c.Ocean.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

func newEnv(t testing.TB, opts ...testnet.Option) *env {
	e := &env{t: t, rec: &recorder{seen: map[string][]int{}}, consumer: mustKey(t, consumerHex), other: mustKey(t, otherHex)}
	e.content = bytes.Repeat([]byte("0123456789abcdef"), 4096)
	e.dataset = []byte("city,temperature\nOslo,4.5\nCairo,31\nLima,19.25\nQuito,-2\n")
	e.files = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/data.csv":
			if r.Header.Get("X-Secret") != "s3cret" {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "text/csv")
			http.ServeContent(w, r, "data.csv", testnet.Start, bytes.NewReader(e.content))
		case r.URL.Path == "/open.csv": // no header needed: ocean.js's file objects carry none
			w.Header().Set("Content-Type", "text/csv")
			http.ServeContent(w, r, "open.csv", testnet.Start, bytes.NewReader(e.content))
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		case r.URL.Path == "/dataset.csv":
			w.Write(e.dataset)
		case r.URL.Path == "/notwasm":
			w.Write([]byte("#!/bin/sh\necho not a module\n"))
		case strings.HasPrefix(r.URL.Path, "/algo/"):
			b, ok := algorithms[strings.TrimPrefix(r.URL.Path, "/algo/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(e.files.Close)
	compute := func(_ int, c *testnet.Setup) {
		c.Ocean.Compute.Environments = testEnvironments
		c.Ocean.Compute.CacheDir = cacheDir
		c.Ocean.Compute.Retention = 24 * time.Hour
		c.Ocean.Compute.OnStatus = e.rec.record
	}
	e.net = testnet.New(t, 1, append([]testnet.Option{compute}, opts...)...)
	e.nd = e.net.Nodes[0]
	e.c = e.nd.Client("")
	return e
}

// do sends a raw request (for malformed input and headers) and returns the
// status, body and header.
func (e *env) do(method, path string, body io.Reader, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := e.c.NewRequest(e.t.Context(), method, path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.c.HTTP.Do(req)
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

func (e *env) sendJSON(method, path string, v any) (int, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(v)
	st, body, _ := e.do(method, path, bytes.NewReader(b), "Content-Type", "application/json")
	return st, body
}

// wantError checks a raw answer in the provider's convention.
func wantError(t testing.TB, what string, status int, body []byte, wantStatus int, contains string) {
	t.Helper()
	var e struct{ Error string }
	if status != wantStatus || json.Unmarshal(body, &e) != nil || e.Error == "" || !strings.Contains(e.Error, contains) {
		t.Fatalf("%s: got %d %s, want %d with an error containing %q", what, status, body, wantStatus, contains)
	}
}

// wantErr checks the error the client returned.
func wantErr(t testing.TB, what string, err error, wantStatus int, contains string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != wantStatus || !strings.Contains(ce.Detail, contains) {
		t.Fatalf("%s: got %v, want %d with an error containing %q", what, err, wantStatus, contains)
	}
}

func (e *env) encrypt(plain []byte) string {
	e.t.Helper()
	ct, err := e.c.OceanEncrypt(e.t.Context(), 8996, plain)
	if err != nil || !strings.HasPrefix(ct, "0x") {
		e.t.Fatalf("encrypt: %q %v", ct, err)
	}
	return ct
}

// publishDDO publishes a document with one service (its files encrypted
// here) as the principal of token, and returns its DID.
func (e *env) publishDDO(token, nft string, meta map[string]any, svc api.DDOService, files api.FileList) string {
	e.t.Helper()
	fl, _ := json.Marshal(files)
	svc.Files = e.encrypt(fl)
	svc.DatatokenAddress, svc.ServiceEndpoint = "0x00000000000000000000000000000000000000d7", e.nd.URL()
	d, _, err := e.nd.Client(token).PublishDDO(e.t.Context(), api.DDO{Version: "4.1.0", ChainID: 8996, NFTAddress: nft,
		Metadata: meta, Services: []api.DDOService{svc}})
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return d.ID
}

// publish publishes a DDO with one access service over files, priced at
// price with the given timeout, and returns its DID.
func (e *env) publish(nft string, files []api.FileObject, price string, timeout int64, token string) string {
	e.t.Helper()
	return e.publishDDO(token, nft, map[string]any{"name": "test data", "type": "dataset", "author": "t", "license": "MIT"},
		api.DDOService{ID: "access-1", Type: "access", Timeout: timeout, Price: price},
		api.FileList{NFTAddress: nft, DatatokenAddress: "0x00000000000000000000000000000000000000d7", Files: files})
}

var nftCounter atomic.Int64

// publishAsset publishes a document with one service over one URL file and
// returns its DID.
func (e *env) publishAsset(typ, serviceType, fileURL, price string, compute *api.ComputeOptions) string {
	e.t.Helper()
	nft := fmt.Sprintf("0x%040x", 0xa000+nftCounter.Add(1))
	svc := api.DDOService{ID: serviceType + "-1", Type: serviceType, Timeout: 3600, Price: price}
	if compute != nil {
		svc.Compute, _ = json.Marshal(compute)
	}
	return e.publishDDO(e.nd.UserToken, nft, map[string]any{"name": typ + " " + nft, "type": typ, "author": "t", "license": "MIT"},
		svc, api.FileList{Files: []api.FileObject{{Type: "url", URL: fileURL, Method: "GET"}}})
}

// publishDataset publishes the CSV dataset with a compute service.
func (e *env) publishDataset(compute *api.ComputeOptions) string {
	if compute == nil {
		compute = &api.ComputeOptions{AllowRawAlgorithm: true}
	}
	return e.publishAsset("dataset", "compute", e.files.URL+"/dataset.csv", "2", compute)
}

// paidDataset publishes the CSV dataset and pays for computing on it: its
// DID and the order.
func (e *env) paidDataset() (did, tx string) {
	did = e.publishDataset(nil)
	return did, e.pay(did, "compute-1", e.consumer, "2")
}

func (e *env) publishAlgorithm(name string) string {
	return e.publishAsset("algorithm", "access", e.files.URL+"/algo/"+name, "0", nil)
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
	n, err := e.c.OceanNonce(e.t.Context(), addr)
	if err != nil {
		e.t.Fatalf("nonce: %v", err)
	}
	return n
}

// download downloads file idx of a service, signed by k with nonce.
func (e *env) download(did, service, tx string, k *identity.Key, nonce string, idx int) ([]byte, error) {
	resp, err := e.c.OceanDownload(e.t.Context(), k, api.OceanAccess{DocumentID: did, ServiceID: service, TransferTxID: tx, FileIndex: idx, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// downloadQuery is a signed download request, for requests the client
// would not send.
func (e *env) downloadQuery(did, service, tx string, k *identity.Key, nonce string, idx string) url.Values {
	return url.Values{"documentId": {did}, "serviceId": {service}, "transferTxId": {tx}, "fileIndex": {idx},
		"consumerAddress": {k.Address()}, "nonce": {nonce}, "signature": {sign(e.t, k, did, nonce)}}
}

// startReq is a start of a job on did paid by tx (the client signs it).
func (e *env) startReq(did, tx, environment string, algorithm api.ComputeAlgorithm) api.ComputeStart {
	return api.ComputeStart{Environment: environment, Dataset: api.ComputeDataset{DocumentID: did, ServiceID: "compute-1", TransferTxID: tx},
		Algorithm: algorithm}
}

// published names a published algorithm.
func published(did string) api.ComputeAlgorithm { return api.ComputeAlgorithm{DocumentID: did} }

// start starts a job of the consumer's and returns it.
func (e *env) start(req api.ComputeStart) api.ComputeJob {
	e.t.Helper()
	jobs, err := e.c.ComputeStart(e.t.Context(), e.consumer, req)
	if err != nil || len(jobs) != 1 || jobs[0].JobID == "" {
		e.t.Fatalf("start: %+v %v", jobs, err)
	}
	if first := e.rec.statuses(jobs[0].JobID); len(first) == 0 || first[0] != ocean.StatusWarmingUp {
		e.t.Fatalf("job %s began with %v, not warming up", jobs[0].JobID, first)
	}
	return jobs[0]
}

// tryStart sends a start signed by k that should be refused.
func (e *env) tryStart(k client.Signer, req api.ComputeStart) error {
	_, err := e.c.ComputeStart(e.t.Context(), k, req)
	return err
}

// status returns the job as its owner's status request sees it (nil when
// it is not listed).
func (e *env) status(k *identity.Key, jobID string) *api.ComputeJob {
	e.t.Helper()
	jobs, err := e.c.ComputeStatus(e.t.Context(), k.Address(), jobID, "")
	if err != nil || len(jobs) > 1 {
		e.t.Fatalf("status: %+v %v", jobs, err)
	}
	if len(jobs) == 0 {
		return nil
	}
	return &jobs[0]
}

// wait polls until the job reaches one of the statuses, and returns it.
func (e *env) wait(k *identity.Key, jobID string, statuses ...int) api.ComputeJob {
	e.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		j := e.status(k, jobID)
		if j != nil {
			for _, s := range statuses {
				if j.Status == s {
					return *j
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s: still %+v, want status in %v (seen %v)", jobID, j, statuses, e.rec.statuses(jobID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// result reads result index of a job, signed by k.
func (e *env) result(k *identity.Key, jobID string, index int) ([]byte, error) {
	e.t.Helper()
	rc, err := e.c.ComputeResult(e.t.Context(), k, jobID, index)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
