package persist_test

import (
	"context"
	"testing"

	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// eachBackend runs test once per backend, on a fresh database with the whole
// schema.
func eachBackend(t *testing.T, test func(t *testing.T, db *store.DB)) {
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
