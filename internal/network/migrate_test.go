package network_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// A data directory from before the registry held every record opens with
// its copies held for others as records, and the origin's copies as holders.
func TestOldReplicasBecomeRecords(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	oldFiles := `CREATE TABLE files (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
		content_hash TEXT NOT NULL, state TEXT NOT NULL, term_s INTEGER NOT NULL DEFAULT 0, additional TEXT NOT NULL DEFAULT '{}',
		created_at TEXT NOT NULL, stored_at TEXT, expires_at TEXT);
	CREATE INDEX files_state ON files(state, expires_at);
	CREATE INDEX files_owner ON files(owner_id);`
	if err := db.Migrate(ctx, "dds", []string{oldFiles}); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "replica", schemaOf(t, "replica")[:1]); err != nil {
		t.Fatal(err)
	}
	now := store.Time(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	later := store.Time(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for _, q := range []string{
		`INSERT INTO files VALUES('mine','u','a.bin',3,'` + hash64("a") + `','stored',2592000,'{}','` + now + `','` + now + `','` + later + `')`,
		`INSERT INTO copies VALUES('mine','n2','stored','` + later + `','` + now + `'), ('mine','n1','stored','` + later + `','` + now + `')`,
		`INSERT INTO replicas VALUES('theirs','n9','` + hash64("b") + `',4,'b.bin','` + later + `','stored','` + now + `')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MigrateAll(ctx); err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	l, err := ledger.New(ctx, ledger.Config{QuoteTTL: time.Hour}, ledger.Deps{Store: persist.NewLedger(db), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := files.New(ctx, files.Config{}, files.Deps{Node: "n0", Store: persist.NewFiles(db), Ledger: l, Clock: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := reg.Get(ctx, "theirs")
	if err != nil || theirs.State != files.StateStored || theirs.Size != 4 || theirs.Name != "b.bin" || theirs.Expires.Format(time.RFC3339) != "2026-12-01T00:00:00Z" {
		t.Fatalf("copy held for another node: %+v %v", theirs, err)
	}
	mine, err := reg.Get(ctx, "mine")
	if err != nil || len(mine.Holders) != 2 {
		t.Fatalf("origin's file: %+v %v", mine, err)
	}
	if h, _ := mine.Holder("n1"); h.Share != 1 || h.State != files.HolderStored {
		t.Fatalf("holder n1: %+v", h)
	}
	if h, _ := mine.Holder("n2"); h.Share != 2 {
		t.Fatalf("holder n2: %+v", h)
	}
	stored, _ := reg.StoredAfter(ctx, "", 10)
	if len(stored) != 2 {
		t.Fatalf("%d stored records", len(stored))
	}
}

func hash64(s string) string {
	out := ""
	for len(out) < 64 {
		out += s
	}
	return out[:64]
}

func schemaOf(t *testing.T, component string) []string {
	for _, c := range store.Schema {
		if c.Name == component {
			return c.Steps
		}
	}
	t.Fatalf("no component %q in store.Schema", component)
	return nil
}
