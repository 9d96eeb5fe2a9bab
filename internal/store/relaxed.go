package store

import (
	"context"
	"database/sql"
	"net/url"
)

// A relaxed commit returns before the database has flushed it to disk: it
// survives the process (kill -9: SQLite's WAL append is in the operating
// system's cache, and PostgreSQL has it in its WAL buffers) and is seen at
// once by every process of the node, but an operating system or database
// server crash may forget it. A commit costs an fsync (about 0.6 ms on the
// reference machine) that such records do not need: a replay cache whose
// entries bound themselves in time, for instance.
//
// SQLite sets synchronous per connection, so relaxed statements run on
// connections of their own with synchronous=NORMAL (in WAL mode: consistent
// after a crash, only the last commits may be rolled back; the next FULL
// commit of any connection flushes them too). PostgreSQL sets
// synchronous_commit per session: off on a pool of its own.

// Relaxed runs statements, each its own transaction, with relaxed commits.
func (db *DB) Relaxed() Querier {
	if db.relaxed == nil {
		return db
	}
	return relaxed{db}
}

type relaxed struct{ db *DB }

func (r relaxed) run() runner { return runner{c: r.db.relaxedStmts, db: r.db.relaxed} }

func (r relaxed) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if r.db.writers != nil {
		// Queued behind this process's transactions in Go rather than
		// polling SQLite's lock (see DB.writers).
		r.db.writers.Lock()
		defer r.db.writers.Unlock()
	}
	res, err := r.run().exec(ctx, bind(r.db.dialect, q), args)
	return res, classify(err)
}

func (r relaxed) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := r.run().query(ctx, bind(r.db.dialect, q), args)
	return rows, classify(err)
}

func (r relaxed) QueryRowContext(ctx context.Context, q string, args ...any) *Row {
	return &Row{row: r.run().queryRow(ctx, bind(r.db.dialect, q), args)}
}

func openRelaxedSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?"+sqliteParams("NORMAL").Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // writers queue anyway
	db.SetConnMaxIdleTime(0)
	return db, nil
}

func openRelaxedPostgres(dsn string) (*sql.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("synchronous_commit", "off") // a run-time parameter of the session
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	return db, nil
}

// Close closes the database and its relaxed connections.
func (db *DB) Close() error {
	if db.relaxed != nil {
		db.relaxed.Close()
	}
	return db.DB.Close()
}
