package ocean_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ocean"
)

func blobUsage(t *testing.T, e *env) int64 {
	t.Helper()
	objs, _, err := e.nd.Node.Blobs.Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestStopAndQueue: a one-slot environment runs one job at a time, the
// next waits as warming up; stopping the first lets the second run.
func TestStopAndQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	forever := published(e.publishAlgorithm("forever"))
	first := e.start(e.startReq(did, tx, "single", forever))
	e.wait(e.consumer, first.JobID, ocean.StatusRunning)
	second := e.start(e.startReq(did, tx, "single", forever))
	envs, err := e.c.ComputeEnvironments(t.Context())
	i := slices.IndexFunc(envs, func(x api.ComputeEnvironment) bool { return x.ID == "single" })
	if err != nil || i < 0 || envs[i].CurrentJobs != 1 || envs[i].QueuedJobs != 1 {
		t.Fatalf("environments: %+v %v", envs, err)
	}
	time.Sleep(100 * time.Millisecond)
	if j := e.status(e.consumer, second.JobID); j.Status != ocean.StatusWarmingUp {
		t.Fatalf("queued job: %+v", j)
	}
	// Stop as ocean.js does: the query string, consumerAddress + jobId signed.
	n := client.NextNonce()
	st, b, _ := e.do("PUT", "/api/services/compute?"+url.Values{"consumerAddress": {e.consumer.Address()}, "jobId": {first.JobID},
		"nonce": {n}, "signature": {sign(t, e.consumer, e.consumer.Address()+first.JobID, n)}}.Encode(), nil)
	var jobs []api.ComputeJob
	if st != 200 || json.Unmarshal(b, &jobs) != nil || len(jobs) != 1 || jobs[0].Status != ocean.StatusStopped || jobs[0].StatusText != "Job stopped" {
		t.Fatalf("stop: %d %s", st, b)
	}
	e.wait(e.consumer, second.JobID, ocean.StatusRunning)
	if got := e.rec.statuses(first.JobID); !slices.Equal(got, []int{1, 10, 20, 30, 40, 7}) {
		t.Fatalf("stopped job's statuses: %v", got)
	}
	// A stopped job stays stopped.
	time.Sleep(100 * time.Millisecond)
	if j := e.status(e.consumer, first.JobID); j.Status != ocean.StatusStopped || len(j.Results) != 0 {
		t.Fatalf("stopped job: %+v", j)
	}
	// Stopping a queued job (by document only: every job of the owner's on it).
	third := e.start(e.startReq(did, tx, "single", forever))
	if _, err := e.c.ComputeStop(t.Context(), e.consumer, "", did); err != nil {
		t.Fatalf("stop by document: %v", err)
	}
	for _, id := range []string{second.JobID, third.JobID} {
		if j := e.status(e.consumer, id); j.Status != ocean.StatusStopped {
			t.Fatalf("job %s: %+v", id, j)
		}
	}
	if got := e.rec.statuses(third.JobID); !slices.Equal(got, []int{1, 7}) {
		t.Fatalf("queued then stopped: %v", got)
	}
}

// TestDeleteAndRetention: delete removes a job and its results; a finished
// job is deleted by the sweep once its retention has passed.
func TestDeleteAndRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	algo := published(e.publishAlgorithm("linecount"))
	a := e.start(e.startReq(did, tx, "wasm", algo))
	a = e.wait(e.consumer, a.JobID, ocean.StatusFinished)
	if blobUsage(t, e) != 2 {
		t.Fatalf("blobs after one job: %d", blobUsage(t, e))
	}
	jobs, err := e.c.ComputeDelete(t.Context(), e.consumer, a.JobID, did)
	if err != nil || len(jobs) != 1 || jobs[0].Status != ocean.StatusDeleted {
		t.Fatalf("delete: %+v %v", jobs, err)
	}
	if j := e.status(e.consumer, a.JobID); j != nil {
		t.Fatalf("deleted job still listed: %+v", j)
	}
	_, err = e.result(e.consumer, a.JobID, 0)
	wantErr(t, "result of a deleted job", err, http.StatusNotFound, "no result")
	if n := blobUsage(t, e); n != 0 {
		t.Fatalf("blobs after delete: %d", n)
	}
	_, err = e.c.ComputeDelete(t.Context(), e.consumer, a.JobID, did)
	wantErr(t, "delete twice", err, http.StatusNotFound, "no such compute job")

	// Deleting a running job stops it first.
	r := e.start(e.startReq(did, tx, "wasm", published(e.publishAlgorithm("forever"))))
	e.wait(e.consumer, r.JobID, ocean.StatusRunning)
	if _, err := e.c.ComputeDelete(t.Context(), e.consumer, r.JobID, ""); err != nil {
		t.Fatalf("delete running: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if j := e.status(e.consumer, r.JobID); j != nil {
		t.Fatalf("deleted running job is back: %+v", j)
	}

	// Retention.
	c := e.start(e.startReq(did, tx, "wasm", algo))
	c = e.wait(e.consumer, c.JobID, ocean.StatusFinished)
	e.net.Clock.Advance(23 * time.Hour)
	if _, err := e.nd.Node.Ocean.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.result(e.consumer, c.JobID, 0); err != nil {
		t.Fatalf("result within retention: %v", err)
	}
	e.net.Clock.Advance(2 * time.Hour)
	if n, err := e.nd.Node.Ocean.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if j := e.status(e.consumer, c.JobID); j != nil {
		t.Fatalf("expired job still listed: %+v", j)
	}
	if n := blobUsage(t, e); n != 0 {
		t.Fatalf("blobs after expiry: %d", n)
	}
}

