// The SQL of the registry, in one place: the tables, their migrations and
// every statement.

package files

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/store"
)

// The component keeps the DDS face's name, so existing data directories open.
const component = "dds"

const fileCols = `id,owner_id,name,size,content_hash,state,term_s,additional,created_at,COALESCE(stored_at,''),COALESCE(expires_at,''),confirmations,merkle_root,additional_at,additional_by`

type scanner interface{ Scan(...any) error }

func scanFile(r scanner) (File, error) {
	var f File
	var term int64
	var add, created, stored, expires, conf, addAt string
	if err := r.Scan(&f.ID, &f.Owner, &f.Name, &f.Size, &f.Hash, &f.State, &term, &add, &created, &stored, &expires,
		&conf, &f.MerkleRoot, &addAt, &f.AdditionalBy); err != nil {
		return File{}, store.NotFound(err)
	}
	f.Term, f.Additional, f.Created = time.Duration(term)*time.Second, json.RawMessage(add), store.ParseTime(created)
	f.StoredAt, f.Expires, f.AdditionalAt = parseTime(stored), parseTime(expires), parseTime(addAt)
	if conf != "" {
		f.Confirmations = json.RawMessage(conf)
	}
	return f, nil
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return store.ParseTime(s)
}

func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return store.Time(t)
}

// load fills in a file's payments and holders.
func (r *Registry) load(ctx context.Context, tx *store.Tx, f *File) error {
	query := func(q string, args ...any) (rowsIter, error) {
		if tx != nil {
			return tx.Query(q, args...)
		}
		return r.db.QueryContext(ctx, q, args...)
	}
	rows, err := query(`SELECT payment_id,quote_id,amount,price,start_at,end_at,replicas FROM file_payments WHERE file_id=? ORDER BY start_at, payment_id`, f.ID)
	if err != nil {
		return err
	}
	f.Payments, f.Price = nil, 0
	for rows.Next() {
		var p Payment
		var s, e string
		if err := rows.Scan(&p.ID, &p.QuoteID, &p.Amount, &p.Price, &s, &e, &p.Replicas); err != nil {
			rows.Close()
			return err
		}
		p.Start, p.End = store.ParseTime(s), store.ParseTime(e)
		f.Payments = append(f.Payments, p)
		f.Price += p.Price
	}
	rows.Close()
	if rows, err = query(`SELECT node_id,share,state,taken_at,since,updated_at FROM file_holders WHERE file_id=? ORDER BY node_id`, f.ID); err != nil {
		return err
	}
	defer rows.Close()
	f.Holders = nil
	for rows.Next() {
		var h Holder
		var taken, since, upd string
		if err := rows.Scan(&h.Node, &h.Share, &h.State, &taken, &since, &upd); err != nil {
			return err
		}
		h.Taken, h.Since, h.Updated = parseTime(taken), parseTime(since), parseTime(upd)
		f.Holders = append(f.Holders, h)
	}
	return rows.Err()
}

type rowsIter interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}

// Get returns a file in any state, or store.ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (File, error) {
	f, err := scanFile(r.db.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE id=?`, id))
	if err == nil {
		err = r.load(ctx, nil, &f)
	}
	return f, err
}

// GetTx returns a file inside a transaction.
func (r *Registry) GetTx(tx *store.Tx, id string) (File, error) {
	f, err := scanFile(tx.QueryRow(`SELECT `+fileCols+` FROM files WHERE id=?`, id))
	if err == nil {
		err = r.load(context.Background(), tx, &f)
	}
	return f, err
}

// Insert records a new file.
func (r *Registry) Insert(tx *store.Tx, f File) error {
	if f.AdditionalAt.IsZero() {
		f.AdditionalAt, f.AdditionalBy = f.Created, r.node
	}
	_, err := tx.Exec(`INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at,merkle_root,additional_at,additional_by) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
		f.ID, f.Owner, f.Name, f.Size, f.Hash, f.State, int64(f.Term/time.Second), string(f.Additional), store.Time(f.Created),
		f.MerkleRoot, optTime(f.AdditionalAt), f.AdditionalBy)
	return err
}

