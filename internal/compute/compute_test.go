package compute_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/compute"
)

// TestFlow is the whole life of a job: discovery, environments,
// initializeCompute, an order, a signed start, every status in order, the
// result bytes, and the log.
func TestFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Discovery lists the compute routes, and each answers.
	st, b := e.do("GET", "/", nil)
	var d struct{ ServiceEndpoints map[string][2]string }
	if st != 200 || json.Unmarshal(b, &d) != nil {
		t.Fatalf("discovery: %d %s", st, b)
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
		if st, _ := e.do(want[0], want[1], nil); st == 404 || st == 405 || st >= 500 {
			t.Errorf("%s %s: %d", want[0], want[1], st)
		}
	}
	st, b = e.do("GET", "/api/services/computeEnvironments", nil)
	var envs []struct {
		ID              string
		MaxJobs         int
		CurrentJobs     int
		MaxJobDuration  int64
		PriceMin        float64
		ConsumerAddress string
	}
	if st != 200 || json.Unmarshal(b, &envs) != nil || len(envs) != len(testEnvironments) || envs[0].ID != "wasm" ||
		envs[0].MaxJobs != 2 || envs[1].MaxJobDuration != 1 || envs[0].ConsumerAddress != e.nd.Key.Address() {
		t.Fatalf("environments: %d %s", st, b)
	}

	did := e.publishDataset(nil)
	algo := e.publishAlgorithm("linecount")
	// initializeCompute quotes the order and signs a provider fee.
	st, b = e.sendJSON("POST", "/api/services/initializeCompute", map[string]any{
		"datasets":  []map[string]any{{"documentId": did, "serviceId": "compute-1"}},
		"algorithm": map[string]any{"documentId": algo}, "compute": map[string]any{"env": "wasm"},
		"consumerAddress": e.consumer.Address()})
	var init struct {
		Datasets []struct {
			Datatoken   string
			ValidOrder  any
			Price       string
			ProviderFee struct{ ProviderFeeAddress, ProviderData string }
		}
		Algorithm *struct{ Datatoken string }
	}
	if st != 200 || json.Unmarshal(b, &init) != nil || len(init.Datasets) != 1 || init.Datasets[0].Price != "2" ||
		init.Datasets[0].ValidOrder != false || init.Datasets[0].ProviderFee.ProviderFeeAddress != e.nd.Key.Address() || init.Algorithm == nil {
		t.Fatalf("initializeCompute: %d %s", st, b)
	}

	tx := e.pay(did, "compute-1", e.consumer, "2")
	j := e.start(e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": algo}))
	if j.Owner != e.consumer.Address() || j.DocumentID != did || j.StatusText != compute.StatusText(j.Status) {
		t.Fatalf("started job: %+v", j)
	}
	j = e.wait(e.consumer, j.JobID, compute.StatusFinished, compute.StatusAlgorithmError, compute.StatusDataFailed, compute.StatusAlgorithmFailed)
	if j.Status != compute.StatusFinished || j.DateFinished == nil {
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
	st, b = e.result(e.consumer, j.JobID, 0)
	if wantOut := fmt.Sprintf("%s/0 5\ntotal 5\n", did); st != 200 || string(b) != wantOut {
		t.Fatalf("result 0: %d %q, want %q", st, b, wantOut)
	}
	if j.Results[0].Filesize != int64(len(b)) {
		t.Fatalf("result size %d, read %d", j.Results[0].Filesize, len(b))
	}
	n := e.nextNonce()
	resp, err := http.Get(e.nd.URL() + "/api/services/computeResult?" + url.Values{"consumerAddress": {e.consumer.Address()}, "jobId": {j.JobID},
		"index": {"0"}, "nonce": {n}, "signature": {sign(t, e.consumer, e.consumer.Address()+j.JobID+"0", n)}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;filename=lines.txt;") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	st, b = e.result(e.consumer, j.JobID, 1)
	if st != 200 || string(b) != "counted 5 lines in 1 datasets\n" {
		t.Fatalf("log: %d %q", st, b)
	}
	st, b = e.result(e.consumer, j.JobID, 2)
	wantError(t, "result out of range", st, b, http.StatusNotFound, "no result 2")

	// The order was for this dataset: another dataset's order does not pay.
	did2 := e.publishDataset(nil)
	st, b = e.sendJSON("POST", "/api/services/compute", e.startReq(e.consumer, did2, tx, "wasm", map[string]any{"documentId": algo}))
	wantError(t, "order of another asset", st, b, http.StatusBadRequest, "is not for asset")
	// The nonce of a used request is spent.
	req := e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": algo})
	if st, b = e.sendJSON("POST", "/api/services/compute", req); st != 200 {
		t.Fatalf("second job: %d %s", st, b)
	}
	st, b = e.sendJSON("POST", "/api/services/compute", req)
	wantError(t, "replayed start", st, b, http.StatusBadRequest, "nonce")
	// The metrics count jobs by status.
	if st, b = e.do("GET", "/metrics", nil); st != 200 || !strings.Contains(string(b), `dds_compute_jobs{status="70"}`) {
		t.Fatalf("metrics: %d", st)
	}
}

// TestColumnStatistics runs a raw algorithm (fetched from a URL) with custom
// data on a dataset that allows raw algorithms.
func TestColumnStatistics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	did := e.publishDataset(nil)
	tx := e.pay(did, "compute-1", e.consumer, "2")
	j := e.start(e.startReq(e.consumer, did, tx, "", map[string]any{
		"meta": map[string]any{"url": e.files.URL + "/algo/colstats"}, "algocustomdata": map[string]any{"column": "temperature"}}))
	if j.Environment != "wasm" {
		t.Fatalf("default environment: %+v", j)
	}
	j = e.wait(e.consumer, j.JobID, compute.StatusFinished, compute.StatusAlgorithmError)
	if j.Status != compute.StatusFinished || len(j.Results) != 2 || j.Results[0].Filename != "stats.csv" {
		t.Fatalf("job: %+v", j)
	}
	st, b := e.result(e.consumer, j.JobID, 0)
	if want := "column,count,min,max,mean\ntemperature,4,-2,31,13.1875\n"; st != 200 || string(b) != want {
		t.Fatalf("stats: %d %q, want %q", st, b, want)
	}
}

// TestFailures: each way a job fails ends in its own status, with the log
// when the algorithm ran.
func TestFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	did := e.publishDataset(nil)
	tx := e.pay(did, "compute-1", e.consumer, "2")
	run := func(environment string, algorithm map[string]any, want int) job {
		t.Helper()
		j := e.start(e.startReq(e.consumer, did, tx, environment, algorithm))
		j = e.wait(e.consumer, j.JobID, want, compute.StatusFinished)
		if j.Status != want || j.Error == "" || j.DateFinished == nil || j.StatusText != compute.StatusText(want) {
			t.Fatalf("job: %+v, want status %d (seen %v)", j, want, e.rec.statuses(j.JobID))
		}
		return j
	}
	// The algorithm exits with an error: its log is the result.
	j := run("wasm", map[string]any{"documentId": e.publishAlgorithm("fail")}, compute.StatusAlgorithmError)
	if !strings.Contains(j.Error, "exited with code 3") || len(j.Results) != 1 || j.Results[0].Type != "algorithmLog" {
		t.Fatalf("failed job: %+v", j)
	}
	if got, want := e.rec.statuses(j.JobID), []int{1, 10, 20, 30, 40, 41}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if st, b := e.result(e.consumer, j.JobID, 0); st != 200 || string(b) != "starting\nthe model diverged\n" {
		t.Fatalf("log: %d %q", st, b)
	}
	// It never ends: the environment's maxJobDuration stops it.
	j = run("short", map[string]any{"documentId": e.publishAlgorithm("forever")}, compute.StatusTimeLimit)
	if st, b := e.result(e.consumer, j.JobID, 0); st != 200 || string(b) != "spinning\n" {
		t.Fatalf("log: %d %q", st, b)
	}
	// It writes more than the environment allows.
	run("tiny-output", map[string]any{"documentId": e.publishAlgorithm("linecount")}, compute.StatusOutputLimit)
	// The algorithm is not a module.
	j = run("wasm", map[string]any{"meta": map[string]any{"url": e.files.URL + "/notwasm"}}, compute.StatusAlgorithmFailed)
	if got, want := e.rec.statuses(j.JobID), []int{1, 10, 20, 32}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	// The algorithm cannot be fetched.
	run("wasm", map[string]any{"meta": map[string]any{"url": e.files.URL + "/algo/missing"}}, compute.StatusAlgorithmFailed)
	// The dataset's file is gone from its origin; the error does not name its URL.
	gone := e.publish("dataset", "compute", e.files.URL+"/secret-gone.csv", "0", map[string]any{"allowRawAlgorithm": true})
	gtx := e.pay(gone, "compute-1", e.consumer, "0")
	g := e.start(e.startReq(e.consumer, gone, gtx, "wasm", map[string]any{"documentId": e.publishAlgorithm("linecount")}))
	g = e.wait(e.consumer, g.JobID, compute.StatusDataFailed, compute.StatusFinished)
	if g.Status != compute.StatusDataFailed || strings.Contains(g.Error, "secret-gone") || strings.Contains(g.Error, "127.0.0.1") {
		t.Fatalf("data failure: %+v", g)
	}
}

// TestRefusals: what a start request must satisfy before a job exists.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	algo := e.publishAlgorithm("linecount")
	did := e.publishDataset(map[string]any{"allowRawAlgorithm": false,
		"publisherTrustedAlgorithms": []map[string]any{{"did": algo}}})
	tx := e.pay(did, "compute-1", e.consumer, "2")
	raw := map[string]any{"meta": map[string]any{"url": e.files.URL + "/algo/linecount"}}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		want   string
	}{
		{"raw algorithm not allowed", e.startReq(e.consumer, did, tx, "wasm", raw), 400, "raw algorithm"},
		{"untrusted algorithm", e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": e.publishAlgorithm("fail")}), 400, "not trusted"},
		{"not an algorithm", e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": did}), 400, "not an algorithm"},
		{"unknown environment", e.startReq(e.consumer, did, tx, "gpu", map[string]any{"documentId": algo}), 400, "does not exist"},
		{"unknown order", e.startReq(e.consumer, did, "no-such-order", "wasm", map[string]any{"documentId": algo}), 400, "not found"},
		{"someone else's order", e.startReq(e.other, did, tx, "wasm", map[string]any{"documentId": algo}), 400, "not made by consumer"},
		{"no algorithm", e.startReq(e.consumer, did, tx, "wasm", map[string]any{}), 400, "algorithm.documentId or algorithm.meta"},
	} {
		st, b := e.sendJSON("POST", "/api/services/compute", tc.body)
		wantError(t, tc.name, st, b, tc.status, tc.want)
	}
	// An order of an access service does not pay for computing.
	access := e.publish("dataset", "access", e.files.URL+"/data.csv", "0", nil)
	atx := e.pay(access, "access-1", e.consumer, "0")
	body := e.startReq(e.consumer, access, atx, "wasm", map[string]any{"documentId": algo})
	body["dataset"].(map[string]any)["serviceId"] = "access-1"
	st, b := e.sendJSON("POST", "/api/services/compute", body)
	wantError(t, "access service", st, b, 400, "not a compute service")
	// Underpaid.
	cheap := e.publishDataset(nil)
	ctx := e.pay(cheap, "compute-1", e.consumer, "1")
	st, b = e.sendJSON("POST", "/api/services/compute", e.startReq(e.consumer, cheap, ctx, "wasm", map[string]any{"documentId": algo}))
	wantError(t, "underpaid", st, b, http.StatusPaymentRequired, "not fully paid")
	// A signature by someone else.
	forged := e.startReq(e.other, did, tx, "wasm", map[string]any{"documentId": algo})
	forged["consumerAddress"] = e.consumer.Address()
	st, b = e.sendJSON("POST", "/api/services/compute", forged)
	wantError(t, "forged", st, b, http.StatusUnauthorized, "Invalid signature")
	// Nothing was queued.
	st, b = e.get("/api/services/compute", url.Values{"consumerAddress": {e.consumer.Address()}})
	if st != 200 || string(b) != "[]\n" {
		t.Fatalf("jobs after refusals: %d %s", st, b)
	}
}

// TestPayments: a priced environment's fee for maxJobDuration must be paid
// on top of the dataset's price; a priced algorithm needs its own order;
// additional datasets need theirs and are all mounted.
func TestPayments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	did := e.publishDataset(nil)
	algo := e.publishAlgorithm("linecount")
	// 90s in a 0.5/minute environment: 2 started minutes, 1 token.
	st, b := e.sendJSON("POST", "/api/services/initializeCompute", map[string]any{
		"datasets": []map[string]any{{"documentId": did}}, "compute": map[string]any{"env": "priced"}, "consumerAddress": e.consumer.Address()})
	var init struct {
		Datasets []struct {
			Price       string
			ProviderFee struct{ ProviderFeeAmount string }
		}
	}
	if st != 200 || json.Unmarshal(b, &init) != nil || init.Datasets[0].Price != "3" || init.Datasets[0].ProviderFee.ProviderFeeAmount != "1000000000" {
		t.Fatalf("initializeCompute: %d %s", st, b)
	}
	// ocean.js's initializeComputeV1 form: 30 seconds, 1 started minute.
	st, b = e.sendJSON("POST", "/api/services/initializeCompute", map[string]any{
		"datasets": []map[string]any{{"documentId": did}}, "environment": "priced", "payment": map[string]any{"chainId": 8996, "maxJobDuration": 30},
		"consumerAddress": e.consumer.Address()})
	if st != 200 || json.Unmarshal(b, &init) != nil || init.Datasets[0].Price != "2.5" {
		t.Fatalf("initializeCompute (ocean.js form): %d %s", st, b)
	}
	tx := e.pay(did, "compute-1", e.consumer, "2")
	st, b = e.sendJSON("POST", "/api/services/compute", e.startReq(e.consumer, did, tx, "priced", map[string]any{"documentId": algo}))
	wantError(t, "environment fee unpaid", st, b, http.StatusPaymentRequired, "fee")
	e.pay(did, "compute-1", e.consumer, "1")
	j := e.start(e.startReq(e.consumer, did, tx, "priced", map[string]any{"documentId": algo}))
	e.wait(e.consumer, j.JobID, compute.StatusFinished)

	// A priced algorithm.
	paidAlgo := e.publish("algorithm", "access", e.files.URL+"/algo/linecount", "0.25", nil)
	st, b = e.sendJSON("POST", "/api/services/compute", e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": paidAlgo}))
	wantError(t, "algorithm unpaid", st, b, http.StatusBadRequest, "algorithm.transferTxId is required")
	atx := e.pay(paidAlgo, "access-1", e.consumer, "0.25")
	j = e.start(e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": paidAlgo, "transferTxId": atx}))
	e.wait(e.consumer, j.JobID, compute.StatusFinished)

	// Additional datasets, each with its order.
	more := e.publishDataset(nil)
	req := e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": algo})
	req["additionalDatasets"] = []map[string]any{{"documentId": more, "serviceId": "compute-1", "transferTxId": tx}}
	st, b = e.sendJSON("POST", "/api/services/compute", req)
	wantError(t, "additional dataset unpaid", st, b, http.StatusBadRequest, "is not for asset")
	mtx := e.pay(more, "compute-1", e.consumer, "2")
	req = e.startReq(e.consumer, did, tx, "wasm", map[string]any{"documentId": algo})
	req["additionalDatasets"] = []map[string]any{{"documentId": more, "serviceId": "compute-1", "transferTxId": mtx}}
	j = e.start(req)
	j = e.wait(e.consumer, j.JobID, compute.StatusFinished)
	st, b = e.result(e.consumer, j.JobID, 0)
	if want := fmt.Sprintf("%s/0 5\n%s/0 5\ntotal 10\n", did, more); st != 200 || string(b) != want {
		t.Fatalf("two datasets: %d %q, want %q", st, b, want)
	}
}
