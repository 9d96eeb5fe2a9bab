package blob_test

import (
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// The internal tests keep their references with persist.Blobs, as the node
// does.
func init() { blob.RefsOf = func(db *store.DB) blob.Refs { return persist.NewBlobs(db) } }
