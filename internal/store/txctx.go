package store

import (
	"context"
	"database/sql"
)

// A transaction travels in a context: InTx puts it there, and every call that
// takes that context (a part's Store method, Q, a Stmt) joins it. That is how
// a write of one part and a write of another (a payment and the file it
// pays for, a blob reference and the asset that holds it) commit or roll back
// together without the parts passing a SQL transaction around.

type txKey struct{}

// InTx runs fn in a transaction carried by the context it is given. Called
// with a context that already carries one of db's transactions, it joins it:
// fn's writes then commit with the outer transaction. fn may run more than
// once (see Tx).
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if tx := txOf(ctx, db); tx != nil {
		return fn(ctx)
	}
	return db.Tx(ctx, func(tx *Tx) error { return fn(WithTx(ctx, tx)) })
}

// WithTx returns ctx carrying tx.
func WithTx(ctx context.Context, tx *Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFrom returns the transaction ctx carries, or nil.
func TxFrom(ctx context.Context) *Tx {
	tx, _ := ctx.Value(txKey{}).(*Tx)
	return tx
}

func txOf(ctx context.Context, db *DB) *Tx {
	if tx := TxFrom(ctx); tx != nil && tx.db == db {
		return tx
	}
	return nil
}

// Querier runs statements: a transaction or the database itself.
type Querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *Row
}

// Q is where a statement made with ctx runs: ctx's transaction, or db.
func (db *DB) Q(ctx context.Context) Querier {
	if tx := txOf(ctx, db); tx != nil {
		return tx
	}
	return db
}

// AfterCommit runs f once ctx's transaction commits (never if it rolls back),
// or at once when ctx carries none.
func AfterCommit(ctx context.Context, f func()) {
	if tx := TxFrom(ctx); tx != nil {
		tx.AfterCommit(f)
		return
	}
	f()
}
