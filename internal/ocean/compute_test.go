package ocean_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/ocean"
)

// TestComputeFlow is the whole life of a job: discovery, environments,
// initializeCompute, an order, a signed start, every status in order, the
// result bytes, and the log.
func TestComputeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	// Discovery lists the compute routes, and each answers.
	d, err := e.c.OceanDiscovery(t.Context())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	for name, want := range map[string][2]string{
		"computeEnvironments": {"GET", "/api/services/computeEnvironments"}, "initializeCompute": {"POST", "/api/services/initializeCompute"},
		"computeStart": {"POST", "/api/services/compute"}, "computeStatus": {"GET", "/api/services/compute"},
		"computeStop": {"PUT", "/api/services/compute"}, "computeDelete": {"DELETE", "/api/services/compute"},
		"computeResult": {"GET", "/api/services/computeResult"},
	} {
		if d.ServiceEndpoints[name] != want {
			t.Errorf("serviceEndpoints[%s] = %v, want %v", name, d.ServiceEndpoints[name], want)
		}
		if st, _, _ := e.do(want[0], want[1], nil); st == 404 || st == 405 || st >= 500 {
			t.Errorf("%s %s: %d", want[0], want[1], st)
		}
	}
	envs, err := e.c.ComputeEnvironments(t.Context())
	if err != nil || len(envs) != len(testEnvironments) || envs[0].ID != "wasm" ||
		envs[0].MaxJobs != 2 || envs[1].MaxJobDuration != 1 || envs[0].ConsumerAddress != e.nd.Key.Address() {
		t.Fatalf("environments: %+v %v", envs, err)
	}

	did := e.publishDataset(nil)
	algo := e.publishAlgorithm("linecount")
	// initializeCompute quotes the order and signs a provider fee.
	alg := published(algo)
	init, err := e.c.InitializeCompute(t.Context(), api.ComputeInitialize{
		Datasets: []api.ComputeDataset{{DocumentID: did, ServiceID: "compute-1"}}, Algorithm: &alg,
		Compute: &api.ComputeInitializeEnv{Env: "wasm"}, ConsumerAddress: e.consumer.Address()})
	if err != nil || len(init.Datasets) != 1 || init.Datasets[0].Price != "2" ||
		init.Datasets[0].ValidOrder != false || init.Datasets[0].ProviderFee.ProviderFeeAddress != e.nd.Key.Address() || init.Algorithm == nil {
		t.Fatalf("initializeCompute: %+v %v", init, err)
	}

	tx := e.pay(did, "compute-1", e.consumer, "2")
	j := e.start(e.startReq(did, tx, "wasm", published(algo)))
	if j.Owner != e.consumer.Address() || j.DocumentID != did || j.StatusText != ocean.StatusText(j.Status) {
		t.Fatalf("started job: %+v", j)
	}
	j = e.wait(e.consumer, j.JobID, ocean.StatusFinished, ocean.StatusAlgorithmError, ocean.StatusDataFailed, ocean.StatusAlgorithmFailed)
	if j.Status != ocean.StatusFinished || j.DateFinished == nil {
		t.Fatalf("job: %+v", j)
	}
	want := []int{1, 10, 20, 30, 40, 50, 60, 70}
	if got := e.rec.statuses(j.JobID); !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if len(j.Results) != 2 || j.Results[0].Filename != "lines.txt" || j.Results[0].Type != "output" ||
		j.Results[1].Filename != "algorithm.log" || j.Results[1].Type != "algorithmLog" {
		t.Fatalf("results: %+v", j.Results)
	}
	b, err := e.result(e.consumer, j.JobID, 0)
	if wantOut := fmt.Sprintf("%s/0 5\ntotal 5\n", did); err != nil || string(b) != wantOut {
		t.Fatalf("result 0: %v %q, want %q", err, b, wantOut)
	}
	if j.Results[0].Filesize != int64(len(b)) {
		t.Fatalf("result size %d, read %d", j.Results[0].Filesize, len(b))
	}
	n := client.NextNonce()
	_, _, hdr := e.do("GET", "/api/services/computeResult?"+url.Values{"consumerAddress": {e.consumer.Address()}, "jobId": {j.JobID},
		"index": {"0"}, "nonce": {n}, "signature": {sign(t, e.consumer, e.consumer.Address()+j.JobID+"0", n)}}.Encode(), nil)
	if cd := hdr.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;filename=lines.txt;") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	b, err = e.result(e.consumer, j.JobID, 1)
	if err != nil || string(b) != "counted 5 lines in 1 datasets\n" {
		t.Fatalf("log: %v %q", err, b)
	}
	_, err = e.result(e.consumer, j.JobID, 2)
	wantErr(t, "result out of range", err, http.StatusNotFound, "no result 2")

	// The order was for this dataset: another dataset's order does not pay.
	did2 := e.publishDataset(nil)
	err = e.tryStart(e.consumer, e.startReq(did2, tx, "wasm", published(algo)))
	wantErr(t, "order of another asset", err, http.StatusBadRequest, "is not for asset")
	// The nonce of a used request is spent.
	req := e.startReq(did, tx, "wasm", published(algo))
	req.Nonce = client.NextNonce()
	e.start(req)
	wantErr(t, "replayed start", e.tryStart(e.consumer, req), http.StatusBadRequest, "nonce")
	// The metrics count jobs by status.
	if st, b, _ := e.do("GET", "/metrics", nil, "Authorization", "Bearer "+e.nd.AdminToken); st != 200 || !strings.Contains(string(b), `dds_compute_jobs{status="70"}`) {
		t.Fatalf("metrics: %d", st)
	}
}

