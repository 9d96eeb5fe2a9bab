package persist_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// BenchmarkUseNonce measures recording the nonce of a signed write request
// in the default (SQLite) database: an fsynced commit.
func BenchmarkUseNonce(b *testing.B) {
	db, err := store.OpenSchema(context.Background(), filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := persist.NewNetwork(db)
	ctx := context.Background()
	expires := time.Now().Add(time.Minute)
	i := 0
	for b.Loop() {
		i++
		if fresh, err := s.UseNonce(ctx, "node", strconv.Itoa(i), expires); err != nil || !fresh {
			b.Fatal(fresh, err)
		}
	}
}
