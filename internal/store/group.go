package store

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
)

// Group commit. SQLite commits one transaction at a time, each with an fsync
// of its log (about 0.8 ms on the reference machine), so a node whose
// requests each write a little was bound by fsyncs, not by work. The
// transactions of one process that wait for SQLite's lock are run together
// instead: the first to get the lock runs every waiting one in one SQLite
// transaction, each inside a savepoint of its own (a function that fails
// rolls back its own writes only), commits once, and wakes them all. Each
// caller sees what it would have seen alone, run in the order they queued;
// none is told of its commit before the fsync that makes it durable.

// maxBatch bounds the transactions committed together, and so how long the
// last of them waits.
const maxBatch = 64

// writeQueue is SQLite's write lock in Go, and the transactions waiting for
// it.
type writeQueue struct {
	lock    chan struct{}
	mu      sync.Mutex
	waiting []*pending
	commits atomic.Int64 // SQLite transactions the batches made
}

func newWriteQueue() *writeQueue { return &writeQueue{lock: make(chan struct{}, 1)} }

func (q *writeQueue) Lock()   { q.lock <- struct{}{} }
func (q *writeQueue) Unlock() { <-q.lock }

// pending is a transaction waiting to be run in a batch.
type pending struct {
	ctx  context.Context
	fn   func(*Tx) error
	tx   *Tx
	err  error
	done chan struct{} // closed once the batch that ran it has ended
}

// groupTx runs fn in the next batch, leading it if no other caller does.
func (db *DB) groupTx(ctx context.Context, fn func(*Tx) error) error {
	q := db.writers
	p := &pending{ctx: ctx, fn: fn, done: make(chan struct{})}
	q.mu.Lock()
	q.waiting = append(q.waiting, p)
	q.mu.Unlock()
	for {
		select {
		case <-p.done:
			if p.err != nil {
				return p.err
			}
			for _, f := range p.tx.after {
				f()
			}
			return nil
		case q.lock <- struct{}{}:
			q.mu.Lock()
			n := min(len(q.waiting), maxBatch)
			batch := slices.Clone(q.waiting[:n])
			q.waiting = slices.Delete(q.waiting, 0, n)
			q.mu.Unlock()
			if len(batch) > 0 {
				db.runBatch(batch)
			}
			<-q.lock
		case <-ctx.Done():
			q.mu.Lock()
			i := slices.Index(q.waiting, p)
			if i >= 0 {
				q.waiting = slices.Delete(q.waiting, i, i+1)
			}
			q.mu.Unlock()
			if i >= 0 {
				return ctx.Err()
			}
			<-p.done // a batch has it: wait for its outcome
			ctx = context.Background()
		}
	}
}

// runBatch runs batch in one transaction and commits it.
func (db *DB) runBatch(batch []*pending) {
	defer func() {
		for _, p := range batch {
			close(p.done)
		}
	}()
	// Not the leader's context: its cancellation would roll back the others.
	stx, err := db.DB.BeginTx(context.Background(), nil)
	if err != nil {
		for _, p := range batch {
			p.err = classify(err)
		}
		return
	}
	// abort gives up the whole transaction: a statement broke it.
	abort := func(err error) {
		_ = stx.Rollback()
		for _, p := range batch {
			if p.err == nil {
				p.err = fmt.Errorf("store: a transaction committed with others failed: %w", classify(err))
			}
		}
	}
	db.writers.commits.Add(1)
	multi := len(batch) > 1
	ok := 0
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			continue
		}
		p.tx = &Tx{Tx: stx, db: db, dialect: db.dialect, shielded: true}
		if multi {
			if _, err := stx.Exec(`SAVEPOINT batch`); err != nil {
				abort(err)
				return
			}
		}
		if p.err = run(p); p.err != nil {
			if multi {
				_, err := stx.Exec(`ROLLBACK TO batch`)
				if err == nil {
					_, err = stx.Exec(`RELEASE batch`)
				}
				if err != nil {
					abort(err)
					return
				}
			}
			continue
		}
		if multi {
			if _, err := stx.Exec(`RELEASE batch`); err != nil {
				abort(err)
				return
			}
		}
		ok++
	}
	if ok == 0 {
		_ = stx.Rollback()
		return
	}
	if err := stx.Commit(); err != nil {
		for _, p := range batch {
			if p.err == nil {
				p.err = classify(err)
			}
		}
	}
}

// run calls p's function; a panic in it fails p alone, as it would have
// failed p's own request, rather than the caller that leads the batch.
func run(p *pending) (err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("store: a transaction's function panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("store: internal error: %v", r)
		}
	}()
	return p.fn(p.tx)
}
