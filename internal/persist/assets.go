package persist

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"

	"github.com/prometheus-dds/dds/internal/assets"
	"github.com/prometheus-dds/dds/internal/store"
)

// Assets keeps the DEP-7 face's assets: the tables assets and asset_shares.
type Assets struct{ db *store.DB }

// NewAssets returns the DEP-7 face's records in db.
func NewAssets(db *store.DB) *Assets {
	return &Assets{db: db}
}

var _ assets.Store = (*Assets)(nil)

const assetsCols = `id,owner_id,metadata,name,content_type,content_hash,created_at,COALESCE(blob_hash,''),COALESCE(size,0),COALESCE(sha3,''),COALESCE(uploaded_at,''),access`

const assetsReadableByID = `SELECT ` + assetsCols + ` FROM assets WHERE id=? AND ` + assetsReadable

// assetsReadable selects the assets principal ? (twice) may read.
const assetsReadable = `(owner_id=? OR access='public' OR (access='shared' AND EXISTS
	(SELECT 1 FROM asset_shares sh WHERE sh.asset_id=assets.id AND sh.principal_id=?)))`

func assetsScan(sc scanner) (assets.Asset, error) {
	var a assets.Asset
	var created, uploaded string
	err := sc.Scan(&a.ID, &a.Owner, &a.Metadata, &a.Meta.Name, &a.Meta.ContentType, &a.Meta.ContentHash,
		&created, &a.BlobHash, &a.Size, &a.SHA3, &uploaded, &a.Access)
	if errors.Is(err, sql.ErrNoRows) {
		return assets.Asset{}, assets.ErrNotFound
	}
	if err != nil {
		return assets.Asset{}, err
	}
	a.Created = store.ParseTime(created)
	if uploaded != "" {
		a.UploadedAt = store.ParseTime(uploaded)
	}
	return a, nil
}

func (s *Assets) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.InTx(ctx, fn)
}

const assetsByID = `SELECT ` + assetsCols + ` FROM assets WHERE id=?`

func (s *Assets) Asset(ctx context.Context, id string) (assets.Asset, error) {
	return assetsScan(s.db.Q(ctx).QueryRowContext(ctx, assetsByID, id))
}

func (s *Assets) Readable(ctx context.Context, principal, id string) (assets.Asset, error) {
	return assetsScan(s.db.Q(ctx).QueryRowContext(ctx, assetsReadableByID, id, principal, principal))
}

func (s *Assets) Owner(ctx context.Context, id string) (string, error) {
	var owner string
	err := s.db.Q(ctx).QueryRowContext(ctx, `SELECT owner_id FROM assets WHERE id=?`, id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", assets.ErrNotFound
	}
	return owner, err
}

// assetsListing selects cols of the assets principal ? may read, in
// registration order, after seq ?, up to ? of them: three disjoint parts,
// each read from an index in that order and merged (the principal's own,
// the public ones of others, and those of others shared with it). Its
// arguments are listingArgs.
func assetsListing(cols string) string {
	return `SELECT ` + cols + ` FROM assets a WHERE a.owner_id=? AND a.seq>?
		UNION ALL SELECT ` + cols + ` FROM assets a WHERE a.access='public' AND a.owner_id<>? AND a.seq>?
		UNION ALL SELECT ` + cols + ` FROM asset_shares sh JOIN assets a ON a.id=sh.asset_id
			WHERE sh.principal_id=? AND a.access='shared' AND a.owner_id<>? AND a.seq>?
		ORDER BY 1, 2 LIMIT ?`
}

func listingArgs(principal string, after int64, limit int) []any {
	return []any{principal, after, principal, after, principal, principal, after, limit}
}

// The listing without and with the metadata documents.
var (
	assetsIDs       = assetsListing(`a.seq, a.id, ''`)
	assetsDocuments = assetsListing(`a.seq, a.id, a.metadata`)
)

// listingChunk is how many rows one read of a listing takes. A listing of
// a large registry is read in such chunks, each its own short read, rather
// than in one read that lasts as long as the client takes: SQLite cannot
// checkpoint its log past an open read, so while it lasts the log of every
// write meanwhile grows, and with it what every query looks through.
var listingChunk = 4096 // a variable for the tests

