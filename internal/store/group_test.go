package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// queued runs fns as transactions of a new SQLite database with a table t,
// queued behind a held write lock so that they commit as one batch.
func queued(t *testing.T, fns []func(*Tx) error) (db *DB, errs []error) {
	t.Helper()
	db = open(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.writers.Lock()
	errs = make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Tx(context.Background(), fn)
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		db.writers.mu.Lock()
		n := len(db.writers.waiting)
		db.writers.mu.Unlock()
		if n == len(fns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions queued", n, len(fns))
		}
		time.Sleep(time.Millisecond)
	}
	before := db.writers.commits.Load()
	db.writers.Unlock()
	wg.Wait()
	if got := db.writers.commits.Load() - before; got != 1 {
		t.Fatalf("%d queued transactions took %d commits, want 1", len(fns), got)
	}
	return db, errs
}

// Transactions that wait together commit together, and each keeps its own
// outcome: a failed one's writes are rolled back (and what it registered
// to run after its commit never runs) while the others' are kept.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	var after atomic.Int64
	fns := make([]func(*Tx) error, 40)
	for i := range fns {
		fns[i] = func(tx *Tx) error {
			tx.AfterCommit(func() { after.Add(1) })
			if _, err := tx.Exec(`INSERT INTO t(k) VALUES(?)`, i); err != nil {
				return err
			}
			if i%3 == 0 {
				return fmt.Errorf("refused %d", i)
			}
			if i == 7 { // a constraint violation fails this one alone
				_, err := tx.Exec(`INSERT INTO t(k) VALUES(?)`, i)
				return err
			}
			return nil
		}
	}
	db, errs := queued(t, fns)
	want := map[int]bool{}
	for i, err := range errs {
		if failed := i%3 == 0 || i == 7; failed != (err != nil) {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if err == nil {
			want[i] = true
		}
	}
	rows, err := db.Query(`SELECT k FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var k int
		rows.Scan(&k)
		if !want[k] {
			t.Fatalf("row %d of a failed transaction was committed", k)
		}
		got++
	}
	if got != len(want) || after.Load() != int64(len(want)) {
		t.Fatalf("%d rows and %d after-commit calls, want %d", got, after.Load(), len(want))
	}
}

// A panic in one transaction's function fails that transaction alone, even
// when another caller's goroutine runs it.
func TestGroupCommitPanicFailsItsOwn(t *testing.T) {
	fns := make([]func(*Tx) error, 10)
	for i := range fns {
		fns[i] = func(tx *Tx) error {
			if _, err := tx.Exec(`INSERT INTO t(k) VALUES(?)`, i); err != nil {
				return err
			}
			if i == 4 {
				panic("bug")
			}
			return nil
		}
	}
	db, errs := queued(t, fns)
	for i, err := range errs {
		if (i == 4) != (err != nil) {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 9 {
		t.Fatalf("%d rows, %v", n, err)
	}
}

// A caller that gives up while queued is taken out of the queue; one whose
// context ends while its batch runs cannot interrupt the others'.
func TestGroupCommitCancelledCaller(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.writers.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error)
	go func() {
		gone <- db.Tx(ctx, func(tx *Tx) error { _, err := tx.Exec(`INSERT INTO t(k) VALUES(1)`); return err })
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while queued: %v", err)
	}
	db.writers.Unlock()

	ctx, cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make([]error, 2)
	started := make(chan struct{})
	db.writers.Lock()
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = db.Tx(ctx, func(tx *Tx) error {
			close(started)
			cancel() // the caller leaves mid-transaction
			_, err := tx.ExecContext(ctx, `INSERT INTO t(k) VALUES(2)`)
			return err
		})
	}()
	time.Sleep(10 * time.Millisecond)
	go func() {
		defer wg.Done()
		errs[1] = db.Tx(context.Background(), func(tx *Tx) error { _, err := tx.Exec(`INSERT INTO t(k) VALUES(3)`); return err })
	}()
	time.Sleep(10 * time.Millisecond)
	db.writers.Unlock()
	wg.Wait()
	<-started
	if errs[1] != nil {
		t.Fatalf("the other transaction of the batch: %v", errs[1])
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE k=3`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the other transaction's row: %d, %v", n, err)
	}
}

// A write made outside a transaction, through Exec or through QueryRow (a
// RETURNING row), waits in the write queue like a transaction, rather than
// taking SQLite's lock from under a batch.
func TestWriteOutsideATransactionIsQueued(t *testing.T) {
	for _, w := range []struct {
		name  string
		write func(db *DB) error
	}{
		{"exec", func(db *DB) error { _, err := db.Exec(`INSERT INTO t(v) VALUES(1)`); return err }},
		{"returning", func(db *DB) error {
			var v int
			if err := db.QueryRow(`INSERT INTO t(v) VALUES(1) RETURNING v`).Scan(&v); err != nil || v != 1 {
				return fmt.Errorf("returned %d, %v", v, err)
			}
			return nil
		}},
	} {
		t.Run(w.name, func(t *testing.T) {
			db := sqliteWithTable(t)
			db.writers.Lock()
			done := make(chan error, 1)
			go func() { done <- w.write(db) }()
			for deadline := time.Now().Add(5 * time.Second); ; {
				db.writers.mu.Lock()
				n := len(db.writers.waiting)
				db.writers.mu.Unlock()
				if n == 1 {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the write committed on its own while the queue was held (%v)", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("the write never queued")
				}
				time.Sleep(time.Millisecond)
			}
			db.writers.Unlock()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("rows %d, %v", n, err)
			}
		})
	}
}

// A write made from inside a transaction's function with a context that
// does not carry it cannot take its turn (the function holds the queue): it
// fails after queuedWriteWait instead of waiting for ever.
func TestWriteFromInsideATransactionFails(t *testing.T) {
	db := sqliteWithTable(t)
	defer func(d time.Duration) { queuedWriteWait = d }(queuedWriteWait)
	queuedWriteWait = 100 * time.Millisecond
	var inner error
	err := db.Tx(context.Background(), func(tx *Tx) error {
		_, inner = db.ExecContext(context.Background(), `INSERT INTO t(v) VALUES(1)`)
		return nil
	})
	if err != nil || !errors.Is(inner, context.DeadlineExceeded) {
		t.Fatalf("the transaction: %v; the write inside it: %v, want a deadline error", err, inner)
	}
}

// sqliteWithTable is a new SQLite database with a table t (v INTEGER).
func sqliteWithTable(t *testing.T) *DB {
	t.Helper()
	db := open(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}
