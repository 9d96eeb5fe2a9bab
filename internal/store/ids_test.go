package store_test

import (
	"testing"

	"github.com/prometheus-dds/dds/internal/store"
)

// Ids made one after the other sort in the order they were made, so that
// rows inserted together land on the same index pages.
func TestNewIDIsTimeOrdered(t *testing.T) {
	prev := store.NewID()
	for range 10000 {
		id := store.NewID()
		if id <= prev {
			t.Fatalf("id %s made after %s sorts before it", id, prev)
		}
		prev = id
	}
}
