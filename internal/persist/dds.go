package persist

import (
	"context"

	"github.com/prometheus-dds/dds/internal/dds"
	"github.com/prometheus-dds/dds/internal/store"
)

// DDS is the DDS face's transactions: its records are the registry's and the
// ledger's.
type DDS struct{ db *store.DB }

var _ dds.Store = (*DDS)(nil)

// NewDDS returns the DDS face's Store on db.
func NewDDS(db *store.DB) *DDS { return &DDS{db: db} }

func (d *DDS) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return d.db.InTx(ctx, fn)
}