// EachReadable streams the rows rather than collecting them (a registry's
// index may be large); like queryAll, it reports a database lost between rows
// as store.Unavailable. An asset registered during a long listing may or may
// not be in it; none is listed twice.
func (s *Assets) EachReadable(ctx context.Context, principal string, withMetadata bool, fn func(id string, metadata []byte) error) error {
	q := assetsIDs
	if withMetadata {
		q = assetsDocuments
	}
	after := int64(math.MinInt64)
	for {
		n, err := s.eachInChunk(ctx, q, listingArgs(principal, after, listingChunk), &after, fn)
		if err != nil || n < listingChunk {
			return err
		}
	}
}

func (s *Assets) eachInChunk(ctx context.Context, q string, args []any, last *int64, fn func(id string, metadata []byte) error) (int, error) {
	rows, err := s.db.Q(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var doc []byte
		if err := rows.Scan(last, &id, &doc); err != nil {
			return n, store.Classify(err)
		}
		n++
		if err := fn(id, doc); err != nil {
			return n, err
		}
	}
	return n, store.Classify(rows.Err())
}

// Counts and ContentBytes read asset_totals, which every change of an asset
// or of its content keeps (account) in its own transaction.
func (s *Assets) Counts(ctx context.Context) (registered, withContent int64, err error) {
	err = s.db.Q(ctx).QueryRowContext(ctx, `SELECT COALESCE(SUM(registered),0), COALESCE(SUM(with_content),0) FROM asset_totals WHERE id=1`).Scan(&registered, &withContent)
	return registered, withContent, err
}

// asset_totals has one row, or none before the first asset (so that a new
// database holds no rows, as dds meta copy wants of its destination).
const assetsContentBytes = `SELECT COALESCE(SUM(content_bytes),0) FROM asset_totals WHERE id=1`

func (s *Assets) ContentBytes(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Q(ctx).QueryRowContext(ctx, assetsContentBytes).Scan(&n)
	return n, err
}

func (s *Assets) Register(ctx context.Context, a assets.Asset) (created bool, err error) {
	var blobHash, size, sha3, uploaded any // NULL: no content yet
	if a.BlobHash != "" {
		blobHash, size, sha3, uploaded = a.BlobHash, a.Size, a.SHA3, store.Time(a.UploadedAt)
	}
	err = s.db.InTx(ctx, func(ctx context.Context) error {
		res, err := s.db.Q(ctx).ExecContext(ctx, `INSERT INTO assets(id,owner_id,metadata,name,content_type,content_hash,created_at,seq,blob_hash,size,sha3,uploaded_at)
		VALUES(?,?,?,?,?,?,?,(SELECT COALESCE(MAX(seq),0)+1 FROM assets),?,?,?,?) ON CONFLICT(id) DO NOTHING`,
			a.ID, a.Owner, a.Metadata, a.Meta.Name, a.Meta.ContentType, a.Meta.ContentHash, store.Time(a.Created), blobHash, size, sha3, uploaded)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		created = true
		return s.account(ctx, 1, content{}, content{a.BlobHash, a.Size})
	})
	return created, err
}

func (s *Assets) Delete(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.Q(ctx)
		old, found, err := s.contentOf(ctx, id)
		if err != nil || !found {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM assets WHERE id=?`, id); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM asset_shares WHERE asset_id=?`, id); err != nil {
			return err
		}
		return s.account(ctx, -1, old, content{})
	})
}

func (s *Assets) SetContent(ctx context.Context, a assets.Asset) error {
	return s.setContent(ctx, a.ID, content{a.BlobHash, a.Size}, `UPDATE assets SET blob_hash=?, size=?, sha3=?, uploaded_at=? WHERE id=?`,
		a.BlobHash, a.Size, a.SHA3, store.Time(a.UploadedAt), a.ID)
}

func (s *Assets) DropContent(ctx context.Context, id string) error {
	return s.setContent(ctx, id, content{}, `UPDATE assets SET blob_hash=NULL, size=NULL, sha3=NULL, uploaded_at=NULL WHERE id=?`, id)
}

