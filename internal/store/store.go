// Package store is the node's metadata store: one SQLite database (pure Go, no
// cgo) in WAL mode with full fsync, shared by every part of the node. Each part
// owns its tables and brings its own numbered migrations, applied in order at
// start-up under a component name, so parts can evolve independently.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is the metadata database.
type DB struct {
	*sql.DB
}

// Open opens (creating if needed) the database file at path.
func Open(path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(15000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers queue at BEGIN instead of failing on upgrade
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8) // the default 2 closed and reopened connections under 8 concurrent requests
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: %w", path, err)
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,
		PRIMARY KEY (component, version))`); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{db}, nil
}

// Migrate applies the steps of component that are not applied yet, each in its
// own transaction. Step i (0-based) is version i+1; steps are never edited once
// released, only appended.
func (db *DB) Migrate(ctx context.Context, component string, steps []string) error {
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations WHERE component=?`, component).Scan(&have); err != nil {
		return err
	}
	if have > len(steps) {
		return fmt.Errorf("store: %s schema is version %d, newer than this binary knows (%d): upgrade dds", component, have, len(steps))
	}
	for v := have + 1; v <= len(steps); v++ {
		err := db.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, steps[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(component,version,applied_at) VALUES(?,?,?)`,
				component, v, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migrate %s to version %d: %w", component, v, err)
		}
	}
	return nil
}

// Tx is a transaction that can run functions once it has committed (to delete
// files that the committed state no longer references, for instance).
type Tx struct {
	*sql.Tx
	after []func()
}

// AfterCommit runs f after the transaction commits; never if it rolls back.
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// Tx runs fn in a transaction, committing if it returns nil.
func (db *DB) Tx(ctx context.Context, fn func(*Tx) error) error {
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &Tx{Tx: stx}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return err
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")

// NotFound maps sql.ErrNoRows to ErrNotFound.
func NotFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// Time formats t for storage: RFC 3339 UTC with nanoseconds, which sorts as text.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// ParseTime reads a time written by Time.
func ParseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
