package persist_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/lease"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func TestLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s lease.Store = persist.NewLeases(db)
		now := time.Now()
		// Each acquisition lasts 10 s from its time, at after the start.
		acquire := func(holder string, after time.Duration, want bool) {
			t.Helper()
			at := now.Add(after)
			ok, err := s.Acquire(ctx, "sweep", holder, at, at.Add(10*time.Second))
			if err != nil || ok != want {
				t.Fatalf("%s acquires at +%v: %v, %v; want %v", holder, after, ok, err, want)
			}
		}
		acquire("a", 0, true)
		acquire("b", time.Second, false)                     // held by a
		acquire("a", 5*time.Second, true)                    // a renews: until now+15s
		acquire("b", 12*time.Second, false)                  // would have lapsed without the renewal
		acquire("b", 16*time.Second, true)                   // lapsed: b takes it
		if err := s.Release(ctx, "sweep", "a"); err != nil { // not a's any more: nothing happens
			t.Fatal(err)
		}
		acquire("a", 17*time.Second, false)
		if err := s.Release(ctx, "sweep", "b"); err != nil {
			t.Fatal(err)
		}
		acquire("a", 17*time.Second, true) // released: free at once
		if ok, err := s.Acquire(ctx, "other", "b", now, now.Add(time.Second)); err != nil || !ok {
			t.Fatalf("another lease: %v, %v", ok, err)
		}
	})
}