// save writes a record over the stored one (the sets only grow).
func (r *Registry) save(tx *store.Tx, f File) error {
	if len(f.Additional) == 0 {
		f.Additional = json.RawMessage("{}")
	}
	if _, err := tx.Exec(`INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at,stored_at,expires_at,confirmations,merkle_root,additional_at,additional_by)
		VALUES(?,?,?,?,?,?,?,?,?,NULLIF(?,''),NULLIF(?,''),?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET owner_id=excluded.owner_id, name=excluded.name, size=excluded.size, content_hash=excluded.content_hash,
		state=excluded.state, term_s=excluded.term_s, additional=excluded.additional, created_at=excluded.created_at, stored_at=excluded.stored_at,
		expires_at=excluded.expires_at, confirmations=excluded.confirmations, merkle_root=excluded.merkle_root,
		additional_at=excluded.additional_at, additional_by=excluded.additional_by`,
		f.ID, f.Owner, f.Name, f.Size, f.Hash, f.State, int64(f.Term/time.Second), string(f.Additional), store.Time(f.Created),
		optTime(f.StoredAt), optTime(f.Expires), string(f.Confirmations), f.MerkleRoot, optTime(f.AdditionalAt), f.AdditionalBy); err != nil {
		return err
	}
	for _, p := range f.Payments {
		if _, err := tx.Exec(`INSERT INTO file_payments(file_id,payment_id,quote_id,amount,price,start_at,end_at,replicas) VALUES(?,?,?,?,?,?,?,?)
			ON CONFLICT(file_id,payment_id) DO UPDATE SET replicas=CASE WHEN excluded.replicas > file_payments.replicas THEN excluded.replicas ELSE file_payments.replicas END`,
			f.ID, p.ID, p.QuoteID, int64(p.Amount), int64(p.Price), store.Time(p.Start), store.Time(p.End), p.Replicas); err != nil {
			return err
		}
	}
	for _, h := range f.Holders {
		if _, err := tx.Exec(`INSERT INTO file_holders(file_id,node_id,share,state,taken_at,since,updated_at) VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(file_id,node_id) DO UPDATE SET share=excluded.share, state=excluded.state, taken_at=excluded.taken_at,
			since=excluded.since, updated_at=excluded.updated_at`,
			f.ID, h.Node, h.Share, h.State, optTime(h.Taken), optTime(h.Since), optTime(h.Updated)); err != nil {
			return err
		}
	}
	return nil
}

// Merge merges a version of a record into this node's (creating it, as
// released, when new) and returns the result. When the record says this
// node lost its copy, the copy is released and its share cut there.
func (r *Registry) Merge(tx *store.Tx, in File) (File, error) {
	cur, err := r.GetTx(tx, in.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cur = File{ID: in.ID, State: StateReleased}
	case err != nil:
		return File{}, err
	}
	f := Merge(cur, in)
	if h, ok := f.Holder(r.node); ok && h.State == HolderLost && f.State == StateStored {
		r.log.Info("copy lost to another node: released", "file", f.ID, "cut_at", h.Since)
		f.State = StateReleased
		if err := r.blobs.Unref(store.WithTx(context.Background(), tx), f.Hash); err != nil {
			return File{}, err
		}
	}
	if err := r.save(tx, f); err != nil {
		return File{}, err
	}
	return f, r.shares(tx, f)
}

// Hold marks a record's content as kept here (the caller referenced it in
// tx): this node becomes a stored holder.
func (r *Registry) Hold(tx *store.Tx, id string) (File, error) {
	f, err := r.GetTx(tx, id)
	if err != nil {
		return File{}, err
	}
	now := r.clock.Now()
	h, ok := f.Holder(r.node)
	if !ok {
		h = Holder{Node: r.node, Share: f.FreeShare(), Taken: now}
	}
	h.State, h.Since, h.Updated = HolderStored, now, now
	f.SetHolder(h)
	f.State = StateStored
	if err := r.save(tx, f); err != nil {
		return File{}, err
	}
	return f, r.shares(tx, f)
}

// Update saves a record changed by this node (its housekeeper's decisions).
func (r *Registry) Update(ctx context.Context, f File) (File, error) {
	var out File
	err := r.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = r.Merge(tx, f)
		return err
	})
	return out, err
}

