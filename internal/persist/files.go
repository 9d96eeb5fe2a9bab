package persist

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/store"
)

// Files keeps the file registry: the records (files), the payments applied
// to each (file_payments) and its holders (file_holders).
type Files struct{ db *store.DB }

// NewFiles returns the file registry's store in db.
func NewFiles(db *store.DB) *Files { return &Files{db: db} }

var _ files.Store = (*Files)(nil)

// InTx runs fn in a transaction (joining ctx's).
func (p *Files) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return p.db.InTx(ctx, fn)
}

const filesCols = `id,owner_id,name,size,content_hash,state,term_s,additional,created_at,COALESCE(stored_at,''),COALESCE(expires_at,''),confirmations,merkle_root,additional_at,additional_by,rev`

func filesScan(r scanner) (files.File, error) {
	var f files.File
	var term int64
	var add, created, stored, expires, conf, addAt string
	if err := r.Scan(&f.ID, &f.Owner, &f.Name, &f.Size, &f.Hash, &f.State, &term, &add, &created, &stored, &expires,
		&conf, &f.MerkleRoot, &addAt, &f.AdditionalBy, &f.Rev); err != nil {
		return files.File{}, store.NotFound(err)
	}
	f.Term, f.Additional, f.Created = time.Duration(term)*time.Second, json.RawMessage(add), store.ParseTime(created)
	f.StoredAt, f.Expires, f.AdditionalAt = filesParseTime(stored), filesParseTime(expires), filesParseTime(addAt)
	if conf != "" {
		f.Confirmations = json.RawMessage(conf)
	}
	return f, nil
}

func filesParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return store.ParseTime(s)
}

func filesOptTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return store.Time(t)
}

// load fills in a file's payments and holders.
func (p *Files) load(ctx context.Context, f *files.File) error {
	fs := []files.File{*f}
	err := p.loadAll(ctx, fs, `?`, f.ID)
	*f = fs[0]
	return err
}

// loadAll fills in the payments and holders of fs, which ids (a subquery
// with args) selects, in two queries however many files there are.
func (p *Files) loadAll(ctx context.Context, fs []files.File, ids string, args ...any) error {
	db := p.db.Q(ctx)
	type payment struct {
		file string
		files.Payment
	}
	pays, err := queryAll(ctx, db, func(r scanner) (payment, error) {
		var p payment
		var s, e string
		if err := r.Scan(&p.file, &p.ID, &p.QuoteID, &p.Amount, &p.Price, &s, &e, &p.Replicas); err != nil {
			return p, err
		}
		p.Start, p.End = store.ParseTime(s), store.ParseTime(e)
		return p, nil
	}, `SELECT file_id,payment_id,quote_id,amount,price,start_at,end_at,replicas FROM file_payments
		WHERE file_id IN (`+ids+`) ORDER BY file_id, start_at, payment_id`, args...)
	if err != nil {
		return err
	}
	type holder struct {
		file string
		files.Holder
	}
	holders, err := queryAll(ctx, db, func(r scanner) (holder, error) {
		var h holder
		var taken, since, upd string
		if err := r.Scan(&h.file, &h.Node, &h.Share, &h.State, &taken, &since, &upd); err != nil {
			return h, err
		}
		h.Taken, h.Since, h.Updated = filesParseTime(taken), filesParseTime(since), filesParseTime(upd)
		return h, nil
	}, `SELECT file_id,node_id,share,state,taken_at,since,updated_at FROM file_holders
		WHERE file_id IN (`+ids+`) ORDER BY file_id, node_id`, args...)
	if err != nil {
		return err
	}
	byID := make(map[string]*files.File, len(fs))
	for i := range fs {
		fs[i].Payments, fs[i].Holders, fs[i].Price = nil, nil, 0
		byID[fs[i].ID] = &fs[i]
	}
	for _, p := range pays {
		if f := byID[p.file]; f != nil {
			f.Payments = append(f.Payments, p.Payment)
			f.Price += p.Price
		}
	}
	for _, h := range holders {
		if f := byID[h.file]; f != nil {
			f.Holders = append(f.Holders, h.Holder)
		}
	}
	return nil
}

