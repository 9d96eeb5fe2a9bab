package persist_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func addJobs(t *testing.T, s ocean.JobStore, env string, n int, at time.Time) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-job%02d", env, i)
		// All at one time: submission order decides.
		err := s.AddJob(context.Background(), ocean.Job{ID: id, Owner: "0xowner", DID: "did:op:d",
			Environment: env, Spec: []byte(`{"n":` + fmt.Sprint(i) + `}`), Status: ocean.StatusWarmingUp, Created: at})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestComputeQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.JobStore = persist.NewCompute(db)
		t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		// Submitted in reverse id order: the queue is by submission.
		for i := 2; i >= 0; i-- {
			err := s.AddJob(ctx, ocean.Job{ID: fmt.Sprintf("j%d", i), Owner: "0xowner", DID: "did:op:d",
				Environment: "e", Spec: []byte(`{}`), Status: ocean.StatusWarmingUp, Created: t0})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.Waiting(ctx, "e"); err != nil || n != 3 {
			t.Fatalf("Waiting = %d, %v", n, err)
		}
		if _, ok, err := s.Claim(ctx, "other"); err != nil || ok {
			t.Fatalf("claim in an empty queue: %v, %v", ok, err)
		}
		j, ok, err := s.Claim(ctx, "e")
		if err != nil || !ok || j.ID != "j2" || string(j.Spec) != `{}` {
			t.Fatalf("Claim = %+v, %v, %v; want j2", j, ok, err)
		}
		load, err := s.Load(ctx)
		if err != nil || load["e"] != (ocean.EnvLoad{Running: 1, Queued: 2}) {
			t.Fatalf("Load = %v, %v", load, err)
		}
		jobs, err := s.Jobs(ctx, ocean.JobFilter{Owner: "0xowner"})
		if err != nil || len(jobs) != 3 || jobs[0].ID != "j2" || jobs[1].ID != "j1" || jobs[2].ID != "j0" {
			t.Fatalf("Jobs = %+v, %v", jobs, err)
		}
		if jobs[0].Status != ocean.StatusStarted || !jobs[0].Created.Equal(t0) || !jobs[0].Finished.IsZero() {
			t.Fatalf("claimed job = %+v", jobs[0])
		}
		if jobs, _ := s.Jobs(ctx, ocean.JobFilter{Owner: "0xother"}); len(jobs) != 0 {
			t.Fatalf("another owner's jobs: %+v", jobs)
		}
		if jobs, _ := s.Jobs(ctx, ocean.JobFilter{Owner: "0xowner", ID: "j1"}); len(jobs) != 1 || jobs[0].ID != "j1" {
			t.Fatalf("Jobs by id: %+v", jobs)
		}

		// A waiting job is not running: it cannot advance, but it can stop.
		if ok, err := s.Advance(ctx, "j1", ocean.StatusConfiguring); err != nil || ok {
			t.Fatalf("Advance of a waiting job: %v, %v", ok, err)
		}
		if ok, err := s.Advance(ctx, "j2", ocean.StatusConfiguring); err != nil || !ok {
			t.Fatalf("Advance: %v, %v", ok, err)
		}
		end := t0.Add(time.Minute)
		if ok, err := s.Stop(ctx, "j1", end, end.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("Stop: %v, %v", ok, err)
		}
		if ok, err := s.Stop(ctx, "j1", end, end.Add(time.Hour)); err != nil || ok {
			t.Fatalf("second Stop: %v, %v", ok, err)
		}
		if active, err := s.Active(ctx, "j1"); err != nil || active {
			t.Fatalf("a stopped job is active: %v, %v", active, err)
		}
		if active, err := s.Active(ctx, "j2"); err != nil || !active {
			t.Fatalf("a running job is not active: %v, %v", active, err)
		}
		if ok, err := s.Finish(ctx, "j2", ocean.StatusFinished, "", end, end.Add(2*time.Hour)); err != nil || !ok {
			t.Fatalf("Finish: %v, %v", ok, err)
		}
		if ok, err := s.Finish(ctx, "j2", ocean.StatusAlgorithmError, "x", end, end); err != nil || ok {
			t.Fatalf("Finish of an ended job: %v, %v", ok, err)
		}
		counts, err := s.StatusCounts(ctx)
		if err != nil || counts[ocean.StatusFinished] != 1 || counts[ocean.StatusStopped] != 1 || counts[ocean.StatusWarmingUp] != 1 {
			t.Fatalf("StatusCounts = %v, %v", counts, err)
		}
		expired, err := s.Expired(ctx, end.Add(90*time.Minute))
		if err != nil || len(expired) != 1 || expired[0] != "j1" {
			t.Fatalf("Expired = %v, %v", expired, err)
		}
		recent, err := s.RecentJobs(ctx, 2)
		if err != nil || len(recent) != 2 {
			t.Fatalf("RecentJobs = %+v, %v", recent, err)
		}
		if err := s.DeleteJob(ctx, "j1"); err != nil {
			t.Fatal(err)
		}
		if jobs, _ := s.Jobs(ctx, ocean.JobFilter{Owner: "0xowner"}); len(jobs) != 2 {
			t.Fatalf("after a delete: %+v", jobs)
		}
	})
}

