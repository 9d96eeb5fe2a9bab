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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	SetTerm(ctx context.Context, t ledger.Term) error
	ExpireQuotes(ctx context.Context) ([]ledger.Quote, error)
	CloseQuotes(ctx context.Context, fileID string) error
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
	Store  Store
	Ledger Ledger
	Blobs  Blobs
	Clock  clock.Clock
	Log    *slog.Logger
}

// Registry is the registry of files.
type Registry struct {
	node   string
	store  Store
	ledger Ledger
	blobs  Blobs
	clock  clock.Clock
	log    *slog.Logger
}

// New opens the registry and has the ledger tell it of paid quotes.
func New(ctx context.Context, cfg Config, deps Deps) (*Registry, error) {
	r := &Registry{node: deps.Node, store: deps.Store, ledger: deps.Ledger, blobs: deps.Blobs, clock: deps.Clock, log: deps.Log}
	deps.Ledger.OnPaid(r.paid)
	return r, nil
}

// paid turns a fully paid quote into storage; the ledger calls it inside the
// payment's transaction.
func (r *Registry) paid(ctx context.Context, q ledger.Quote) error {
	f, err := r.store.File(ctx, q.FileID)
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
	if _, err := r.store.SaveFile(ctx, f); err != nil {
		return err
	}
	r.log.Info("file paid", "file", f.ID, "quote", q.ID, "kind", q.Kind, "expires", end)
	return r.shares(ctx, f)
}

// Sweep deletes the content of files whose quote expired unpaid or whose
// term ended. It returns how many files it closed.
func (r *Registry) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := r.store.InTx(ctx, func(ctx context.Context) error {
		n = 0 // a transaction PostgreSQL aborted runs again
		expired, err := r.ledger.ExpireQuotes(ctx)
		if err != nil {
			return err
		}
		for _, q := range expired {
			if q.Kind != ledger.KindUpload {
				continue
			}
			abandoned, err := r.store.SetState(ctx, q.FileID, StatePending, StateAbandoned)
			if err != nil {
				return err
			}
			if abandoned {
				f, err := r.store.File(ctx, q.FileID)
				if err != nil {
					return err
				}
				if err := r.blobs.Unref(ctx, f.Hash); err != nil {
					return err
				}
				n++
			}
		}
		now := r.clock.Now()
		// Records kept without a copy end with their term too.
		if err := r.store.ExpireReleased(ctx, now); err != nil {
			return err
		}
		ended, err := r.store.Ended(ctx, now)
		if err != nil {
			return err
		}
		for _, f := range ended {
			if _, err := r.store.SetState(ctx, f.ID, StateStored, StateExpired); err != nil {
				return err
			}
			if err := r.ledger.CloseQuotes(ctx, f.ID); err != nil {
				return err
			}
			if err := r.blobs.Unref(ctx, f.Hash); err != nil {
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
	return r.store.InTx(ctx, func(ctx context.Context) error {
		cancelled, err := r.store.SetState(ctx, id, StatePending, StateCancelled)
		if err != nil {
			return err
		}
		if !cancelled {
			return ErrNotPending
		}
		f, err := r.store.File(ctx, id)
		if err != nil {
			return err
		}
		if err := r.ledger.CloseQuotes(ctx, id); err != nil {
			return err
		}
		return r.blobs.Unref(ctx, f.Hash)
	})
}

// Get returns a file in any state, or store.ErrNotFound; with a context
// carrying a transaction, as that transaction sees it.
func (r *Registry) Get(ctx context.Context, id string) (File, error) {
	return r.store.File(ctx, id)
}

// Insert records a new file.
func (r *Registry) Insert(ctx context.Context, f File) error {
	if f.AdditionalAt.IsZero() {
		f.AdditionalAt, f.AdditionalBy = f.Created, r.node
	}
	return r.store.AddFile(ctx, f)
}

// Merge merges a version of a record into this node's (creating it, as
// released, when new) and returns the result. When the record says this
// node lost its copy, the copy is released and its share cut there.
func (r *Registry) Merge(ctx context.Context, in File) (File, error) {
	var f File
	err := r.store.InTx(ctx, func(ctx context.Context) error {
		cur, err := r.store.File(ctx, in.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			cur = File{ID: in.ID, State: StateReleased}
		case err != nil:
			return err
		}
		f = Merge(cur, in)
		if h, ok := f.Holder(r.node); ok && h.State == HolderLost && f.State == StateStored {
			r.log.Info("copy lost to another node: released", "file", f.ID, "cut_at", h.Since)
			f.State = StateReleased
			if err := r.blobs.Unref(ctx, f.Hash); err != nil {
				return err
			}
		}
		if same(f, cur) {
			return nil // most merges bring nothing new: no write, no new revision
		}
		if f.Rev, err = r.store.SaveFile(ctx, f); err != nil {
			return err
		}
		return r.shares(ctx, f)
	})
	if err != nil {
		return File{}, err
	}
	return f, nil
}

// Hold marks a record's content as kept here (the caller referenced it in
// ctx's transaction): this node becomes a stored holder.
func (r *Registry) Hold(ctx context.Context, id string) (File, error) {
	var f File
	err := r.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if f, err = r.store.File(ctx, id); err != nil {
			return err
		}
		now := r.clock.Now()
		h, ok := f.Holder(r.node)
		if !ok {
			h = Holder{Node: r.node, Share: f.FreeShare(), Taken: now}
		}
		h.State, h.Since, h.Updated = HolderStored, now, now
		f.SetHolder(h)
		f.State = StateStored
		if f.Rev, err = r.store.SaveFile(ctx, f); err != nil {
			return err
		}
		return r.shares(ctx, f)
	})
	if err != nil {
		return File{}, err
	}
	return f, nil
}

// Update saves a record changed by this node (its housekeeper's decisions).
func (r *Registry) Update(ctx context.Context, f File) (File, error) {
	return r.Merge(ctx, f)
}

// shares records this node's part of each payment of a file it holds or held
// (see ledger.Share): its share from when it took it to when it lost it.
func (r *Registry) shares(ctx context.Context, f File) error {
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
		if err := r.ledger.SetTerm(ctx, ledger.Term{FileID: f.ID, QuoteID: "share:" + p.ID, Start: from, End: until, Size: f.Size, Price: amount}); err != nil {
			return err
		}
	}
	return nil
}

