package persist

import (
	"context"
	"database/sql"
	"errors"

	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/store"
)

// Blobs keeps the blob store's reference counts: the table blobs.
type Blobs struct{ db *store.DB }

// NewBlobs returns the blob store's records in db.
func NewBlobs(db *store.DB) *Blobs { return &Blobs{db: db} }

var _ blob.Refs = (*Blobs)(nil)

func (b *Blobs) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return b.db.InTx(ctx, fn)
}

func (b *Blobs) AfterCommit(ctx context.Context, f func()) { store.AfterCommit(ctx, f) }

func (b *Blobs) Ref(ctx context.Context, in blob.Info, location string, content []byte) (live string, err error) {
	err = b.db.InTx(ctx, func(ctx context.Context) error {
		var refs, size int64
		if err := b.db.Q(ctx).QueryRowContext(ctx, `INSERT INTO blobs(hash,size,refs,location,content) VALUES(?,?,1,?,?)
			ON CONFLICT(hash) DO UPDATE SET refs=blobs.refs+1 RETURNING location, refs, size`, in.Hash, in.Size, location, content).Scan(&live, &refs, &size); err != nil {
			return err
		}
		if refs != 1 {
			return nil
		}
		return b.count(ctx, 1, size) // new, or unreferenced until now
	})
	return live, err
}

func (b *Blobs) Unref(ctx context.Context, hash string) (ok bool, err error) {
	err = b.db.InTx(ctx, func(ctx context.Context) error {
		var refs, size int64
		err := b.db.Q(ctx).QueryRowContext(ctx, `UPDATE blobs SET refs=refs-1 WHERE hash=? AND refs>0 RETURNING refs, size`, hash).Scan(&refs, &size)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		if refs != 0 {
			return nil
		}
		return b.count(ctx, -1, -size)
	})
	return ok, err
}

// count adds to the totals of referenced objects (blob_totals).
func (b *Blobs) count(ctx context.Context, objects, bytes int64) error {
	_, err := b.db.Q(ctx).ExecContext(ctx, `INSERT INTO blob_totals(id,objects,bytes) VALUES(1,?,?)
		ON CONFLICT(id) DO UPDATE SET objects=blob_totals.objects+excluded.objects, bytes=blob_totals.bytes+excluded.bytes`, objects, bytes)
	return err
}

func (b *Blobs) Forget(ctx context.Context, hash string) (location string, ok bool, err error) {
	err = b.db.Q(ctx).QueryRowContext(ctx, `DELETE FROM blobs WHERE hash=? AND refs=0 RETURNING location`, hash).Scan(&location)
	return blobsFound(location, err)
}

func (b *Blobs) Move(ctx context.Context, hash, location string, content []byte) error {
	_, err := b.db.Q(ctx).ExecContext(ctx, `UPDATE blobs SET location=?, content=? WHERE hash=?`, location, content, hash)
	return err
}

const blobsFind = `SELECT location, content FROM blobs WHERE hash=?`

func (b *Blobs) Find(ctx context.Context, hash string) (location string, content []byte, ok bool, err error) {
	err = b.db.Q(ctx).QueryRowContext(ctx, blobsFind, hash).Scan(&location, &content)
	location, ok, err = blobsFound(location, err)
	return location, content, ok, err
}

func (b *Blobs) Inline(ctx context.Context) (n int, err error) {
	err = b.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs WHERE content IS NOT NULL`).Scan(&n)
	return n, err
}

func (b *Blobs) References(ctx context.Context, hash string) (int, error) {
	var refs int
	err := b.db.Q(ctx).QueryRowContext(ctx, `SELECT refs FROM blobs WHERE hash=?`, hash).Scan(&refs)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return refs, err
}

const blobsAtLocation = `SELECT COUNT(*) FROM blobs WHERE location=? AND location<>''`

// LocationUsed is asked of keys only (never the empty location of an
// object at its hash), which are all that blobs_location indexes.
func (b *Blobs) LocationUsed(ctx context.Context, location string) (bool, error) {
	var n int
	err := b.db.Q(ctx).QueryRowContext(ctx, blobsAtLocation, location).Scan(&n)
	return n > 0, err
}

const blobsUnreferenced = `SELECT hash FROM blobs WHERE refs = 0`

func (b *Blobs) Unreferenced(ctx context.Context) ([]string, error) {
	return queryAll(ctx, b.db.Q(ctx), blobsScanHash, blobsUnreferenced)
}

func (b *Blobs) Referenced(ctx context.Context, after string, limit int) ([]string, error) {
	return queryAll(ctx, b.db.Q(ctx), blobsScanHash, `SELECT hash FROM blobs WHERE hash>? AND refs>0 ORDER BY hash LIMIT ?`, after, limit)
}

func (b *Blobs) Usage(ctx context.Context) (objects, bytes int64, err error) {
	err = b.db.Q(ctx).QueryRowContext(ctx, `SELECT COALESCE(SUM(objects),0), COALESCE(SUM(bytes),0) FROM blob_totals WHERE id=1`).Scan(&objects, &bytes)
	return objects, bytes, err
}

func blobsScanHash(sc scanner) (string, error) {
	var h string
	err := sc.Scan(&h)
	return h, err
}

// blobsFound makes a missing row ok=false rather than an error.
func blobsFound(location string, err error) (string, bool, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return location, err == nil, err
}