// TestColumnStatistics runs a raw algorithm (fetched from a URL) with custom
// data on a dataset that allows raw algorithms.
func TestColumnStatistics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	j := e.start(e.startReq(did, tx, "", api.ComputeAlgorithm{
		Meta: &api.ComputeAlgorithmMeta{URL: e.files.URL + "/algo/colstats"}, AlgoCustomData: json.RawMessage(`{"column":"temperature"}`)}))
	if j.Environment != "wasm" {
		t.Fatalf("default environment: %+v", j)
	}
	j = e.wait(e.consumer, j.JobID, ocean.StatusFinished, ocean.StatusAlgorithmError)
	if j.Status != ocean.StatusFinished || len(j.Results) != 2 || j.Results[0].Filename != "stats.csv" {
		t.Fatalf("job: %+v", j)
	}
	b, err := e.result(e.consumer, j.JobID, 0)
	if want := "column,count,min,max,mean\ntemperature,4,-2,31,13.1875\n"; err != nil || string(b) != want {
		t.Fatalf("stats: %v %q, want %q", err, b, want)
	}
}

// TestFailures: each way a job fails ends in its own status, with the log
// when the algorithm ran.
func TestFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	run := func(environment string, algorithm api.ComputeAlgorithm, want int) api.ComputeJob {
		t.Helper()
		j := e.start(e.startReq(did, tx, environment, algorithm))
		j = e.wait(e.consumer, j.JobID, want, ocean.StatusFinished)
		if j.Status != want || j.Error == "" || j.DateFinished == nil || j.StatusText != ocean.StatusText(want) {
			t.Fatalf("job: %+v, want status %d (seen %v)", j, want, e.rec.statuses(j.JobID))
		}
		return j
	}
	// The algorithm exits with an error: its log is the result.
	j := run("wasm", published(e.publishAlgorithm("fail")), ocean.StatusAlgorithmError)
	if !strings.Contains(j.Error, "exited with code 3") || len(j.Results) != 1 || j.Results[0].Type != "algorithmLog" {
		t.Fatalf("failed job: %+v", j)
	}
	if got, want := e.rec.statuses(j.JobID), []int{1, 10, 20, 30, 40, 41}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if b, err := e.result(e.consumer, j.JobID, 0); err != nil || string(b) != "starting\nthe model diverged\n" {
		t.Fatalf("log: %v %q", err, b)
	}
	// It never ends: the environment's maxJobDuration stops it.
	j = run("short", published(e.publishAlgorithm("forever")), ocean.StatusTimeLimit)
	if b, err := e.result(e.consumer, j.JobID, 0); err != nil || string(b) != "spinning\n" {
		t.Fatalf("log: %v %q", err, b)
	}
	// It writes more than the environment allows.
	run("tiny-output", published(e.publishAlgorithm("linecount")), ocean.StatusOutputLimit)
	// The algorithm is not a module.
	j = run("wasm", api.ComputeAlgorithm{Meta: &api.ComputeAlgorithmMeta{URL: e.files.URL + "/notwasm"}}, ocean.StatusAlgorithmFailed)
	if got, want := e.rec.statuses(j.JobID), []int{1, 10, 20, 32}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	// The algorithm cannot be fetched.
	run("wasm", api.ComputeAlgorithm{Meta: &api.ComputeAlgorithmMeta{URL: e.files.URL + "/algo/missing"}}, ocean.StatusAlgorithmFailed)
	// The dataset's file is gone from its origin; the error does not name its URL.
	gone := e.publishAsset("dataset", "compute", e.files.URL+"/secret-gone.csv", "0", &api.ComputeOptions{AllowRawAlgorithm: true})
	gtx := e.pay(gone, "compute-1", e.consumer, "0")
	g := e.start(e.startReq(gone, gtx, "wasm", published(e.publishAlgorithm("linecount"))))
	g = e.wait(e.consumer, g.JobID, ocean.StatusDataFailed, ocean.StatusFinished)
	if g.Status != ocean.StatusDataFailed || strings.Contains(g.Error, "secret-gone") || strings.Contains(g.Error, "127.0.0.1") {
		t.Fatalf("data failure: %+v", g)
	}
}

