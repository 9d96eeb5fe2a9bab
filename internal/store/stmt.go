package store

import (
	"context"
	"database/sql"
	"sync"
)

// Stmt is a query of a hot path, prepared on first use and kept: SQLite then
// parses and plans it once per connection instead of on every call (parsing
// was a third of a small GET's time).
type Stmt struct {
	db *DB
	q  string
	mu sync.Mutex
	st *sql.Stmt
}

// Stmt returns q as a statement prepared when first used. q is written like
// any other query of the node (? placeholders).
func (db *DB) Stmt(q string) *Stmt { return &Stmt{db: db, q: q} }

func (s *Stmt) prepared(ctx context.Context) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		// On failure (the database is closing, say) the plain query below
		// reports the error; the next call tries again.
		s.st, _ = s.db.DB.PrepareContext(ctx, bind(s.db.dialect, s.q))
	}
	return s.st
}

// QueryRowContext runs the query for at most one row, in ctx's transaction
// if it carries one.
func (s *Stmt) QueryRowContext(ctx context.Context, args ...any) *Row {
	if tx := txOf(ctx, s.db); tx != nil {
		return tx.QueryRowContext(ctx, s.q, args...)
	}
	if st := s.prepared(ctx); st != nil {
		return &Row{row: st.QueryRowContext(ctx, args...)}
	}
	return s.db.QueryRowContext(ctx, s.q, args...)
}
