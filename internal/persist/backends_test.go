package persist_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// backends are the metadata databases every Store test runs on. PostgreSQL
// needs DDS_TEST_POSTGRES; without it its subtests are skipped loudly.
var backends = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "meta.db") }},
	{"postgres", func(t *testing.T) string { return testtool.Postgres(t) }},
}

// eachBackend runs test once per backend, on a fresh database with the whole
// schema.
func eachBackend(t *testing.T, test func(t *testing.T, db *store.DB)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db, err := store.OpenSchema(context.Background(), b.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			test(t, db)
		})
	}
}
