package persist_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/dds"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// The DDS face keeps no records: its transaction carries the writes of the
// parts it calls (here auth's, standing in for the registry and the ledger),
// old-style ones included, and they commit or roll back together.
func TestDDSInTx(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s dds.Store = persist.NewDDS(db)
		other := persist.NewAuth(db)
		write := func(id string, fail error) error {
			return s.InTx(ctx, func(ctx context.Context) error {
				if store.TxFrom(ctx) == nil {
					t.Fatal("no transaction in the context")
				}
				if err := other.AddPrincipal(ctx, auth.Principal{ID: id, Name: id, Role: auth.RoleUser}); err != nil {
					return err
				}
				if _, err := store.TxFrom(ctx).Exec(`INSERT INTO revoked_tokens(hash,revoked_at) VALUES(?,'')`, id); err != nil {
					return err
				}
				return fail
			})
		}
		boom := errors.New("boom")
		if err := write("a", boom); !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := other.Principal(ctx, "a"); !errors.Is(err, auth.ErrNoPrincipal) {
			t.Fatalf("a write of a rolled back transaction stayed: %v", err)
		}
		if r, _ := other.Revoked(ctx, "a"); r {
			t.Fatal("an old-style write of a rolled back transaction stayed")
		}
		if err := write("b", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Principal(ctx, "b"); err != nil {
			t.Fatalf("a committed write: %v", err)
		}
		if r, _ := other.Revoked(ctx, "b"); !r {
			t.Fatal("a committed old-style write is missing")
		}
	})
}