// TestRefusals: what a start request must satisfy before a job exists.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	algo := e.publishAlgorithm("linecount")
	did := e.publishDataset(&api.ComputeOptions{PublisherTrustedAlgorithms: []api.TrustedAlgorithm{{DID: algo}}})
	tx := e.pay(did, "compute-1", e.consumer, "2")
	raw := api.ComputeAlgorithm{Meta: &api.ComputeAlgorithmMeta{URL: e.files.URL + "/algo/linecount"}}
	for _, tc := range []struct {
		name   string
		signer client.Signer
		req    api.ComputeStart
		status int
		want   string
	}{
		{"raw algorithm not allowed", e.consumer, e.startReq(did, tx, "wasm", raw), 400, "raw algorithm"},
		{"untrusted algorithm", e.consumer, e.startReq(did, tx, "wasm", published(e.publishAlgorithm("fail"))), 400, "not trusted"},
		{"not an algorithm", e.consumer, e.startReq(did, tx, "wasm", published(did)), 400, "not an algorithm"},
		{"unknown environment", e.consumer, e.startReq(did, tx, "gpu", published(algo)), 400, "does not exist"},
		{"unknown order", e.consumer, e.startReq(did, "no-such-order", "wasm", published(algo)), 400, "not found"},
		{"someone else's order", e.other, e.startReq(did, tx, "wasm", published(algo)), 400, "not made by consumer"},
		{"no algorithm", e.consumer, e.startReq(did, tx, "wasm", api.ComputeAlgorithm{}), 400, "algorithm.documentId or algorithm.meta"},
	} {
		wantErr(t, tc.name, e.tryStart(tc.signer, tc.req), tc.status, tc.want)
	}
	// An order of an access service does not pay for computing.
	access := e.publishAsset("dataset", "access", e.files.URL+"/dataset.csv", "0", nil)
	atx := e.pay(access, "access-1", e.consumer, "0")
	req := e.startReq(access, atx, "wasm", published(algo))
	req.Dataset.ServiceID = "access-1"
	wantErr(t, "access service", e.tryStart(e.consumer, req), 400, "not a compute service")
	// Underpaid.
	cheap := e.publishDataset(nil)
	ctx := e.pay(cheap, "compute-1", e.consumer, "1")
	err := e.tryStart(e.consumer, e.startReq(cheap, ctx, "wasm", published(algo)))
	wantErr(t, "underpaid", err, http.StatusPaymentRequired, "not fully paid")
	// A signature by someone else.
	err = e.tryStart(forger{e.other, e.consumer.Address()}, e.startReq(did, tx, "wasm", published(algo)))
	wantErr(t, "forged", err, http.StatusUnauthorized, "Invalid signature")
	// Nothing was queued.
	if jobs, err := e.c.ComputeJobs(t.Context(), e.consumer, ""); err != nil || jobs == nil || len(jobs) != 0 {
		t.Fatalf("jobs after refusals: %+v %v", jobs, err)
	}
}

