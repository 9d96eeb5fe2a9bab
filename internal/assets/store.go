package assets

import (
	"context"
	"errors"
)

// Store is what the face keeps in the metadata database: the registered
// assets, their content and who may read them (persist.Assets implements
// it). Called with the context an InTx callback got, a method joins that
// transaction.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// Asset is the asset registered as id; ErrNotFound if there is none.
	Asset(ctx context.Context, id string) (Asset, error)
	// Readable is asset id if principal may read it (see Access);
	// ErrNotFound if it may not or there is none.
	Readable(ctx context.Context, principal, id string) (Asset, error)
	// Owner is the principal that registered asset id; ErrNotFound if
	// there is none.
	Owner(ctx context.Context, id string) (string, error)
	// EachReadable calls fn with the id (and, if withMetadata, the
	// metadata) of each asset principal may read, in registration order.
	// It stops at fn's first error and returns it.
	EachReadable(ctx context.Context, principal string, withMetadata bool, fn func(id string, metadata []byte) error) error
	// Counts is how many assets are registered and how many have content.
	Counts(ctx context.Context) (registered, withContent int64, err error)
	// ContentBytes is the size of the distinct contents of all assets.
	ContentBytes(ctx context.Context) (int64, error)

	// Register adds asset a (its ID, Owner, Metadata, Meta and Created,
	// and its content when a.BlobHash is set), last in registration order,
	// unless one is registered as a.ID already: then it changes nothing and
	// says false.
	Register(ctx context.Context, a Asset) (created bool, err error)
	// Delete removes asset id and its shares.
	Delete(ctx context.Context, id string) error
	// SetContent records the content of asset a.ID: a's BlobHash, Size,
	// SHA3 and UploadedAt.
	SetContent(ctx context.Context, a Asset) error
	// DropContent forgets the content of asset id.
	DropContent(ctx context.Context, id string) error

	// SharedWith tells whether asset id is shared with principal.
	SharedWith(ctx context.Context, id, principal string) (bool, error)
	// Shares lists the principals asset id is shared with, sorted.
	Shares(ctx context.Context, id string) ([]string, error)
	// SetAccess sets who may read asset id: access (Private, Shared or
	// Public) and, for Shared, the principals, replacing those before.
	SetAccess(ctx context.Context, id, access string, principals []string) error
}

// ErrNotFound is returned by the Store for an asset that is not there.
var ErrNotFound = errors.New("assets: no such asset")
