package blob

import "context"

// Refs is what the blob store keeps in the metadata database: a row per
// object with its size, how many records refer to it and where the backend
// keeps it (persist.Blobs implements it). Called with the context an InTx
// callback got, a method joins that transaction.
type Refs interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// AfterCommit runs f once ctx's transaction commits (never if it rolls
	// back), or at once when ctx carries none.
	AfterCommit(ctx context.Context, f func())

	// Ref adds a reference to the object in, recording it at location (or,
	// with content not nil, keeping content in the row itself) if it has no
	// row yet, and returns where the referenced object is kept: location,
	// or that of the copy stored before.
	Ref(ctx context.Context, in Info, location string, content []byte) (live string, err error)
	// Unref drops a reference; false if the object had none.
	Unref(ctx context.Context, hash string) (bool, error)
	// Forget removes the row of an object nobody refers to and says where
	// the object was kept; false if it is referenced or has no row.
	Forget(ctx context.Context, hash string) (location string, ok bool, err error)
	// Move records that the object of hash is now kept at location, or in
	// its row when content is not nil.
	Move(ctx context.Context, hash, location string, content []byte) error

	// Find says where the object of hash is kept: its content when the row
	// keeps it, else its location; false if it has no row.
	Find(ctx context.Context, hash string) (location string, content []byte, ok bool, err error)
	// Inline is how many rows keep their object's content.
	Inline(ctx context.Context) (int, error)
	// References is how many records refer to the object of hash (0 when
	// it has no row).
	References(ctx context.Context, hash string) (int, error)
	// LocationUsed tells whether any row keeps an object at location.
	LocationUsed(ctx context.Context, location string) (bool, error)
	// Unreferenced lists the objects whose rows say nobody refers to them.
	Unreferenced(ctx context.Context) ([]string, error)
	// Referenced lists up to limit referenced objects after hash after, in
	// hash order.
	Referenced(ctx context.Context, after string, limit int) ([]string, error)
	// Usage is the number of referenced objects and their total size.
	Usage(ctx context.Context) (objects, bytes int64, err error)
}
