package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache keeps every query of the node prepared on a SQLite database:
// SQLite then parses and plans a statement once per connection rather than
// on every call (parsing was a third of a small GET's CPU and an eighth of a
// small asset's create). database/sql prepares a cached statement again on
// each connection that runs it, and a transaction reuses its connection's.
// PostgreSQL needs none: pgx keeps its own per-connection cache.
type stmtCache struct {
	db *sql.DB
	m  sync.Map // query -> *sql.Stmt
	n  atomic.Int32
}

// stmtCacheMax bounds the cache: queries built at run time (an IN list of
// any length) beyond it run unprepared.
const stmtCacheMax = 1024

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db} }

// stmt returns q prepared, or nil when it cannot be (the query is then run
// as it is and reports its own error).
func (c *stmtCache) stmt(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= stmtCacheMax {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	c.n.Add(1)
	return st
}

// runner runs a query on a database or in a transaction, through its
// cached statement when there is one.
type runner struct {
	c  *stmtCache
	db interface {
		ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	}
	tx *sql.Tx // nil outside a transaction
}

// prepared is q's cached statement, joined to r's transaction if any.
func (r runner) prepared(ctx context.Context, q string) *sql.Stmt {
	st := r.c.stmt(ctx, q)
	if st != nil && r.tx != nil {
		st = r.tx.StmtContext(ctx, st)
	}
	return st
}

func (r runner) exec(ctx context.Context, q string, args []any) (sql.Result, error) {
	if st := r.prepared(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return r.db.ExecContext(ctx, q, args...)
}

func (r runner) query(ctx context.Context, q string, args []any) (*sql.Rows, error) {
	if st := r.prepared(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, q, args...)
}

func (r runner) queryRow(ctx context.Context, q string, args []any) *sql.Row {
	if st := r.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, q, args...)
}