// shares records this node's part of each payment of a file it holds or held
// (see ledger.Share): its share from when it took it to when it lost it.
func (r *Registry) shares(tx *store.Tx, f File) error {
	h, ok := f.Holder(r.node)
	if !ok || h.State == HolderPending {
		return nil
	}
	to := time.Time{}
	if h.State == HolderLost {
		to = h.Since
	}
	for _, p := range f.Payments {
		from, until := maxTime(p.Start, h.Taken), p.End
		if !to.IsZero() && to.Before(until) {
			until = to
		}
		if !until.After(from) {
			until = from
		}
		amount := ledger.Share(p.Price, p.Replicas, h.Share, p.Start, p.End, from, until)
		if err := r.ledger.SetTerm(tx, ledger.Term{FileID: f.ID, QuoteID: "share:" + p.ID, Start: from, End: until, Size: f.Size, Price: amount}); err != nil {
			return err
		}
	}
	return nil
}

// Describe sets a file's name and additional attributes.
// The change's time is after the one it replaces even if clocks disagree, so
// that it wins wherever the two versions meet.
func (r *Registry) Describe(tx *store.Tx, id, name string, additional json.RawMessage) error {
	var prev string
	if err := tx.QueryRow(`SELECT additional_at FROM files WHERE id=?`, id).Scan(&prev); err != nil {
		return store.NotFound(err)
	}
	at := r.clock.Now()
	if p := parseTime(prev); !at.After(p) {
		at = p.Add(time.Nanosecond)
	}
	_, err := tx.Exec(`UPDATE files SET additional=?, name=?, additional_at=?, additional_by=? WHERE id=?`,
		string(additional), name, store.Time(at), r.node, id)
	return err
}

// SetReplicas sets the shares a payment's price is split into (the network
// knows how many copies it keeps).
func (r *Registry) SetReplicas(tx *store.Tx, fileID, paymentID string, n int) error {
	if _, err := tx.Exec(`UPDATE file_payments SET replicas=CASE WHEN replicas > ? THEN replicas ELSE ? END WHERE file_id=? AND payment_id=?`, n, n, fileID, paymentID); err != nil {
		return err
	}
	f, err := r.GetTx(tx, fileID)
	if err != nil {
		return err
	}
	return r.shares(tx, f)
}

// Exists tells whether a file id names a file, in any state (the Billing face
// asks before recording a payment for it).
func (r *Registry) Exists(ctx context.Context, id string) (bool, error) {
	_, err := r.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// StoredFile returns a file whose term runs, or store.ErrNotFound (the data
// provider serves stored files as its native "dds" file type).
func (r *Registry) StoredFile(ctx context.Context, id string) (File, error) {
	f, err := r.Get(ctx, id)
	if err == nil && (f.State != StateStored || !f.Expires.After(r.clock.Now())) {
		err = store.ErrNotFound
	}
	return f, err
}

// Owned lists the records of an owner's files that this node has, newest
// first (without their payments and holders: a listing needs neither).
func (r *Registry) Owned(ctx context.Context, owner string) ([]File, error) {
	return r.query(ctx, `SELECT `+fileCols+` FROM files WHERE owner_id=? ORDER BY created_at DESC, id`, owner)
}

// Stored lists the paid files held here whose term has not ended, with
// their payments and holders, for replication.
func (r *Registry) Stored(ctx context.Context) ([]File, error) {
	out, err := r.query(ctx, `SELECT `+fileCols+` FROM files WHERE state=? AND expires_at>?`, StateStored, store.Time(r.clock.Now()))
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := r.load(ctx, nil, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// query reads the records a SELECT of fileCols returns.
func (r *Registry) query(ctx context.Context, q string, args ...any) ([]File, error) {
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// HasContent tells whether a stored file has the content hash.
func (r *Registry) HasContent(ctx context.Context, hash string) (bool, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE content_hash=? AND state=?`, hash, StateStored).Scan(&n)
	return n > 0, err
}

// Counts returns the number of files per state.
func (r *Registry) Counts(ctx context.Context) (map[string]int64, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM files GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{StatePending: 0, StateStored: 0, StateExpired: 0, StateAbandoned: 0, StateCancelled: 0}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