// TestEscape: an algorithm that tries to leave its sandbox reaches nothing
// outside its mounts, and the links it plants are not published.
func TestEscape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	j := e.start(e.startReq(did, tx, "wasm", published(e.publishAlgorithm("escape"))))
	j = e.wait(e.consumer, j.JobID, ocean.StatusFinished, ocean.StatusAlgorithmError)
	if j.Status != ocean.StatusFinished {
		t.Fatalf("job: %+v", j)
	}
	var names []string
	for _, r := range j.Results {
		names = append(names, r.Filename)
	}
	if !slices.Equal(names, []string{"report.txt", "algorithm.log"}) {
		t.Fatalf("results %v: links out of the sandbox must not be published", names)
	}
	b, err := e.result(e.consumer, j.JobID, 0)
	report := string(b)
	if err != nil || strings.Count(report, ": blocked\n") != 8 || strings.Contains(report, "ESCAPED") {
		t.Fatalf("report: %v\n%s", err, report)
	}
}

// TestRestart: a job running when the node stops is failed (44) when it
// starts again; a job that was waiting runs; results survive.
func TestRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	done := e.start(e.startReq(did, tx, "wasm", published(e.publishAlgorithm("linecount"))))
	done = e.wait(e.consumer, done.JobID, ocean.StatusFinished)
	running := e.start(e.startReq(did, tx, "single", published(e.publishAlgorithm("forever"))))
	e.wait(e.consumer, running.JobID, ocean.StatusRunning)
	queued := e.start(e.startReq(did, tx, "single", published(e.publishAlgorithm("linecount"))))

	e.nd.Restart(t)

	j := e.wait(e.consumer, running.JobID, ocean.StatusInterrupted)
	if j.DateFinished == nil || !strings.Contains(j.Error, "node stopped") {
		t.Fatalf("interrupted job: %+v", j)
	}
	q := e.wait(e.consumer, queued.JobID, ocean.StatusFinished)
	if len(q.Results) != 2 {
		t.Fatalf("queued job after restart: %+v", q)
	}
	b, err := e.result(e.consumer, done.JobID, 0)
	if err != nil || !strings.HasSuffix(string(b), "total 5\n") {
		t.Fatalf("result after restart: %v %q", err, b)
	}
}

