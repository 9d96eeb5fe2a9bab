package persist_test

import (
	"context"
	"slices"
	"strings"
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

// eachBackendBefore runs test once per backend, on a fresh database migrated
// up to the step of component whose text has marker (that step and the
// rest not yet): test puts rows there and then migrates the rest.
func eachBackendBefore(t *testing.T, component, marker string, test func(t *testing.T, db *store.DB)) {
	i := slices.IndexFunc(store.Schema, func(c store.Component) bool { return c.Name == component })
	if i < 0 {
		t.Fatalf("no component %q", component)
	}
	steps := store.Schema[i].Steps
	k := slices.IndexFunc(steps, func(s string) bool { return strings.Contains(s, marker) })
	if k < 0 {
		t.Fatalf("no step of %s has %q", component, marker)
	}
	for _, b := range testtool.MetaBackends {
		t.Run(b.Name, func(t *testing.T) {
			db, err := store.Open(b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.MigrateAll(context.Background(), store.Component{Name: component, Steps: steps[:k]}); err != nil {
				t.Fatal(err)
			}
			test(t, db)
		})
	}
}
