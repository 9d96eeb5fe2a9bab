// Package files is the registry of the files this node holds for the DDS
// face: the record of each file uploaded here and of each copy held for the
// network (owner, name, size, content hash, term, price, payments,
// confirmations, additional attributes, holders). A record travels with every
// copy and converges on every holder: Merge combines two versions of a record
// whatever the order they meet in. A record turns stored when the ledger
// reports its quote paid, and its content is released when its quote lapses
// unpaid, its term ends or its holder loses its copy to another node.
package files

import (
	"context"
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

// Ledger is what the registry needs of the billing ledger.
type Ledger interface {
	OnPaid(f ledger.PaidFunc)
	SetTerm(tx *store.Tx, t ledger.Term) error
	ExpireQuotes(tx *store.Tx) ([]ledger.Quote, error)
	CloseQuotes(tx *store.Tx, fileID string) error
}

// Blobs releases the content of closed files.
type Blobs interface {
	Unref(ctx context.Context, hash string) error
}

// Config configures the registry; it has no settings yet.
type Config struct{}

// DefaultConfig is the registry's configuration.
func DefaultConfig() Config { return Config{} }

// Deps are the registry's dependencies.
type Deps struct {
	Node   string // this node's id: names it among a file's holders
	DB     *store.DB
	Ledger Ledger
	Blobs  Blobs
	Clock  clock.Clock
	Log    *slog.Logger
}

// Registry is the registry of files.
type Registry struct {
	node   string
	db     *store.DB
	ledger Ledger
	blobs  Blobs
	clock  clock.Clock
	log    *slog.Logger
}

// New opens the registry and has the ledger tell it of paid quotes.
func New(ctx context.Context, cfg Config, deps Deps) (*Registry, error) {
	r := &Registry{node: deps.Node, db: deps.DB, ledger: deps.Ledger, blobs: deps.Blobs, clock: deps.Clock, log: deps.Log}
	deps.Ledger.OnPaid(r.paid)
	return r, nil
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
	f.State, f.Expires = StateStored, end
	if len(q.Confirmations) > 0 && string(q.Confirmations) != "[]" {
		f.Confirmations = q.Confirmations
	}
	f.Payments = append(f.Payments, Payment{ID: cmpOr(q.PaidBy, q.ID), QuoteID: q.ID, Amount: q.Paid, Price: q.Price, Start: start, End: end, Replicas: 1})
	if _, ok := f.Holder(r.node); !ok {
		f.SetHolder(Holder{Node: r.node, Share: f.FreeShare(), State: HolderStored, Taken: now, Since: now, Updated: now})
	}
	if err := r.save(tx, f); err != nil {
		return err
	}
	r.log.Info("file paid", "file", f.ID, "quote", q.ID, "kind", q.Kind, "expires", end)
	return r.shares(tx, f)
}

// Sweep deletes the content of files whose quote expired unpaid or whose
// term ended. It returns how many files it closed.
func (r *Registry) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := r.db.Tx(ctx, func(tx *store.Tx) error {
		n = 0 // a transaction PostgreSQL aborted runs again
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
				if err := r.blobs.Unref(store.WithTx(ctx, tx), f.Hash); err != nil {
					return err
				}
				n++
			}
		}
		// Records kept without a copy end with their term too.
		if _, err := tx.Exec(`UPDATE files SET state=? WHERE state=? AND expires_at<=?`, StateExpired, StateReleased, store.Time(r.clock.Now())); err != nil {
			return err
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
			if err := r.blobs.Unref(store.WithTx(ctx, tx), f.Hash); err != nil {
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

// ErrNotPending is what Cancel answers for a file that is not pending (paid
// since, or already closed).
var ErrNotPending = errors.New("the file is not pending")

// Cancel closes a pending upload at its owner's request: its quote is closed
// and its content released, in one transaction, so a payment racing it
// either comes first (and Cancel answers ErrNotPending) or finds no quote.
func (r *Registry) Cancel(ctx context.Context, id string) error {
	return r.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(`UPDATE files SET state=? WHERE id=? AND state=?`, StateCancelled, id, StatePending)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c != 1 {
			return ErrNotPending
		}
		f, err := r.GetTx(tx, id)
		if err != nil {
			return err
		}
		if err := r.ledger.CloseQuotes(tx, id); err != nil {
			return err
		}
		return r.blobs.Unref(store.WithTx(ctx, tx), f.Hash)
	})
}

// Gauges registers the files by state.
func (r *Registry) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_files", "Files by state.", "state", r.Counts)
}
