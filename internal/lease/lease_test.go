package lease_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/lease"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// onBackends runs test on SQLite and on PostgreSQL (skipped loudly when
// no server is given): leases are what several processes of a node on one
// database agree through.
func onBackends(t *testing.T, test func(t *testing.T, db *store.DB)) {
	for _, b := range testtool.MetaBackends {
		t.Run(b.Name, func(t *testing.T) {
			db, err := store.OpenSchema(context.Background(), b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			test(t, db)
		})
	}
}

// Two processes sharing one database: the work runs in one of them at a
// time, and moves to the other when its holder stops or stops renewing.
func TestOneHolderAtATime(t *testing.T) { onBackends(t, oneHolderAtATime) }

func oneHolderAtATime(t *testing.T, db *store.DB) {
	// A TTL far longer than the test waits: the work can move only if the
	// lease is released.
	cfg := lease.Config{TTL: time.Minute, Renew: 50 * time.Millisecond}
	var procs [2]*lease.Leases
	for i := range procs {
		l, err := lease.New(context.Background(), cfg, lease.Deps{Store: persist.NewLeases(db), Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		procs[i] = l
	}
	var running, overlaps atomic.Int32
	var ran [2]atomic.Int32
	work := func(i int) func(ctx context.Context) {
		return func(ctx context.Context) {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			ran[i].Add(1)
			<-ctx.Done()
			running.Add(-1)
		}
	}
	ctxs := make([]context.Context, 2)
	cancels := make([]context.CancelFunc, 2)
	var wg sync.WaitGroup
	for i := range procs {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i].Hold(ctxs[i], "sweep", work(i))
		}()
	}
	waitFor(t, func() bool { return running.Load() == 1 })
	time.Sleep(300 * time.Millisecond) // several renewals
	if got := ran[0].Load() + ran[1].Load(); got != 1 {
		t.Fatalf("work started %d times while its holder renewed; want once", got)
	}
	holder := 0
	if ran[1].Load() == 1 {
		holder = 1
	}
	// The holder stops: the other takes over well before the TTL (the
	// lease is released, not left to lapse).
	cancels[holder]()
	waitFor(t, func() bool { return ran[1-holder].Load() == 1 && running.Load() == 1 })
	cancels[1-holder]()
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("work ran in two processes at once %d times", overlaps.Load())
	}
}

// A holder that cannot renew (its lease was taken after lapsing, as when a
// process pauses longer than the TTL) stops its work.
// Renewals keep the lease past its TTL: the work does not move.
func TestRenewalsKeepTheLease(t *testing.T) { onBackends(t, renewalsKeepTheLease) }

func renewalsKeepTheLease(t *testing.T, db *store.DB) {
	cfg := lease.Config{TTL: 2 * time.Second, Renew: 100 * time.Millisecond}
	var starts atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		l, err := lease.New(context.Background(), cfg, lease.Deps{Store: persist.NewLeases(db), Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Hold(ctx, "network", func(ctx context.Context) { starts.Add(1); <-ctx.Done() })
		}()
	}
	waitFor(t, func() bool { return starts.Load() == 1 })
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	if n := starts.Load(); n != 1 {
		t.Fatalf("the work started %d times while its holder renewed; want once", n)
	}
}

func TestLostLeaseStopsWork(t *testing.T) { onBackends(t, lostLeaseStopsWork) }

func lostLeaseStopsWork(t *testing.T, db *store.DB) {
	cfg := lease.Config{TTL: 300 * time.Millisecond, Renew: 50 * time.Millisecond}
	l, err := lease.New(context.Background(), cfg, lease.Deps{Store: persist.NewLeases(db), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var starts, stops atomic.Int32
	go l.Hold(ctx, "compute", func(ctx context.Context) {
		starts.Add(1)
		<-ctx.Done()
		stops.Add(1)
	})
	waitFor(t, func() bool { return starts.Load() == 1 })
	// Another process takes the lease as if it had lapsed.
	if _, err := db.Exec(`UPDATE leases SET holder='other', expires=? WHERE name='compute'`, time.Now().Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return stops.Load() == 1 })
	if got := l.Held(); len(got) != 0 {
		t.Fatalf("still claims to hold %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
