package compute_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/compute"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/provider"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// Hardhat's development keys: well known, never funded anywhere real.
const (
	consumerHex = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
	otherHex    = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
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

// recorder keeps the statuses every job reached, in order.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]int
}

func (r *recorder) record(id string, status int) {
	if os.Getenv("DBG") != "" {
		fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), id[:6], status)
	}
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
	files    *httptest.Server
	rec      *recorder
	consumer *identity.Key
	other    *identity.Key
	nonce    atomic.Int64
	dataset  []byte
}

// The environments of the tests' nodes.
var testEnvironments = []compute.Environment{
	{ID: "wasm", MaxJobs: 2, MaxJobDuration: time.Minute, MemoryMiB: 256},
	{ID: "short", MaxJobs: 2, MaxJobDuration: time.Second, MemoryMiB: 256},
	{ID: "single", MaxJobs: 1, MaxJobDuration: time.Minute, MemoryMiB: 256},
	{ID: "tiny-output", MaxJobs: 1, MaxJobDuration: time.Minute, MemoryMiB: 256, MaxOutput: 64},
	{ID: "priced", MaxJobs: 1, MaxJobDuration: 90 * time.Second, MemoryMiB: 256, PriceMin: money.Unit / 2}, // 0.5 a minute
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, rec: &recorder{seen: map[string][]int{}}, consumer: mustKey(t, consumerHex), other: mustKey(t, otherHex)}
	e.nonce.Store(time.Now().UnixMilli())
	e.dataset = []byte("city,temperature\nOslo,4.5\nCairo,31\nLima,19.25\nQuito,-2\n")
	e.files = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/data.csv":
			w.Write(e.dataset)
		case r.URL.Path == "/notwasm":
			w.Write([]byte("#!/bin/sh\necho not a module\n"))
		case len(r.URL.Path) > len("/algo/") && r.URL.Path[:len("/algo/")] == "/algo/":
			b, ok := algorithms[r.URL.Path[len("/algo/"):]]
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
	e.net = testnet.New(t, 1, func(_ int, c *node.Config) {
		c.Provider.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Compute.Environments = testEnvironments
		c.Compute.CacheDir = cacheDir
		c.Compute.Retention = 24 * time.Hour
		c.Compute.OnStatus = e.rec.record
	})
	e.nd = e.net.Nodes[0]
	return e
}

func (e *env) do(method, path string, body io.Reader, hdr ...string) (int, []byte) {
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
	return resp.StatusCode, b
}

func (e *env) sendJSON(method, path string, v any) (int, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(v)
	return e.do(method, path, bytes.NewReader(b), "Content-Type", "application/json")
}

func (e *env) get(path string, q url.Values) (int, []byte) {
	e.t.Helper()
	return e.do("GET", path+"?"+q.Encode(), nil)
}

func (e *env) nextNonce() string { return strconv.FormatInt(e.nonce.Add(1), 10) }

// sign signs original+nonce the way ocean.js signProviderRequest does.
func sign(t testing.TB, k *identity.Key, original, nonce string) string {
	sig, err := k.SignHash(provider.MessageHash(original, nonce))
	if err != nil {
		t.Fatal(err)
	}
	return "0x" + hex.EncodeToString(sig)
}

func (e *env) encrypt(plain []byte) string {
	e.t.Helper()
	st, b := e.do("POST", "/api/services/encrypt?chainId=8996", bytes.NewReader(plain), "Content-Type", "application/octet-stream")
	if st != http.StatusCreated {
		e.t.Fatalf("encrypt: %d %s", st, b)
	}
	return string(b)
}

var nftCounter atomic.Int64

// publish publishes a document with one service over one URL file and
// returns its DID.
func (e *env) publish(typ, serviceType, fileURL, price string, compute map[string]any) string {
	e.t.Helper()
	nft := fmt.Sprintf("0x%040x", 0xa000+nftCounter.Add(1))
	fl, _ := json.Marshal(provider.FileList{Files: []provider.FileObject{{Type: "url", URL: fileURL, Method: "GET"}}})
	svc := map[string]any{"id": serviceType + "-1", "type": serviceType, "files": e.encrypt(fl),
		"datatokenAddress": "0x00000000000000000000000000000000000000d7", "serviceEndpoint": e.nd.URL(), "timeout": 3600, "price": price}
	if compute != nil {
		svc["compute"] = compute
	}
	ddo := map[string]any{"version": "4.1.0", "chainId": 8996, "nftAddress": nft,
		"metadata": map[string]any{"name": typ + " " + nft, "type": typ, "author": "t", "license": "MIT"},
		"services": []map[string]any{svc}}
	b, _ := json.Marshal(ddo)
	st, body := e.do("POST", "/api/aquarius/assets/ddo", bytes.NewReader(b), "Authorization", "Bearer "+e.nd.UserToken, "Content-Type", "application/json")
	if st != http.StatusCreated {
		e.t.Fatalf("publish: %d %s", st, body)
	}
	var out struct{ ID string }
	json.Unmarshal(body, &out)
	return out.ID
}