// TestOwnerChecks: every endpoint shows, stops, deletes and serves a job
// only to its owner.
func TestOwnerChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	j := e.start(e.startReq(did, tx, "wasm", published(e.publishAlgorithm("linecount"))))
	j = e.wait(e.consumer, j.JobID, ocean.StatusFinished)
	other := e.other.Address()

	// Status: by job id or document, someone else sees nothing.
	for _, q := range [][2]string{{j.JobID, ""}, {j.JobID, did}} {
		if jobs, err := e.c.ComputeStatus(t.Context(), other, q[0], q[1]); err != nil || jobs == nil || len(jobs) != 0 {
			t.Fatalf("status %v for another consumer: %+v %v", q, jobs, err)
		}
	}
	for _, d := range []string{did, ""} {
		if jobs, err := e.c.ComputeJobs(t.Context(), e.other, d); err != nil || jobs == nil || len(jobs) != 0 {
			t.Fatalf("jobs on %q of another consumer: %+v %v", d, jobs, err)
		}
	}
	// The owner lists its jobs signed; unsigned or forged, nobody does.
	if jobs, err := e.c.ComputeJobs(t.Context(), e.consumer, did); err != nil || len(jobs) != 1 || jobs[0].JobID != j.JobID {
		t.Fatalf("the owner's jobs: %+v %v", jobs, err)
	}
	st, b := e.get("/api/services/compute", url.Values{"consumerAddress": {e.consumer.Address()}})
	wantError(t, "an unsigned list by address", st, b, 400, "signature is required")
	st, b = e.get("/api/services/compute", url.Values{"consumerAddress": {e.consumer.Address()}, "documentId": {did}})
	wantError(t, "an unsigned list by address and document", st, b, 400, "signature is required")
	_, err := e.c.ComputeJobs(t.Context(), forger{e.other, e.consumer.Address()}, "")
	wantErr(t, "a forged list", err, http.StatusUnauthorized, "Invalid signature")
	st, b = e.get("/api/services/compute", url.Values{"jobId": {j.JobID}})
	wantError(t, "status without consumerAddress", st, b, 400, "consumerAddress is required")
	// Stop and delete signed by someone else, for their own address: not found.
	for _, end := range []struct {
		m    string
		call func(context.Context, client.Signer, string, string) ([]api.ComputeJob, error)
	}{{"PUT", e.c.ComputeStop}, {"DELETE", e.c.ComputeDelete}} {
		m := end.m
		_, err := end.call(t.Context(), e.other, j.JobID, did)
		wantErr(t, m+" by another consumer", err, http.StatusNotFound, "no such compute job")
		// Or claiming the owner's address: the signature does not match.
		_, err = end.call(t.Context(), forger{e.other, e.consumer.Address()}, j.JobID, did)
		wantErr(t, m+" forged", err, http.StatusUnauthorized, "Invalid signature")
		// Unsigned.
		st, b = e.sendJSON(m, "/api/services/compute", map[string]string{"consumerAddress": e.consumer.Address(), "jobId": j.JobID,
			"documentId": did, "nonce": client.NextNonce()})
		wantError(t, m+" unsigned", st, b, http.StatusBadRequest, "signature")
	}
	// ocean.js's stop signs consumerAddress + jobId without the nonce: that
	// form stops one named job of the signer's, nothing else.
	nonceless := func(k *identity.Key, owner, jobID, did string) (int, []byte) {
		st, b, _ := e.do("PUT", "/api/services/compute?"+url.Values{"consumerAddress": {owner}, "jobId": {jobID}, "documentId": {did},
			"nonce": {client.NextNonce()}, "signature": {sign(t, k, owner+jobID+did, "")}}.Encode(), nil)
		return st, b
	}
	st, b = nonceless(e.other, e.consumer.Address(), j.JobID, "")
	wantError(t, "nonce-less stop by another", st, b, http.StatusUnauthorized, "Invalid signature")
	st, b = nonceless(e.consumer, e.consumer.Address(), "", did)
	wantError(t, "nonce-less stop by document", st, b, http.StatusUnauthorized, "Invalid signature")
	if st, b = nonceless(e.consumer, e.consumer.Address(), j.JobID, ""); st != 200 {
		t.Fatalf("ocean.js stop form: %d %s", st, b)
	}
	// Results.
	_, err = e.result(e.other, j.JobID, 0)
	wantErr(t, "result for another consumer", err, http.StatusNotFound, "no result")
	n := client.NextNonce()
	st, b = e.get("/api/services/computeResult", url.Values{"consumerAddress": {e.consumer.Address()}, "jobId": {j.JobID}, "index": {"0"},
		"nonce": {n}, "signature": {sign(t, e.other, e.consumer.Address()+j.JobID+"0", n)}})
	wantError(t, "forged result request", st, b, http.StatusUnauthorized, "Invalid signature")
	// The signature covers the index.
	n = client.NextNonce()
	st, b = e.get("/api/services/computeResult", url.Values{"consumerAddress": {e.consumer.Address()}, "jobId": {j.JobID}, "index": {"1"},
		"nonce": {n}, "signature": {sign(t, e.consumer, e.consumer.Address()+j.JobID+"0", n)}})
	wantError(t, "signature for another index", st, b, http.StatusUnauthorized, "Invalid signature")
	// Nothing above touched the job.
	if got := e.status(e.consumer, j.JobID); got == nil || got.Status != ocean.StatusFinished {
		t.Fatalf("job after others' attempts: %+v", got)
	}
	if _, err := e.result(e.consumer, j.JobID, 0); err != nil {
		t.Fatalf("owner's result: %v", err)
	}
}

// TestRestartWithoutEnvironment: jobs waiting for an environment the node
// no longer offers fail when it starts, instead of waiting forever.
func TestRestartWithoutEnvironment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback)
	did, tx := e.paidDataset()
	forever := published(e.publishAlgorithm("forever"))
	running := e.start(e.startReq(did, tx, "single", forever))
	e.wait(e.consumer, running.JobID, ocean.StatusRunning)
	queued := e.start(e.startReq(did, tx, "single", forever))

	e.nd.Config.Ocean.Compute.Environments = slices.DeleteFunc(slices.Clone(testEnvironments), func(x ocean.Environment) bool { return x.ID == "single" })
	e.nd.Restart(t)

	// The process that takes the compute lease fails what was running.
	if j := e.wait(e.consumer, running.JobID, ocean.StatusInterrupted); !strings.Contains(j.Error, "node stopped") {
		t.Fatalf("running job: %+v", j)
	}
	if j := e.wait(e.consumer, queued.JobID, ocean.StatusInterrupted); !strings.Contains(j.Error, "no longer offered") {
		t.Fatalf("queued job: %+v", j)
	}
}
