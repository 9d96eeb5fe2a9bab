// Package files is the registry of the files this node stores for the DDS
// face: each file's record (owner, name, size, content hash, state, paid
// term, additional attributes). A record turns stored when the ledger reports
// its quote paid, and its content is released when its quote lapses unpaid
// or its term ends. The network replicates what the registry holds.
package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/store"
)

// File states.
const (
	StatePending   = "pending"   // uploaded, quoted, not paid
	StateStored    = "stored"    // paid, kept until Expires
	StateExpired   = "expired"   // its term ended; content deleted
	StateAbandoned = "abandoned" // its quote expired unpaid; content deleted
)

// File is a stored (or pending) file.
type File struct {
	ID         string
	Owner      string // principal id
	Name       string
	Size       int64
	Hash       string // hex SHA-256 of the content
	State      string
	Term       time.Duration // paid term so far
	Additional json.RawMessage
	Created    time.Time
	StoredAt   time.Time
	Expires    time.Time
}

// The component keeps the DDS face's name, so existing data directories open.
const component = "dds"

var migrations = []string{
	`CREATE TABLE files (
		id TEXT PRIMARY KEY,
		owner_id TEXT NOT NULL,
		name TEXT NOT NULL,
		size INTEGER NOT NULL,
		content_hash TEXT NOT NULL,
		state TEXT NOT NULL,
		term_s INTEGER NOT NULL DEFAULT 0,
		additional TEXT NOT NULL DEFAULT '{}',
		created_at TEXT NOT NULL,
		stored_at TEXT,
		expires_at TEXT
	);
	CREATE INDEX files_state ON files(state, expires_at);
	CREATE INDEX files_owner ON files(owner_id);`,
}

// Ledger is what the registry needs of the billing ledger.
type Ledger interface {
	OnPaid(f ledger.PaidFunc)
	AddTerm(tx *store.Tx, t ledger.Term) error
	ExpireQuotes(tx *store.Tx) ([]ledger.Quote, error)
	CloseQuotes(tx *store.Tx, fileID string) error
}

// Blobs releases the content of closed files.
type Blobs interface {
	Unref(tx *store.Tx, hash string) error
}

// Config configures the registry; it has no settings yet.
type Config struct{}

// DefaultConfig is the registry's configuration.
func DefaultConfig() Config { return Config{} }

// Deps are the registry's dependencies.
type Deps struct {
	DB     *store.DB
	Ledger Ledger
	Blobs  Blobs
	Clock  clock.Clock
	Log    *slog.Logger
}

// Registry is the registry of files.
type Registry struct {
	db     *store.DB
	ledger Ledger
	blobs  Blobs
	clock  clock.Clock
	log    *slog.Logger
}

// New opens the registry and has the ledger tell it of paid quotes.
func New(ctx context.Context, cfg Config, deps Deps) (*Registry, error) {
	if err := deps.DB.Migrate(ctx, component, migrations); err != nil {
		return nil, err
	}
	r := &Registry{db: deps.DB, ledger: deps.Ledger, blobs: deps.Blobs, clock: deps.Clock, log: deps.Log}
	deps.Ledger.OnPaid(r.paid)
	return r, nil
}

const fileCols = `id,owner_id,name,size,content_hash,state,term_s,additional,created_at,COALESCE(stored_at,''),COALESCE(expires_at,'')`

type scanner interface{ Scan(...any) error }

func scanFile(r scanner) (File, error) {
	var f File
	var term int64
	var add, created, stored, expires string
	if err := r.Scan(&f.ID, &f.Owner, &f.Name, &f.Size, &f.Hash, &f.State, &term, &add, &created, &stored, &expires); err != nil {
		return File{}, store.NotFound(err)
	}
	f.Term, f.Additional, f.Created = time.Duration(term)*time.Second, json.RawMessage(add), store.ParseTime(created)
	if stored != "" {
		f.StoredAt = store.ParseTime(stored)
	}
	if expires != "" {
		f.Expires = store.ParseTime(expires)
	}
	return f, nil
}