// dataset publishes the CSV dataset with a compute service.
func (e *env) publishDataset(compute map[string]any) string {
	if compute == nil {
		compute = map[string]any{"allowRawAlgorithm": true}
	}
	return e.publish("dataset", "compute", e.files.URL+"/data.csv", "2", compute)
}

func (e *env) publishAlgorithm(name string) string {
	return e.publish("algorithm", "access", e.files.URL+"/algo/"+name, "0", nil)
}

// pay records an order through the Billing face and returns its id.
func (e *env) pay(did, service string, k *identity.Key, amount string) string {
	e.t.Helper()
	p, err := e.nd.Payer().Pay(e.t.Context(), client.PaymentRequest{Status: "success", Amount: amount,
		Extra: map[string]any{"document_id": did, "service_id": service, "consumer_address": k.Address()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

type job struct {
	Owner        string
	DocumentID   string
	JobID        string
	Environment  string
	Status       int
	StatusText   string
	Error        string
	DateFinished *string
	Results      []struct {
		Index    int
		Filename string
		Filesize int64
		Type     string
	}
}

// startReq is a signed start request.
func (e *env) startReq(k *identity.Key, did, tx, environment string, algorithm map[string]any) map[string]any {
	n := e.nextNonce()
	return map[string]any{"consumerAddress": k.Address(), "nonce": n, "signature": sign(e.t, k, k.Address()+did, n),
		"environment": environment, "dataset": map[string]any{"documentId": did, "serviceId": "compute-1", "transferTxId": tx},
		"algorithm": algorithm}
}

// start starts a job and returns it.
func (e *env) start(body map[string]any) job {
	e.t.Helper()
	st, b := e.sendJSON("POST", "/api/services/compute", body)
	var jobs []job
	if st != 200 || json.Unmarshal(b, &jobs) != nil || len(jobs) != 1 || jobs[0].JobID == "" {
		e.t.Fatalf("start: %d %s", st, b)
	}
	if first := e.rec.statuses(jobs[0].JobID); len(first) == 0 || first[0] != compute.StatusWarmingUp {
		e.t.Fatalf("job %s began with %v, not warming up", jobs[0].JobID, first)
	}
	return jobs[0]
}

// status returns the job as its owner's status request sees it (nil when
// it is not listed).
func (e *env) status(k *identity.Key, jobID string) *job {
	e.t.Helper()
	st, b := e.get("/api/services/compute", url.Values{"consumerAddress": {k.Address()}, "jobId": {jobID}})
	var jobs []job
	if st != 200 || json.Unmarshal(b, &jobs) != nil || len(jobs) > 1 {
		e.t.Fatalf("status: %d %s", st, b)
	}
	if len(jobs) == 0 {
		return nil
	}
	return &jobs[0]
}

// wait polls until the job reaches one of the statuses, and returns it.
func (e *env) wait(k *identity.Key, jobID string, statuses ...int) job {
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

// result downloads result index of a job, signed by k.
func (e *env) result(k *identity.Key, jobID string, index int) (int, []byte) {
	e.t.Helper()
	n := e.nextNonce()
	idx := strconv.Itoa(index)
	return e.get("/api/services/computeResult", url.Values{"consumerAddress": {k.Address()}, "jobId": {jobID}, "index": {idx},
		"nonce": {n}, "signature": {sign(e.t, k, k.Address()+jobID+idx, n)}})
}

// signedJobReq is a stop or delete request signed by k.
func (e *env) signedJobReq(k *identity.Key, owner, jobID, did string) map[string]any {
	n := e.nextNonce()
	return map[string]any{"consumerAddress": owner, "jobId": jobID, "documentId": did, "nonce": n,
		"signature": sign(e.t, k, owner+jobID+did, n)}
}

// wantError checks a 4xx in the provider's convention.
func wantError(t testing.TB, what string, status int, body []byte, wantStatus int, contains string) {
	t.Helper()
	var e struct{ Error string }
	if status != wantStatus || json.Unmarshal(body, &e) != nil || e.Error == "" || !bytes.Contains([]byte(e.Error), []byte(contains)) {
		t.Fatalf("%s: got %d %s, want %d with an error containing %q", what, status, body, wantStatus, contains)
	}
}
