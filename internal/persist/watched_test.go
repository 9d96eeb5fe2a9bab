package persist_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// Every statement bench/scale watches reads an index, at most a range of
// it, rather than a whole table, so its cost follows its answer, not the
// node's size.
func TestWatchedQueriesReadIndexes(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSchema(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range persist.Watched() {
		p, err := persist.ExplainSQLite(ctx, db.DB, q)
		if err != nil {
			t.Fatalf("%s: %v", q.What, err)
		}
		if len(p.Steps) == 0 {
			t.Fatalf("%s: no plan", q.What)
		}
		if p.Grows {
			t.Errorf("%s: grows with its table: %s", q.What, strings.Join(p.Steps, "; "))
		}
		// A page after a cursor seeks to it: an index range bounded by the
		// cursor, not every row before it filtered out.
		if strings.Contains(q.What, "next page") && !p.Ranged {
			t.Errorf("%s: does not seek to the cursor: %s", q.What, strings.Join(p.Steps, "; "))
		}
		// A page is read in index order: sorted in a temporary tree, it
		// would cost every row of its range, however short the page.
		if strings.Contains(q.What, "page") && slices.ContainsFunc(p.Steps, func(s string) bool { return strings.Contains(s, "TEMP B-TREE") }) {
			t.Errorf("%s: sorts its range: %s", q.What, strings.Join(p.Steps, "; "))
		}
	}
}