// TestPayments: a priced environment's fee for maxJobDuration must be paid
// on top of the dataset's price; a priced algorithm needs its own order;
// additional datasets need theirs and are all mounted.
func TestPayments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did := e.publishDataset(nil)
	algo := e.publishAlgorithm("linecount")
	// 90s in a 0.5/minute environment: 2 started minutes, 1 token.
	init, err := e.c.InitializeCompute(t.Context(), api.ComputeInitialize{
		Datasets: []api.ComputeDataset{{DocumentID: did}}, Compute: &api.ComputeInitializeEnv{Env: "priced"}, ConsumerAddress: e.consumer.Address()})
	if err != nil || init.Datasets[0].Price != "3" || init.Datasets[0].ProviderFee.ProviderFeeAmount != "1000000000" {
		t.Fatalf("initializeCompute: %+v %v", init, err)
	}
	// ocean.js's initializeComputeV1 form: 30 seconds, 1 started minute.
	init, err = e.c.InitializeCompute(t.Context(), api.ComputeInitialize{
		Datasets: []api.ComputeDataset{{DocumentID: did}}, Environment: "priced", Payment: &api.ComputeInitializePayment{ChainID: 8996, MaxJobDuration: 30},
		ConsumerAddress: e.consumer.Address()})
	if err != nil || init.Datasets[0].Price != "2.5" {
		t.Fatalf("initializeCompute (ocean.js form): %+v %v", init, err)
	}
	tx := e.pay(did, "compute-1", e.consumer, "2")
	err = e.tryStart(e.consumer, e.startReq(did, tx, "priced", published(algo)))
	wantErr(t, "environment fee unpaid", err, http.StatusPaymentRequired, "fee")
	e.pay(did, "compute-1", e.consumer, "1")
	j := e.start(e.startReq(did, tx, "priced", published(algo)))
	e.wait(e.consumer, j.JobID, ocean.StatusFinished)

	// A priced algorithm.
	paidAlgo := e.publishAsset("algorithm", "access", e.files.URL+"/algo/linecount", "0.25", nil)
	err = e.tryStart(e.consumer, e.startReq(did, tx, "wasm", published(paidAlgo)))
	wantErr(t, "algorithm unpaid", err, http.StatusBadRequest, "algorithm.transferTxId is required")
	atx := e.pay(paidAlgo, "access-1", e.consumer, "0.25")
	j = e.start(e.startReq(did, tx, "wasm", api.ComputeAlgorithm{DocumentID: paidAlgo, TransferTxID: atx}))
	e.wait(e.consumer, j.JobID, ocean.StatusFinished)

	// Additional datasets, each with its order.
	more := e.publishDataset(nil)
	req := e.startReq(did, tx, "wasm", published(algo))
	req.AdditionalDatasets = []api.ComputeDataset{{DocumentID: more, ServiceID: "compute-1", TransferTxID: tx}}
	wantErr(t, "additional dataset unpaid", e.tryStart(e.consumer, req), http.StatusBadRequest, "is not for asset")
	mtx := e.pay(more, "compute-1", e.consumer, "2")
	req = e.startReq(did, tx, "wasm", published(algo))
	req.AdditionalDatasets = []api.ComputeDataset{{DocumentID: more, ServiceID: "compute-1", TransferTxID: mtx}}
	j = e.start(req)
	j = e.wait(e.consumer, j.JobID, ocean.StatusFinished)
	b, err := e.result(e.consumer, j.JobID, 0)
	if want := fmt.Sprintf("%s/0 5\n%s/0 5\ntotal 10\n", did, more); err != nil || string(b) != want {
		t.Fatalf("two datasets: %v %q, want %q", err, b, want)
	}
}