// File returns a record with its payments and holders, or store.ErrNotFound.
func (p *Files) File(ctx context.Context, id string) (files.File, error) {
	f, err := p.Record(ctx, id)
	if err == nil {
		err = p.load(ctx, &f)
	}
	return f, err
}

// Record returns a record without its payments and holders, or
// store.ErrNotFound.
func (p *Files) Record(ctx context.Context, id string) (files.File, error) {
	return filesScan(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+filesCols+` FROM files WHERE id=?`, id))
}

// AddFile records a new file (its payments and holders are not written).
func (p *Files) AddFile(ctx context.Context, f files.File) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at,merkle_root,additional_at,additional_by) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
		f.ID, f.Owner, f.Name, f.Size, f.Hash, f.State, int64(f.Term/time.Second), string(f.Additional), store.Time(f.Created),
		f.MerkleRoot, filesOptTime(f.AdditionalAt), f.AdditionalBy)
	return err
}

// SaveFile writes a record over the stored one, with its payments and
// holders; payments and holders it does not name are kept. It returns the
// record's new revision.
func (p *Files) SaveFile(ctx context.Context, f files.File) (rev int64, err error) {
	if len(f.Additional) == 0 {
		f.Additional = json.RawMessage("{}")
	}
	return rev, p.db.InTx(ctx, func(ctx context.Context) error {
		db := p.db.Q(ctx)
		if err := db.QueryRowContext(ctx, `INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at,stored_at,expires_at,confirmations,merkle_root,additional_at,additional_by)
		VALUES(?,?,?,?,?,?,?,?,?,NULLIF(?,''),NULLIF(?,''),?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET owner_id=excluded.owner_id, name=excluded.name, size=excluded.size, content_hash=excluded.content_hash,
		state=excluded.state, term_s=excluded.term_s, additional=excluded.additional, created_at=excluded.created_at, stored_at=excluded.stored_at,
		expires_at=excluded.expires_at, confirmations=excluded.confirmations, merkle_root=excluded.merkle_root,
		additional_at=excluded.additional_at, additional_by=excluded.additional_by, `+unsettle+` RETURNING rev`,
			f.ID, f.Owner, f.Name, f.Size, f.Hash, f.State, int64(f.Term/time.Second), string(f.Additional), store.Time(f.Created),
			filesOptTime(f.StoredAt), filesOptTime(f.Expires), string(f.Confirmations), f.MerkleRoot, filesOptTime(f.AdditionalAt), f.AdditionalBy).Scan(&rev); err != nil {
			return err
		}
		for _, pay := range f.Payments {
			if _, err := db.ExecContext(ctx, `INSERT INTO file_payments(file_id,payment_id,quote_id,amount,price,start_at,end_at,replicas) VALUES(?,?,?,?,?,?,?,?)
			ON CONFLICT(file_id,payment_id) DO UPDATE SET replicas=CASE WHEN excluded.replicas > file_payments.replicas THEN excluded.replicas ELSE file_payments.replicas END`,
				f.ID, pay.ID, pay.QuoteID, int64(pay.Amount), int64(pay.Price), store.Time(pay.Start), store.Time(pay.End), pay.Replicas); err != nil {
				return err
			}
		}
		for _, h := range f.Holders {
			if _, err := db.ExecContext(ctx, `INSERT INTO file_holders(file_id,node_id,share,state,taken_at,since,updated_at) VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(file_id,node_id) DO UPDATE SET share=excluded.share, state=excluded.state, taken_at=excluded.taken_at,
			since=excluded.since, updated_at=excluded.updated_at`,
				f.ID, h.Node, h.Share, h.State, filesOptTime(h.Taken), filesOptTime(h.Since), filesOptTime(h.Updated)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetState moves a file from state from to state to, and tells whether it
// was in state from.
func (p *Files) SetState(ctx context.Context, id, from, to string) (bool, error) {
	res, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE files SET state=?, `+unsettle+` WHERE id=? AND state=?`, to, id, from)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ExpireReleased ends the records kept without a copy whose term ended at now.
func (p *Files) ExpireReleased(ctx context.Context, now time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE files SET state=?, `+unsettle+` WHERE state=? AND expires_at<=?`, files.StateExpired, files.StateReleased, store.Time(now))
	return err
}

// Ended lists the stored files whose term ended at now, without their
// payments and holders.
func (p *Files) Ended(ctx context.Context, now time.Time) ([]files.File, error) {
	return queryAll(ctx, p.db.Q(ctx), filesScan, `SELECT `+filesCols+` FROM files WHERE state=? AND expires_at<=?`, files.StateStored, store.Time(now))
}

// AdditionalAt returns when a file's name and additional attributes were
// last set, or store.ErrNotFound.
func (p *Files) AdditionalAt(ctx context.Context, id string) (time.Time, error) {
	var at string
	if err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT additional_at FROM files WHERE id=?`, id).Scan(&at); err != nil {
		return time.Time{}, store.NotFound(err)
	}
	return filesParseTime(at), nil
}

// Describe sets a file's name and additional attributes, as set at by node by.
func (p *Files) Describe(ctx context.Context, id, name string, additional json.RawMessage, at time.Time, by string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE files SET additional=?, name=?, additional_at=?, additional_by=?, `+unsettle+` WHERE id=?`,
		string(additional), name, store.Time(at), by, id)
	return err
}

// RaiseReplicas raises the shares of a file's payment to n (never lowers them).
func (p *Files) RaiseReplicas(ctx context.Context, fileID, paymentID string, n int) error {
	return p.db.InTx(ctx, func(ctx context.Context) error {
		res, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE file_payments SET replicas=? WHERE file_id=? AND payment_id=? AND replicas<?`, n, fileID, paymentID, n)
		if err != nil {
			return err
		}
		if raised, err := res.RowsAffected(); err != nil || raised == 0 {
			return err
		}
		_, err = p.db.Q(ctx).ExecContext(ctx, `UPDATE files SET `+unsettle+` WHERE id=?`, fileID)
		return err
	})
}

// Owned lists up to limit of an owner's records after the cursor, newest
// first, without payments and holders: a range of files_owner_created.
func (p *Files) Owned(ctx context.Context, owner string, after files.Cursor, limit int) ([]files.File, error) {
	if after.ID == "" {
		return queryAll(ctx, p.db.Q(ctx), filesScan, filesOwned, owner, limit)
	}
	at := store.Time(after.Created)
	return queryAll(ctx, p.db.Q(ctx), filesScan, filesOwnedAfter, owner, at, at, after.ID, limit)
}

// An owner's first page, and a page after a cursor (created_at, id). The
// cursor's condition is a range of created_at with the ties before the
// cursor left out, rather than "created_at<? OR (created_at=? AND id>?)":
// with the OR, a planner seeks only the owner and reads every newer file
// to reach the page, so a page near the end cost as much as the pages
// before it (bench/scale: 1.3 -> 8 ms at 7,000 files).
const (
	filesOwned      = `SELECT ` + filesCols + ` FROM files WHERE owner_id=? ORDER BY created_at DESC, id LIMIT ?`
	filesOwnedAfter = `SELECT ` + filesCols + ` FROM files WHERE owner_id=?
		AND created_at<=? AND NOT (created_at=? AND id<=?) ORDER BY created_at DESC, id LIMIT ?`
)

// filesRunning selects the stored files whose term runs past ?. The state
// is a literal: a planner uses a partial index only for a condition it can
// see implies the index's.
const filesRunning = `state='` + files.StateStored + `' AND expires_at>?`

// filesStoredAfter is a page of the stored files in id order, read from
// files_stored whatever the number of files (SQLite, without statistics,
// would take files_state's range and sort all of it for every page).
const filesStoredAfter = `SELECT ` + filesCols + ` FROM files INDEXED BY files_stored WHERE ` + filesRunning + ` AND id>? ORDER BY id LIMIT ?`

// StoredAfter lists up to limit stored files whose term runs past now, with
// ids after after, in id order, with their payments and holders.
func (p *Files) StoredAfter(ctx context.Context, now time.Time, after string, limit int) ([]files.File, error) {
	out, err := queryAll(ctx, p.db.Q(ctx), filesScan, filesStoredAfter, store.Time(now), after, limit)
	if err != nil || len(out) == 0 {
		return out, err
	}
	// The page's id range, not the page's query again (a file stored
	// meanwhile would shift its set) nor a list of its ids (a statement of
	// its own for every length, each prepared on every connection). Other
	// files of the range add rows that loadAll leaves out.
	return out, p.loadAll(ctx, out, `SELECT id FROM files WHERE id>? AND id<=?`, after, out[len(out)-1].ID)
}

// StoredTotals counts the stored files whose term runs past now and adds up
// their sizes.
func (p *Files) StoredTotals(ctx context.Context, now time.Time) (n, bytes int64, err error) {
	err = p.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size),0) FROM files WHERE `+filesRunning, store.Time(now)).Scan(&n, &bytes)
	return n, bytes, err
}

// CopiesPerNode counts, for each node, the copies it holds of the stored
// files whose term runs past now.
func (p *Files) CopiesPerNode(ctx context.Context, now time.Time) (map[string]int64, error) {
	return byLabel(ctx, p.db.Q(ctx), `SELECT node_id, COUNT(*) FROM file_holders
		WHERE state=? AND file_id IN (SELECT id FROM files WHERE `+filesRunning+`) GROUP BY node_id`, files.HolderStored, store.Time(now))
}

// unsettle is the part of every write to a record that tells the
// replication pass to look at it again (Unsettled): a new revision, not
// settled.
const unsettle = `rev=files.rev+1, settled_at=''`

// filesUnsettled names the state as a literal, not a parameter: a planner
// uses a partial index only for a condition it can see implies the index's.
const filesUnsettled = `SELECT id FROM files WHERE state='` + files.StateStored + `' AND settled_at<=? AND expires_at>?`

// Unsettled lists the stored files whose term runs past now and that were
// written since they were settled (Settle), or settled at or before before,
// with their payments and holders: a range of files_unsettled (an empty
// settled_at sorts first), however many files are settled.
func (p *Files) Unsettled(ctx context.Context, now, before time.Time) ([]files.File, error) {
	args := []any{store.Time(before), store.Time(now)}
	out, err := queryAll(ctx, p.db.Q(ctx), filesScan, `SELECT `+filesCols+` FROM files WHERE id IN (`+filesUnsettled+`)`, args...)
	if err != nil {
		return nil, err
	}
	return out, p.loadAll(ctx, out, filesUnsettled, args...)
}

// Settle marks a record settled at a time, unless it changed since revision
// rev, and tells whether it did.
func (p *Files) Settle(ctx context.Context, id string, rev int64, at time.Time) (bool, error) {
	res, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE files SET settled_at=? WHERE id=? AND rev=?`, store.Time(at), id, rev)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// HasContent tells whether a stored file has the content hash.
func (p *Files) HasContent(ctx context.Context, hash string) (bool, error) {
	var n int
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE content_hash=? AND state=?`, hash, files.StateStored).Scan(&n)
	return n > 0, err
}

// Counts returns the number of files per state (the states with files).
func (p *Files) Counts(ctx context.Context) (map[string]int64, error) {
	return byLabel(ctx, p.db.Q(ctx), `SELECT state, COUNT(*) FROM files GROUP BY state`)
}