// setContent runs update, which gives asset id the content next, and
// accounts for the change.
func (s *Assets) setContent(ctx context.Context, id string, next content, update string, args ...any) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		old, found, err := s.contentOf(ctx, id)
		if err != nil || !found {
			return err
		}
		if _, err := s.db.Q(ctx).ExecContext(ctx, update, args...); err != nil {
			return err
		}
		return s.account(ctx, 0, old, next)
	})
}

// content is an asset's content as the totals count it: none if hash is "".
type content struct {
	hash string
	size int64
}

func (s *Assets) contentOf(ctx context.Context, id string) (c content, found bool, err error) {
	err = s.db.Q(ctx).QueryRowContext(ctx, `SELECT COALESCE(blob_hash,''), COALESCE(size,0) FROM assets WHERE id=?`, id).Scan(&c.hash, &c.size)
	if errors.Is(err, sql.ErrNoRows) {
		return content{}, false, nil
	}
	return c, err == nil, err
}

// account keeps asset_contents and asset_totals for a change of registered
// assets by registered, and of one asset's content from old to next. A
// content counts in content_bytes once, however many assets have it.
func (s *Assets) account(ctx context.Context, registered int64, old, next content) error {
	if old == next && registered == 0 {
		return nil
	}
	q := s.db.Q(ctx)
	var withContent, bytes int64
	if next.hash != "" {
		var n int64
		if err := q.QueryRowContext(ctx, `INSERT INTO asset_contents(blob_hash,assets,size) VALUES(?,1,?)
			ON CONFLICT(blob_hash) DO UPDATE SET assets=asset_contents.assets+1 RETURNING assets`, next.hash, next.size).Scan(&n); err != nil {
			return err
		}
		withContent++
		if n == 1 {
			bytes += next.size
		}
	}
	if old.hash != "" {
		var n int64
		if err := q.QueryRowContext(ctx, `UPDATE asset_contents SET assets=assets-1 WHERE blob_hash=? AND assets>1 RETURNING assets`, old.hash).Scan(&n); errors.Is(err, sql.ErrNoRows) {
			// The last asset with it: the content no longer counts.
			var size int64
			if err := q.QueryRowContext(ctx, `DELETE FROM asset_contents WHERE blob_hash=? RETURNING size`, old.hash).Scan(&size); err != nil {
				return err
			}
			bytes -= size
		} else if err != nil {
			return err
		}
		withContent--
	}
	_, err := q.ExecContext(ctx, `INSERT INTO asset_totals(id,registered,with_content,content_bytes) VALUES(1,?,?,?)
		ON CONFLICT(id) DO UPDATE SET registered=asset_totals.registered+excluded.registered,
			with_content=asset_totals.with_content+excluded.with_content, content_bytes=asset_totals.content_bytes+excluded.content_bytes`,
		registered, withContent, bytes)
	return err
}

func (s *Assets) SharedWith(ctx context.Context, id, principal string) (bool, error) {
	var n int
	err := s.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM asset_shares WHERE asset_id=? AND principal_id=?`, id, principal).Scan(&n)
	return n > 0, err
}

func (s *Assets) Shares(ctx context.Context, id string) ([]string, error) {
	out, err := queryAll(ctx, s.db.Q(ctx), assetsScanPrincipal, `SELECT principal_id FROM asset_shares WHERE asset_id=? ORDER BY principal_id`, id)
	slices.Sort(out) // in byte order, whatever the database's collation
	return out, err
}

func (s *Assets) SetAccess(ctx context.Context, id, access string, principals []string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `UPDATE assets SET access=? WHERE id=?`, access, id); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM asset_shares WHERE asset_id=?`, id); err != nil {
			return err
		}
		for _, pid := range principals {
			if _, err := q.ExecContext(ctx, `INSERT INTO asset_shares(asset_id,principal_id) VALUES(?,?) ON CONFLICT DO NOTHING`, id, pid); err != nil {
				return err
			}
		}
		return nil
	})
}

func assetsScanPrincipal(sc scanner) (string, error) {
	var pid string
	err := sc.Scan(&pid)
	return pid, err
}
