package persist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func TestOceanNonces(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.Store = persist.NewOcean(db)
		// Only SQLite runs write transactions one at a time (a download may
		// stream on a nonce written but not yet committed there).
		if s.SerialWrites() != (db.Dialect() == store.SQLite) {
			t.Fatalf("serial writes %v on %v", s.SerialWrites(), db.Dialect())
		}
		const addr = "0xabc"
		if _, ok, err := s.Nonce(ctx, addr); err != nil || ok {
			t.Fatalf("nonce of a new address: ok %v, %v", ok, err)
		}
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		for _, n := range []string{"1", "17.5"} {
			if err := s.SetNonce(ctx, addr, n, now); err != nil {
				t.Fatal(err)
			}
			if got, ok, err := s.Nonce(ctx, addr); err != nil || !ok || got != n {
				t.Fatalf("nonce = %q, %v, %v; want %q", got, ok, err, n)
			}
		}
		// A rolled-back InTx leaves the last nonce.
		boom := errors.New("boom")
		err := s.InTx(ctx, func(ctx context.Context) error {
			if err := s.SetNonce(ctx, addr, "99", now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		if got, _, _ := s.Nonce(ctx, addr); got != "17.5" {
			t.Fatalf("after a rollback the nonce is %q", got)
		}
	})
}

func TestOceanRevokedTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.Store = persist.NewOcean(db)
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if r, err := s.TokenRevoked(ctx, "h1"); err != nil || r {
			t.Fatalf("unknown token revoked: %v, %v", r, err)
		}
		if ok, err := s.RevokeToken(ctx, "h1", now.Add(time.Hour), now); err != nil || !ok {
			t.Fatalf("revoke: %v, %v", ok, err)
		}
		if ok, err := s.RevokeToken(ctx, "h1", now.Add(time.Hour), now); err != nil || ok {
			t.Fatalf("second revoke: %v, %v; want false", ok, err)
		}
		if r, err := s.TokenRevoked(ctx, "h1"); err != nil || !r {
			t.Fatalf("revoked token: %v, %v", r, err)
		}
		// Once expired, a revocation is forgotten at the next one.
		if ok, err := s.RevokeToken(ctx, "h2", now.Add(3*time.Hour), now.Add(2*time.Hour)); err != nil || !ok {
			t.Fatalf("revoke h2: %v, %v", ok, err)
		}
		if r, _ := s.TokenRevoked(ctx, "h1"); r {
			t.Fatal("an expired revocation is kept")
		}
	})
}

func TestOceanDDOs(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.Store = persist.NewOcean(db)
		if _, err := s.DDO(ctx, "did:op:none"); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("DDO of an unknown DID: %v", err)
		}
		t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		// Published out of DID order: the list is by time, then DID.
		for i, did := range []string{"did:op:c", "did:op:a", "did:op:b"} {
			at := t0.Add(time.Duration(i/2) * time.Second)
			d := ocean.StoredDDO{DID: did, Owner: "u1", Doc: []byte(`{"id":"` + did + `"}`), Created: at}
			if err := s.AddDDO(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		err := s.AddDDO(ctx, ocean.StoredDDO{DID: "did:op:a", Owner: "u2", Doc: []byte(`{}`), Created: t0})
		if !errors.Is(err, ocean.ErrExists) {
			t.Fatalf("second AddDDO of a DID: %v", err)
		}
		d, err := s.DDO(ctx, "did:op:a")
		if err != nil || d.Owner != "u1" || string(d.Doc) != `{"id":"did:op:a"}` || !d.Created.Equal(t0) {
			t.Fatalf("DDO = %+v, %v", d, err)
		}
		total, docs, err := s.DDOs(ctx, 1, 5)
		if err != nil || total != 3 || len(docs) != 2 || string(docs[0]) != `{"id":"did:op:c"}` || string(docs[1]) != `{"id":"did:op:b"}` {
			t.Fatalf("DDOs(1, 5) = %d, %q, %v", total, docs, err)
		}
		if err := s.DeleteDDO(ctx, "did:op:a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DDO(ctx, "did:op:a"); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("deleted DDO: %v", err)
		}
	})
}

func TestOceanChainDDOs(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s ocean.Store = persist.NewOcean(db)
		if n, err := s.ChainScanNext(ctx, 8996); err != nil || n != 0 {
			t.Fatalf("first scan of a chain starts at %d, %v", n, err)
		}
		if _, _, err := s.ChainDDO(ctx, 8996, "did:op:x"); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("ChainDDO of an unknown DID: %v", err)
		}
		// One range scanned: its DDOs and the next block commit together.
		err := s.InTx(ctx, func(ctx context.Context) error {
			if err := s.PutChainDDO(ctx, 8996, "did:op:x", []byte(`{"v":1}`), 0); err != nil {
				return err
			}
			return s.SetChainScanNext(ctx, 8996, 100)
		})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = s.InTx(ctx, func(ctx context.Context) error {
			if err := s.PutChainDDO(ctx, 8996, "did:op:x", []byte(`{"v":2}`), 0); err != nil {
				return err
			}
			if err := s.SetChainScanNext(ctx, 8996, 200); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if n, _ := s.ChainScanNext(ctx, 8996); n != 100 {
			t.Fatalf("after a rollback the scan is at %d", n)
		}
		if err := s.PutChainDDO(ctx, 8996, "did:op:x", []byte(`{"v":3}`), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.SetChainDDOState(ctx, 8996, "did:op:x", 4); err != nil {
			t.Fatal(err)
		}
		doc, state, err := s.ChainDDO(ctx, 8996, "did:op:x")
		if err != nil || string(doc) != `{"v":3}` || state != 4 {
			t.Fatalf("ChainDDO = %s, %d, %v", doc, state, err)
		}
		// Another chain's DDO of the same DID is another row.
		if _, _, err := s.ChainDDO(ctx, 1, "did:op:x"); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("chain 1: %v", err)
		}
		if err := s.DropChainDDO(ctx, 8996, "did:op:x"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ChainDDO(ctx, 8996, "did:op:x"); !errors.Is(err, ocean.ErrNotFound) {
			t.Fatalf("dropped chain DDO: %v", err)
		}
	})
}
