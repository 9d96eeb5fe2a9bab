package dds

import "context"

// Store is what the DDS face keeps in the metadata database (persist.DDS
// implements it): no records of its own, only the transaction that makes a
// request's writes to the registry and the ledger atomic.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