// Describe sets a file's name and additional attributes.
// The change's time is after the one it replaces even if clocks disagree, so
// that it wins wherever the two versions meet.
func (r *Registry) Describe(ctx context.Context, id, name string, additional json.RawMessage) error {
	return r.store.InTx(ctx, func(ctx context.Context) error {
		prev, err := r.store.AdditionalAt(ctx, id)
		if err != nil {
			return err
		}
		at := r.clock.Now()
		if !at.After(prev) {
			at = prev.Add(time.Nanosecond)
		}
		return r.store.Describe(ctx, id, name, additional, at, r.node)
	})
}

// SetReplicas sets the shares a payment's price is split into (the network
// knows how many copies it keeps).
func (r *Registry) SetReplicas(ctx context.Context, fileID, paymentID string, n int) error {
	return r.store.InTx(ctx, func(ctx context.Context) error {
		if err := r.store.RaiseReplicas(ctx, fileID, paymentID, n); err != nil {
			return err
		}
		f, err := r.store.File(ctx, fileID)
		if err != nil {
			return err
		}
		return r.shares(ctx, f)
	})
}

// Exists tells whether a file id names a file, in any state (the Billing face
// asks before recording a payment for it).
func (r *Registry) Exists(ctx context.Context, id string) (bool, error) {
	_, err := r.store.Record(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// StoredFile returns the record, without payments and holders, of a file
// whose term runs, or store.ErrNotFound (the data provider serves stored
// files as its native "dds" file type).
func (r *Registry) StoredFile(ctx context.Context, id string) (File, error) {
	f, err := r.store.Record(ctx, id)
	if err == nil && (f.State != StateStored || !f.Expires.After(r.clock.Now())) {
		err = store.ErrNotFound
	}
	return f, err
}

// Owned lists up to limit records of an owner's files that this node has,
// newest first, after the cursor (without their payments and holders: a
// listing needs neither).
func (r *Registry) Owned(ctx context.Context, owner string, after Cursor, limit int) ([]File, error) {
	return r.store.Owned(ctx, owner, after, limit)
}

// Cursor is where a listing of files, newest first (ids ascending among
// files created at the same instant), resumes: after the file created at
// Created with id ID. The zero Cursor starts at the newest.
type Cursor struct {
	Created time.Time
	ID      string
}

// CursorAt resumes a listing after f.
func CursorAt(f File) Cursor { return Cursor{Created: f.Created, ID: f.ID} }

// Compare orders a and b as a listing does: -1 when a comes first.
func Compare(a, b File) int {
	if c := b.Created.Compare(a.Created); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// After tells whether f comes after the cursor in a listing.
func (c Cursor) After(f File) bool {
	return c.ID == "" || Compare(File{Created: c.Created, ID: c.ID}, f) < 0
}

// StoredAfter lists up to limit of the paid files held here whose term has
// not ended, with ids after after, in id order, with their payments and
// holders: a page of them, however many there are.
func (r *Registry) StoredAfter(ctx context.Context, after string, limit int) ([]File, error) {
	return r.store.StoredAfter(ctx, r.clock.Now(), after, limit)
}

// StoredTotals counts the paid files held here whose term has not ended and
// adds up their sizes.
func (r *Registry) StoredTotals(ctx context.Context) (n, bytes int64, err error) {
	return r.store.StoredTotals(ctx, r.clock.Now())
}

// CopiesPerNode counts the copies of those files that each node holds.
func (r *Registry) CopiesPerNode(ctx context.Context) (map[string]int64, error) {
	return r.store.CopiesPerNode(ctx, r.clock.Now())
}

// Unsettled lists the stored files changed since they were last settled,
// or settled at or before before, with their payments and holders.
func (r *Registry) Unsettled(ctx context.Context, before time.Time) ([]File, error) {
	return r.store.Unsettled(ctx, r.clock.Now(), before)
}

// Settle marks a file settled at a time: Unsettled leaves it out until it
// is written again, unless asked for files settled at or before then. A
// file written since f was read (its Rev) is not settled: Settle tells
// whether it did.
func (r *Registry) Settle(ctx context.Context, f File, at time.Time) (bool, error) {
	return r.store.Settle(ctx, f.ID, f.Rev, at)
}

// same tells whether two versions of a record are the same, this node's
// state included.
func same(a, b File) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb) && a.Price == b.Price
}

// HasContent tells whether a stored file has the content hash.
func (r *Registry) HasContent(ctx context.Context, hash string) (bool, error) {
	return r.store.HasContent(ctx, hash)
}

// Counts returns the number of files per state.
func (r *Registry) Counts(ctx context.Context) (map[string]int64, error) {
	counts, err := r.store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{StatePending: 0, StateStored: 0, StateExpired: 0, StateAbandoned: 0, StateCancelled: 0}
	for st, n := range counts {
		out[st] = n
	}
	return out, nil
}

// Gauges registers the files by state.
func (r *Registry) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_files", "Files by state.", "state", r.Counts)
}
