package files

import (
	"context"
	"encoding/json"
	"time"
)

// Store is what the registry keeps in the metadata database (persist.Files
// implements it). Lookups of one file answer store.ErrNotFound when there is
// none.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	File(ctx context.Context, id string) (File, error)   // with its payments and holders
	Record(ctx context.Context, id string) (File, error) // without them: one row
	AddFile(ctx context.Context, f File) error           // a new record, without payments and holders
	// SaveFile writes f over the stored record, with its payments and
	// holders; those it does not name are kept. It returns the new Rev.
	SaveFile(ctx context.Context, f File) (rev int64, err error)
	// SetState moves a file from state from to state to and tells whether
	// it was in state from.
	SetState(ctx context.Context, id, from, to string) (bool, error)
	ExpireReleased(ctx context.Context, now time.Time) error        // released records whose term ended become expired
	Ended(ctx context.Context, now time.Time) ([]File, error)       // stored files whose term ended (no payments, holders)
	AdditionalAt(ctx context.Context, id string) (time.Time, error) // when the name and attributes were last set
	Describe(ctx context.Context, id, name string, additional json.RawMessage, at time.Time, by string) error
	// RaiseReplicas raises the shares of a file's payment to n, never lowering them.
	RaiseReplicas(ctx context.Context, fileID, paymentID string, n int) error

	// Owned lists up to limit of an owner's records after the cursor,
	// newest first, without payments and holders.
	Owned(ctx context.Context, owner string, after Cursor, limit int) ([]File, error)
	// StoredAfter lists up to limit stored files whose term runs past now,
	// with ids after after, in id order, with payments and holders.
	StoredAfter(ctx context.Context, now time.Time, after string, limit int) ([]File, error)
	StoredTotals(ctx context.Context, now time.Time) (n, bytes int64, err error) // how many stored files, how large
	CopiesPerNode(ctx context.Context, now time.Time) (map[string]int64, error)  // copies of stored files each node holds
	// Unsettled lists the stored files (term running past now) written, or
	// settled at or before before, since they were last settled, with
	// payments and holders.
	Unsettled(ctx context.Context, now, before time.Time) ([]File, error)
	// Settle marks a record settled at a time unless its Rev is no longer
	// rev, and tells whether it did.
	Settle(ctx context.Context, id string, rev int64, at time.Time) (bool, error)
	HasContent(ctx context.Context, hash string) (bool, error) // whether a stored file has the content
	Counts(ctx context.Context) (map[string]int64, error)      // files by state
}
