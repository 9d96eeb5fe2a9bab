package persist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func TestNetworkAcks(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s network.Store = persist.NewNetwork(db)
		if v, err := s.Acked(ctx, "f1", "n1"); err != nil || v != "" {
			t.Fatalf("unknown ack = %q, %v; want \"\"", v, err)
		}
		for _, v := range []string{"v1", "v2"} {
			if err := s.Ack(ctx, "f1", "n1", v); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Acked(ctx, "f1", "n1"); err != nil || got != v {
				t.Fatalf("acked = %q, %v; want %q", got, err, v)
			}
		}
		if v, _ := s.Acked(ctx, "f1", "n2"); v != "" {
			t.Fatalf("another node's ack = %q; want none", v)
		}
	})
}

func TestNetworkAudits(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s network.Store = persist.NewNetwork(db)
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		fail := network.Audit{At: at, Leaf: 3, Passed: false, Detail: "bad path"}
		pass := network.Audit{At: at.Add(time.Minute), Leaf: 5, Passed: true}
		for _, a := range []network.Audit{fail, pass} {
			if err := s.RecordAudit(ctx, "f1", "n1", a); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordAudit(ctx, "f1", "n2", fail); err != nil {
			t.Fatal(err)
		}
		all, err := s.Audits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]network.Audit{}
		for _, a := range all {
			got[a.FileID+"/"+a.Node] = a.Audit
		}
		if len(all) != 2 || !sameAudit(got["f1/n1"], pass) || !sameAudit(got["f1/n2"], fail) {
			t.Fatalf("last audits = %+v; want n1 passed, n2 failed", all)
		}
		counts, err := s.AuditCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["passed"] != 1 || counts["failed"] != 2 {
			t.Fatalf("counts = %v; want 1 passed, 2 failed", counts)
		}

		// Recorded in a transaction that rolls back: neither the audit nor
		// its count remains.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(ctx context.Context) error {
			if err := s.RecordAudit(ctx, "f2", "n1", pass); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		if all, _ := s.Audits(ctx); len(all) != 2 {
			t.Fatalf("a rolled back audit remains: %+v", all)
		}
		if counts, _ := s.AuditCounts(ctx); counts["passed"] != 1 {
			t.Fatalf("a rolled back audit was counted: %v", counts)
		}
	})
}

func sameAudit(a, b network.Audit) bool {
	return a.At.Equal(b.At) && a.Leaf == b.Leaf && a.Passed == b.Passed && a.Detail == b.Detail
}

// A nonce is taken once per sender, by whichever handle of the database
// (process of the node) sees it, until swept after it expires.
func TestNetworkNonces(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s network.Store = persist.NewNetwork(db)
		now := time.Unix(1000, 0)
		use := func(node, nonce string, want bool) {
			t.Helper()
			if fresh, err := s.UseNonce(ctx, node, nonce, now.Add(time.Minute)); err != nil || fresh != want {
				t.Fatalf("nonce %s/%s: fresh=%v, %v; want %v", node, nonce, fresh, err, want)
			}
		}
		use("a", "1", true)
		use("a", "1", false)
		use("a", "2", true)
		use("a", "2", false)
		use("b", "1", true) // the same nonce from another node
		if err := s.SweepNonces(ctx, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		use("a", "1", false) // not expired yet: kept
		if err := s.SweepNonces(ctx, now.Add(time.Minute+time.Nanosecond)); err != nil {
			t.Fatal(err)
		}
		use("a", "1", true) // swept
	})
}

// A wake is seen once; one asked in a transaction that rolls back (a
// payment that failed) is never seen.
func TestNetworkWakes(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s network.Store = persist.NewNetwork(db)
		woken := func(want bool) {
			t.Helper()
			if got, err := s.Woken(ctx); err != nil || got != want {
				t.Fatalf("woken = %v, %v; want %v", got, err, want)
			}
		}
		woken(false)
		boom := errors.New("boom")
		if err := db.InTx(ctx, func(ctx context.Context) error {
			if err := s.Wake(ctx, "f1"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		woken(false)
		for _, f := range []string{"f1", "f2", "f1"} {
			if err := db.InTx(ctx, func(ctx context.Context) error { return s.Wake(ctx, f) }); err != nil {
				t.Fatal(err)
			}
		}
		woken(true)
		woken(false)
	})
}
