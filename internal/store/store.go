// Package store is the node's metadata store, shared by every part of the
// node: by default one SQLite database (pure Go, no cgo) in WAL mode with full
// fsync in the data directory, or a PostgreSQL database (pgx). Each part owns
// its tables and brings its own numbered migrations, applied in order at
// start-up under a component name, so parts can evolve independently; domain
// SQL is written once for both (see dialect.go).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// DB is the metadata database. Its Exec, Query and QueryRow (with or without
// Context) take SQL with ? placeholders on either backend.
type DB struct {
	*sql.DB
	dialect Dialect
	// writers queues this process's SQLite transactions in Go, and commits
	// them in groups (group.go): SQLite lets one write at a time, and its
	// busy handler only polls, so under load a transaction could lose the
	// race for 15 s running and fail with SQLITE_BUSY (seen by bench/scale).
	// A pointer: DB is copied.
	writers *writeQueue
	// stmts keeps SQLite's statements prepared (stmt.go); nil on
	// PostgreSQL.
	stmts *stmtCache
}

// IsPostgres tells whether dsn names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database dsn names: postgres://user:password@host:port/db
// (PostgreSQL) or the path of a SQLite file (created if needed).
func Open(dsn string) (*DB, error) {
	var db *DB
	var err error
	if IsPostgres(dsn) {
		db, err = openPostgres(dsn)
	} else {
		db, err = openSQLite(dsn)
	}
	if err != nil {
		return nil, err
	}
	unlock, err := db.schemaLock(context.Background())
	if err != nil {
		db.Close()
		return nil, err
	}
	defer unlock()
	if _, err := db.Exec(translateDDL(db.dialect, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,
		PRIMARY KEY (component, version))`)); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func sqliteParams() url.Values {
	q := url.Values{}
	// mmap_size: reads map the database rather than copying each page in
	// with a pread and keeping it in a small per-connection cache. As the
	// database outgrows that cache, every read would otherwise cost more
	// system calls, and each connection's cache is memory of its own
	// (bench/scale at 200,000 objects: reads 17 % faster, the node's own
	// memory 22 MiB instead of 49). The mapped pages are the kernel's page
	// cache, shared by the connections and reclaimable; writes still go
	// through the WAL. 2147418112 is the most this SQLite build maps.
	//
	// cache_size: beyond those 2 GiB (about 330,000 small objects kept
	// inline) pages are read into each connection's own cache, 2 MiB by
	// default: 16 MiB more of the node's memory for 8 connections, and it
	// grew with the database until every cache was full. 256 KiB each keeps
	// the node's memory flat with no loss of read rate (bench/scale with the
	// map cut to 256 MiB to reach that state early: SQLite's part of the
	// memory 5.8 -> 34.5 MiB with 2 MiB caches, 3.9 -> 8.0 MiB with 256 KiB;
	// reads 4,064/s and 4,317/s at 250,000 objects). cache_spill keeps the
	// default's threshold for writing a large transaction's pages to the WAL
	// before its commit (the cache grows past its size for pages a
	// transaction has changed).
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(15000)", "foreign_keys(ON)",
		"mmap_size(2147418112)", "cache_size(-256)", "cache_spill(500)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers queue at BEGIN instead of failing on upgrade
	return q
}

func openSQLite(path string) (*DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?"+sqliteParams().Encode())
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
	return &DB{DB: db, dialect: SQLite, writers: newWriteQueue(), stmts: newStmtCache(db)}, nil
}

func openPostgres(dsn string) (*DB, error) {
	shown := dsn
	if u, err := url.Parse(dsn); err == nil {
		shown = u.Redacted()
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata database %s: %w: fix --meta (postgres://user:password@host:port/database)", shown, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("metadata database %s: %s", shown, startHint(err))
	}
	return &DB{DB: db, dialect: Postgres}, nil
}

// startHint says what to fix when PostgreSQL cannot be opened.
func startHint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			return fmt.Sprintf("the server refused the user or password (%s): fix them in --meta, or the server's pg_hba.conf", pe.Message)
		case pe.Code == "3D000":
			return fmt.Sprintf("%s: create it (createdb NAME, or CREATE DATABASE) or fix the database name in --meta", pe.Message)
		case pe.Code == "42501":
			return fmt.Sprintf("%s: grant the user CONNECT and CREATE on the database", pe.Message)
		}
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	return fmt.Sprintf("cannot reach the server (%v): start PostgreSQL, or fix the host and port in --meta", err)
}

// Dialect is the SQL of db's backend.
func (db *DB) Dialect() Dialect { return db.dialect }

func (db *DB) run() runner { return runner{c: db.stmts, db: db.DB} }

// ExecContext runs a statement outside a transaction; a write on SQLite
// takes its turn in the write queue (queued).
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if db.queued(q) {
		var r sql.Result
		err := db.queuedWrite(ctx, func(tx *Tx) error {
			var err error
			r, err = tx.ExecContext(ctx, q, args...)
			return err
		})
		return r, err
	}
	r, err := db.run().exec(ctx, bind(db.dialect, q), args)
	return r, classify(err)
}

// queued tells whether statement q, run outside a transaction, must take its
// turn in the write queue, as a transaction of its own: on SQLite, a write.
// Left to commit by itself, it would contend for SQLite's write lock with
// the batch that holds it, and SQLite's busy handler sleeps a millisecond
// and more at a time (a DEP-7 registration so run made creating assets in
// two requests 2.4x slower under 8 clients). (A write read through
// QueryContext is not queued: none is made.)
func (db *DB) queued(q string) bool { return db.writers != nil && isWrite(q) }

// queuedWrite runs fn as a transaction of its own in the write queue,
// waiting at most queuedWriteWait for its turn.
func (db *DB) queuedWrite(ctx context.Context, fn func(*Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, queuedWriteWait)
	defer cancel()
	return db.Tx(ctx, fn)
}

// queuedWriteWait bounds how long a write outside a transaction waits for
// its turn: as long as SQLite's busy handler waited for its lock
// (busy_timeout). A write made by mistake from inside a batch's function,
// with a context that lost the batch's transaction, then fails as it did
// rather than waiting for itself for ever.
var queuedWriteWait = 15 * time.Second // a variable for the tests

// isWrite tells whether statement q changes rows.
func isWrite(q string) bool {
	verb, _, _ := strings.Cut(strings.TrimSpace(q), " ")
	switch strings.ToUpper(verb) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return true
	}
	return false
}
func (db *DB) Exec(q string, args ...any) (sql.Result, error) {
	return db.ExecContext(context.Background(), q, args...)
}
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	r, err := db.run().query(ctx, bind(db.dialect, q), args)
	return r, classify(err)
}
func (db *DB) Query(q string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(context.Background(), q, args...)
}

// QueryRowContext runs a query outside a transaction. A write that returns
// a row (RETURNING) is queued like ExecContext's, and runs when the row is
// scanned.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *Row {
	if db.queued(q) {
		return &Row{queued: func(dest ...any) error {
			return db.queuedWrite(ctx, func(tx *Tx) error { return tx.QueryRowContext(ctx, q, args...).Scan(dest...) })
		}}
	}
	return &Row{row: db.run().queryRow(ctx, bind(db.dialect, q), args)}
}
func (db *DB) QueryRow(q string, args ...any) *Row {
	return db.QueryRowContext(context.Background(), q, args...)
}

// Row is sql.Row whose Scan reports an unreachable database as Unavailable.
type Row struct {
	row    *sql.Row
	tx     *Tx                     // nil outside a transaction
	queued func(dest ...any) error // a queued write, run by Scan (row is nil)
}

func (r *Row) Scan(dest ...any) error {
	if r.queued != nil {
		return r.queued(dest...)
	}
	err := r.row.Scan(dest...)
	if r.tx != nil {
		return r.tx.note(err)
	}
	return classify(err)
}

// Err is the query's error, but for a queued write, which Scan runs and
// whose error it returns.
func (r *Row) Err() error {
	if r.queued != nil {
		return nil
	}
	return classify(r.row.Err())
}

// Migrate applies the steps of component that are not applied yet, each in its
// own transaction. Step i (0-based) is version i+1; steps are never edited once
// released, only appended.
func (db *DB) Migrate(ctx context.Context, component string, steps []string) error {
	unlock, err := db.schemaLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations WHERE component=?`, component).Scan(&have); err != nil {
		return err
	}
	if have > len(steps) {
		return fmt.Errorf("store: %s schema is version %d, newer than this binary knows (%d): upgrade dds", component, have, len(steps))
	}
	for v := have + 1; v <= len(steps); v++ {
		err := db.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, stepFor(db.dialect, steps[v-1])); err != nil {
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
	db      *DB
	dialect Dialect
	after   []func()
	retry   bool // a statement failed in a way that a new attempt may not
	// shielded: run with others in one SQLite transaction (group.go), whose
	// statements must not be interrupted by one caller's cancellation.
	shielded bool
}

// AfterCommit runs f after the transaction commits; never if it rolls back.
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// Dialect is the SQL of tx's backend.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

func (tx *Tx) run() runner { return runner{c: tx.db.stmts, db: tx.Tx, tx: tx.Tx} }

// ctx is what tx's statements run under: never cancelled when shielded.
func (tx *Tx) ctx(ctx context.Context) context.Context {
	if tx.shielded {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = tx.ctx(ctx)
	r, err := tx.run().exec(ctx, bind(tx.dialect, q), args)
	return r, tx.note(err)
}
func (tx *Tx) Exec(q string, args ...any) (sql.Result, error) {
	return tx.ExecContext(context.Background(), q, args...)
}
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = tx.ctx(ctx)
	r, err := tx.run().query(ctx, bind(tx.dialect, q), args)
	return r, tx.note(err)
}
func (tx *Tx) Query(q string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(context.Background(), q, args...)
}
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *Row {
	ctx = tx.ctx(ctx)
	return &Row{row: tx.run().queryRow(ctx, bind(tx.dialect, q), args), tx: tx}
}
func (tx *Tx) QueryRow(q string, args ...any) *Row {
	return tx.QueryRowContext(context.Background(), q, args...)
}

func (tx *Tx) note(err error) error {
	if retryable(err) {
		tx.retry = true
	}
	return classify(err)
}

// maxAttempts bounds how often Tx runs a function that keeps meeting
// concurrent transactions.
const maxAttempts = 50

// Tx runs fn in a transaction, committing if it returns nil. On SQLite
// writers queue, and those that wait together commit together (group.go):
// fn's statements then ignore its context's cancellation, which would roll
// back the others too. On PostgreSQL the transaction is
// SERIALIZABLE, so fn sees what SQLite would show it, and fn runs again when
// the server aborted it for a concurrent one (serialization failure or
// deadlock): fn must not have effects outside the transaction but through
// AfterCommit.
func (db *DB) Tx(ctx context.Context, fn func(*Tx) error) error {
	var opts *sql.TxOptions
	if db.dialect == Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	if db.writers != nil {
		return db.groupTx(ctx, fn)
	}
	for attempt := 1; ; attempt++ {
		err := db.tx(ctx, opts, fn)
		if !errors.Is(err, errRetry) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("store: transaction aborted by concurrent ones %d times: %w", attempt, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff(attempt)):
		}
	}
}