// Get returns a file in any state, or store.ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (File, error) {
	return scanFile(r.db.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE id=?`, id))
}

// GetTx returns a file inside a transaction.
func (r *Registry) GetTx(tx *store.Tx, id string) (File, error) {
	return scanFile(tx.QueryRow(`SELECT `+fileCols+` FROM files WHERE id=?`, id))
}

// Insert records a new file.
func (r *Registry) Insert(tx *store.Tx, f File) error {
	_, err := tx.Exec(`INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at) VALUES(?,?,?,?,?,?,?,?,?)`,
		f.ID, f.Owner, f.Name, f.Size, f.Hash, f.State, int64(f.Term/time.Second), string(f.Additional), store.Time(f.Created))
	return err
}

// Describe sets a file's name and additional attributes.
func (r *Registry) Describe(tx *store.Tx, id, name string, additional json.RawMessage) error {
	_, err := tx.Exec(`UPDATE files SET additional=?, name=? WHERE id=?`, string(additional), name, id)
	return err
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

// Stored lists the paid files whose term has not ended, for replication.
func (r *Registry) Stored(ctx context.Context) ([]File, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+fileCols+` FROM files WHERE state=? AND expires_at>?`,
		StateStored, store.Time(r.clock.Now()))
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

// paid turns a fully paid quote into storage; the ledger calls it inside the
// payment's transaction.
func (r *Registry) paid(tx *store.Tx, q ledger.Quote) error {
	f, err := r.GetTx(tx, q.FileID)
	if err != nil {
		return fmt.Errorf("paid quote %s for unknown file %s: %w", q.ID, q.FileID, err)
	}
	now := r.clock.Now()
	var start time.Time
	switch {
	case q.Kind == ledger.KindUpload && f.State == StatePending:
		start = now
		f.StoredAt = now
	case q.Kind == ledger.KindExtension && f.State == StateStored:
		start = f.Expires
	default:
		return apierr.Conflict("not_payable", "file %s is %s; quote %s can no longer be paid", f.ID, f.State, q.ID)
	}
	end := start.Add(q.Duration)
	f.Term += q.Duration
	if _, err := tx.Exec(`UPDATE files SET state=?, term_s=?, stored_at=?, expires_at=? WHERE id=?`,
		StateStored, int64(f.Term/time.Second), store.Time(f.StoredAt), store.Time(end), f.ID); err != nil {
		return err
	}
	r.log.Info("file paid", "file", f.ID, "quote", q.ID, "kind", q.Kind, "expires", end)
	return r.ledger.AddTerm(tx, ledger.Term{FileID: f.ID, QuoteID: q.ID, Start: start, End: end, Size: f.Size, Price: q.Price})
}

// Sweep deletes the content of files whose quote expired unpaid or whose
// term ended. It returns how many files it closed.
func (r *Registry) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := r.db.Tx(ctx, func(tx *store.Tx) error {
		expired, err := r.ledger.ExpireQuotes(tx)
		if err != nil {
			return err
		}
		for _, q := range expired {
			if q.Kind != ledger.KindUpload {
				continue
			}
			res, err := tx.Exec(`UPDATE files SET state=? WHERE id=? AND state=?`, StateAbandoned, q.FileID, StatePending)
			if err != nil {
				return err
			}
			if c, _ := res.RowsAffected(); c == 1 {
				f, err := r.GetTx(tx, q.FileID)
				if err != nil {
					return err
				}
				if err := r.blobs.Unref(tx, f.Hash); err != nil {
					return err
				}
				n++
			}
		}
		rows, err := tx.Query(`SELECT `+fileCols+` FROM files WHERE state=? AND expires_at<=?`, StateStored, store.Time(r.clock.Now()))
		if err != nil {
			return err
		}
		var ended []File
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ended = append(ended, f)
		}
		rows.Close()
		for _, f := range ended {
			if _, err := tx.Exec(`UPDATE files SET state=? WHERE id=?`, StateExpired, f.ID); err != nil {
				return err
			}
			if err := r.ledger.CloseQuotes(tx, f.ID); err != nil {
				return err
			}
			if err := r.blobs.Unref(tx, f.Hash); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if n > 0 {
		r.log.Info("sweep closed files", "count", n)
	}
	return n, err
}

// Counts returns the number of files per state.
func (r *Registry) Counts(ctx context.Context) (map[string]int64, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM files GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{StatePending: 0, StateStored: 0, StateExpired: 0, StateAbandoned: 0}
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

// Gauges registers the files by state.
func (r *Registry) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_files", "Files by state.", "state", r.Counts)
}
