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

// BenchmarkUseNonce measures recording the nonce of a signed request in the
// default (SQLite) database: durable is an fsynced commit, relaxed one that
// does not wait for the disk (what a confirming peer does for every quote).
func BenchmarkUseNonce(b *testing.B) {
	db, err := store.OpenSchema(context.Background(), filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := persist.NewNetwork(db)
	ctx := context.Background()
	expires := time.Now().Add(time.Minute)
	i := 0 // across runs of a sub-benchmark: each nonce is new
	for _, durable := range []bool{true, false} {
		b.Run(map[bool]string{true: "durable", false: "relaxed"}[durable], func(b *testing.B) {
			for b.Loop() {
				i++
				if fresh, err := s.UseNonce(ctx, "node", strconv.Itoa(i), expires, durable); err != nil || !fresh {
					b.Fatal(fresh, err)
				}
			}
		})
	}
}