// TestComputeClaimOnce: workers claiming at once (as several processes of
// a node may) each get a different job, and every job is claimed.
func TestComputeClaimOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		s := persist.NewCompute(db)
		ids := addJobs(t, s, "e", 20, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		got := make(chan string, 100)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				for {
					j, ok, err := s.Claim(context.Background(), "e")
					if err != nil || !ok {
						errs <- err
						return
					}
					got <- j.ID
				}
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		close(got)
		seen := map[string]int{}
		var order []string
		for id := range got {
			seen[id]++
			order = append(order, id)
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("job %s claimed %d times", id, seen[id])
			}
		}
		if len(order) != len(ids) {
			t.Errorf("%d claims of %d jobs", len(order), len(ids))
		}
	})
}

func TestComputeResults(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.JobStore = persist.NewCompute(db)
		t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		addJobs(t, s, "e", 1, t0)
		const id = "e-job00"
		r := ocean.JobResult{JobID: id, Index: 0, Name: "out.txt", Type: "output", Size: 5, Hash: "h0"}
		// A waiting job publishes nothing.
		if ok, err := s.AddResult(ctx, r); err != nil || ok {
			t.Fatalf("AddResult of a waiting job: %v, %v", ok, err)
		}
		if _, ok, _ := s.Claim(ctx, "e"); !ok {
			t.Fatal("no job to claim")
		}
		for i, h := range []string{"h0", "h1"} {
			r.Index, r.Hash, r.Name = i, h, fmt.Sprintf("out%d", i)
			if ok, err := s.AddResult(ctx, r); err != nil || !ok {
				t.Fatalf("AddResult: %v, %v", ok, err)
			}
		}
		// A result whose commit fails (here: in a transaction rolled back)
		// leaves no row.
		boom := errors.New("boom")
		err := s.InTx(ctx, func(ctx context.Context) error {
			r.Index, r.Hash = 2, "h2"
			if _, err := s.AddResult(ctx, r); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		res, err := s.Results(ctx, id)
		if err != nil || len(res) != 2 || res[0].Name != "out0" || res[1].Name != "out1" || res[1].Size != 5 || res[1].Type != "output" {
			t.Fatalf("Results = %+v, %v", res, err)
		}
		got, job, err := s.Result(ctx, "0xowner", id, 1)
		if err != nil || got.Hash != "h1" || got.Name != "out1" || !job.Created.Equal(t0) {
			t.Fatalf("Result = %+v, %+v, %v", got, job, err)
		}
		if _, _, err := s.Result(ctx, "0xother", id, 1); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("another owner's result: %v", err)
		}
		if _, _, err := s.Result(ctx, "0xowner", id, 2); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("a result that does not exist: %v", err)
		}
		// Interrupted by a restart: its results go, their hashes are returned
		// for their blobs to be released.
		running, err := s.Running(ctx)
		if err != nil || len(running) != 1 || running[0] != id {
			t.Fatalf("Running = %v, %v", running, err)
		}
		hashes, err := s.DropResults(ctx, id)
		if err != nil || len(hashes) != 2 {
			t.Fatalf("DropResults = %v, %v", hashes, err)
		}
		if err := s.Interrupt(ctx, id, "stopped", t0, t0); err != nil {
			t.Fatal(err)
		}
		if res, _ := s.Results(ctx, id); len(res) != 0 {
			t.Fatalf("results after DropResults: %+v", res)
		}
		if jobs, _ := s.Jobs(ctx, ocean.JobFilter{Owner: "0xowner"}); len(jobs) != 1 || jobs[0].Status != ocean.StatusInterrupted || jobs[0].Error != "stopped" {
			t.Fatalf("interrupted job: %+v", jobs)
		}
	})
}

func TestComputeRequeue(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.JobStore = persist.NewCompute(db)
		addJobs(t, s, "e", 2, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		addJobs(t, s, "gone", 1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		if _, ok, _ := s.Claim(ctx, "e"); !ok {
			t.Fatal("no job to claim")
		}
		if err := s.Requeue(ctx); err != nil {
			t.Fatal(err)
		}
		q, err := s.Queued(ctx)
		if err != nil || len(q) != 3 {
			t.Fatalf("Queued = %+v, %v", q, err)
		}
		envs := map[string]int{}
		for _, j := range q {
			envs[j.Environment]++
		}
		if envs["e"] != 2 || envs["gone"] != 1 {
			t.Fatalf("Queued by environment: %v", envs)
		}
		if j, ok, _ := s.Claim(ctx, "e"); !ok || j.ID != "e-job00" {
			t.Fatalf("requeued job not first: %+v", j)
		}
	})
}