var errRetry = errors.New("concurrent transaction")

// backoff is a random wait before attempt+1, growing up to 50 ms so that
// writers of one hot row spread out.
func backoff(attempt int) time.Duration {
	ceiling := min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)
	return time.Duration(rand.Int64N(int64(ceiling))) + 100*time.Microsecond
}

func (db *DB) tx(ctx context.Context, opts *sql.TxOptions, fn func(*Tx) error) error {
	stx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return classify(err)
	}
	tx := &Tx{Tx: stx, db: db, dialect: db.dialect}
	if err := fn(tx); err != nil || tx.retry {
		_ = stx.Rollback()
		if tx.retry {
			return fmt.Errorf("%w: %v", errRetry, err)
		}
		return err
	}
	if err := stx.Commit(); err != nil {
		if retryable(err) {
			return fmt.Errorf("%w: %v", errRetry, err)
		}
		return classify(err)
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

// retryable tells whether err is PostgreSQL aborting a transaction for a
// concurrent one.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Unavailable is an error from a database the node cannot reach for now
// (connection refused or lost, server shutting down): the request may be
// retried, and nothing it asked for was acknowledged. apierr makes it a 503.
type Unavailable struct{ Err error }

func (e *Unavailable) Error() string     { return "metadata database unavailable: " + e.Err.Error() }
func (e *Unavailable) Unwrap() error     { return e.Err }
func (e *Unavailable) Unavailable() bool { return true }

// Classify wraps an error of a statement's result (a row scan, rows.Err) in
// Unavailable when it says the database is out of reach.
func Classify(err error) error { return classify(err) }

// classify wraps errors that say the database is out of reach in Unavailable.
func classify(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var u *Unavailable
	if errors.As(err, &u) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-3: admin shutdown, crash
		// shutdown, cannot connect now; 53300: too many connections.
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P0") || pe.Code == "53300" {
			return &Unavailable{err}
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") {
		return &Unavailable{err}
	}
	return err
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

// IsConflict tells whether err is a unique or primary key violation.
func IsConflict(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Time formats t for storage: RFC 3339 UTC with nanoseconds, which sorts as text.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// ParseTime reads a time written by Time.
func ParseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// schemaLock keeps processes that start together on one PostgreSQL
// database (several processes of a node) from changing the schema at once:
// a session-level advisory lock, held on a connection of its own until
// unlock. SQLite's writers queue anyway.
func (db *DB) schemaLock(ctx context.Context) (unlock func(), err error) {
	if db.dialect != Postgres {
		return func() {}, nil
	}
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		return nil, classify(err)
	}
	const key = 0x646473 // "dds"
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		conn.Close()
		return nil, classify(err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
		conn.Close()
	}, nil
}
