package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/testtool"
)

func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, b := range testtool.MetaBackends {
		t.Run(b.Name, func(t *testing.T) { f(t, b.DSN(t)) })
	}
}

func open(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateAndTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		steps := []string{`CREATE TABLE t (k TEXT PRIMARY KEY)`, `ALTER TABLE t ADD COLUMN v INTEGER`}
		if err := db.Migrate(ctx, "test", steps); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx, "test", steps); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if err := db.Migrate(ctx, "test", steps[:1]); err == nil {
			t.Fatal("older binary migrated a newer schema")
		}
		ran := false
		err = db.Tx(ctx, func(tx *Tx) error {
			tx.AfterCommit(func() { ran = true })
			_, err := tx.Exec(`INSERT INTO t(k,v) VALUES('a',1)`)
			if err != nil {
				return err
			}
			return errors.New("abort")
		})
		if err == nil || ran {
			t.Fatalf("rolled back tx: err=%v ran=%v", err, ran)
		}
		if err := db.Tx(ctx, func(tx *Tx) error {
			tx.AfterCommit(func() { ran = true })
			_, err := tx.Exec(`INSERT INTO t(k,v) VALUES(?,?)`, "a", 1)
			return err
		}); err != nil || !ran {
			t.Fatalf("commit: err=%v ran=%v", err, ran)
		}
		db.Close()
		db = open(t, dsn)
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE k=?`, "a").Scan(&n); err != nil || n != 1 {
			t.Fatalf("after reopen: n=%d err=%v", n, err)
		}
		now := time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)
		if got := ParseTime(Time(now)); !got.Equal(now) {
			t.Fatalf("time round trip: %v != %v", got, now)
		}
	})
}

// The types domain SQL relies on behave alike: 64-bit integers, bytes,
// JSON fields, upserts, conflicts.
func TestPortableSQL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := open(t, dsn)
		if err := db.Migrate(ctx, "test", []string{`CREATE TABLE kv (
			k TEXT PRIMARY KEY, n INTEGER NOT NULL, b BLOB, j TEXT NOT NULL DEFAULT '{}');
			CREATE INDEX kv_j ON kv(json_extract(j, '$.doc'));
			CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)`}); err != nil {
			t.Fatal(err)
		}
		big := int64(1) << 40
		if _, err := db.Exec(`INSERT INTO kv(k,n,b,j) VALUES(?,?,?,?)`, "a", big, []byte{0, 1, 2}, `{"doc":"d1"}`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO kv(k,n) VALUES(?,?) ON CONFLICT(k) DO UPDATE SET n=kv.n+excluded.n`, "a", 1); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec(`INSERT INTO kv(k,n) VALUES(?,?)`, "a", 1)
		if !IsConflict(err) {
			t.Fatalf("duplicate key: %v, want a conflict", err)
		}
		var n int64
		var b []byte
		var k string
		if err := db.QueryRow(`SELECT k, n, b FROM kv WHERE json_extract(j, '$.doc') = ?`, "d1").Scan(&k, &n, &b); err != nil {
			t.Fatal(err)
		}
		if k != "a" || n != big+1 || string(b) != "\x00\x01\x02" {
			t.Fatalf("read back %q %d %x", k, n, b)
		}
		var id1, id2 int64
		if err := db.QueryRow(`INSERT INTO seq(v) VALUES(?) RETURNING id`, "x").Scan(&id1); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`INSERT INTO seq(v) VALUES(?) RETURNING id`, "y").Scan(&id2); err != nil {
			t.Fatal(err)
		}
		if id2 <= id1 {
			t.Fatalf("ids %d then %d", id1, id2)
		}
		// A literal ? and a comment with ? stay as they are.
		var s string
		if err := db.QueryRow(`SELECT 'what?' || ? -- why?`+"\n", "!").Scan(&s); err != nil || s != "what?!" {
			t.Fatalf("literal: %q %v", s, err)
		}
	})
}

// Concurrent read-modify-write transactions lose no update on either
// backend (PostgreSQL's serialization failures are retried).
func TestTxIsSerializable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := open(t, dsn)
		if err := db.Migrate(ctx, "test", []string{`CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO c VALUES('x',0)`}); err != nil {
			t.Fatal(err)
		}
		const workers, each = 6, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range each {
					err := db.Tx(ctx, func(tx *Tx) error {
						var n int
						if err := tx.QueryRow(`SELECT n FROM c WHERE k='x'`).Scan(&n); err != nil {
							return err
						}
						_, err := tx.Exec(`UPDATE c SET n=? WHERE k='x'`, n+1)
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(`SELECT n FROM c`).Scan(&n); err != nil || n != workers*each {
			t.Fatalf("counter %d (err %v), want %d", n, err, workers*each)
		}
	})
}

func TestRebind(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT a FROM t WHERE b=? AND c=?`:          `SELECT a FROM t WHERE b=$1 AND c=$2`,
		`SELECT '?', "?x" FROM t WHERE b=? -- ?`:     `SELECT '?', "?x" FROM t WHERE b=$1 -- ?`,
		"SELECT 1 -- why?\nWHERE x=?":                "SELECT 1 -- why?\nWHERE x=$1",
		`SELECT json_extract(attrs, '$.doc') FROM p`: `SELECT ((attrs)::jsonb->>'doc') FROM p`,
		`SELECT a FROM t INDEXED BY t_b WHERE b>?`:   `SELECT a FROM t WHERE b>$1`,
	} {
		if got := bind(Postgres, q); got != want {
			t.Errorf("bind(%q) = %q, want %q", q, got, want)
		}
		if got := bind(SQLite, q); got != q {
			t.Errorf("SQLite changed %q to %q", q, got)
		}
	}
}

func TestTranslateDDL(t *testing.T) {
	in := `CREATE TABLE s (id INTEGER PRIMARY KEY AUTOINCREMENT, n integer, b BLOB, note TEXT DEFAULT 'INTEGER')`
	want := `CREATE TABLE s (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, b BYTEA, note TEXT COLLATE "C" DEFAULT 'BIGINT')`
	if got := stepFor(Postgres, in); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := stepFor(SQLite, in); got != in {
		t.Errorf("SQLite changed it: %s", got)
	}
	d := Dialects("A", "B")
	if stepFor(SQLite, d) != "A" || stepFor(Postgres, d) != "B" {
		t.Errorf("Dialects: %q %q", stepFor(SQLite, d), stepFor(Postgres, d))
	}
}

// Bad configuration fails at start with what to fix.
func TestOpenPostgresErrors(t *testing.T) {
	base, err := url.Parse(testtool.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for name, c := range map[string]struct {
		edit func(u *url.URL)
		want string
	}{
		"unreachable": {func(u *url.URL) { u.Host = closed }, "start PostgreSQL, or fix the host and port"},
		"password":    {func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "wrong") }, "refused the user or password"},
		"database":    {func(u *url.URL) { u.Path = "/no_such_db" }, "create it"},
	} {
		t.Run(name, func(t *testing.T) {
			u := *base
			c.edit(&u)
			db, err := Open(u.String())
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("error %q: want %q, and no password", err, c.want)
			}
		})
	}
}

// A database that goes away while serving gives errors that the faces
// answer with 503, and the store carries on once it is back.
func TestPostgresGoneIsUnavailable(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testtool.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := testtool.Proxy(t, u.Host)
	u.Host = p.Addr
	db := open(t, u.String())
	if err := db.Migrate(ctx, "test", []string{`CREATE TABLE t (k TEXT PRIMARY KEY)`}); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	err = db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO t(k) VALUES(?)`, "a")
		return err
	})
	if e, _ := apierr.As(err); e.Status != 503 {
		t.Fatalf("write with the database gone: %v (status %d), want 503", err, e.Status)
	}
	if _, err := db.Exec(`INSERT INTO t(k) VALUES(?)`, "a"); !apierr.Unavailable(err) {
		t.Fatalf("exec: %v, want Unavailable", err)
	}
	p.Start(t)
	if _, err := db.Exec(`INSERT INTO t(k) VALUES(?)`, "a"); err != nil {
		t.Fatalf("after the database came back: %v", err)
	}
}

func ExampleDialects() {
	fmt.Println(stepFor(Postgres, Dialects(`UPDATE t SET seq = rowid`, `SELECT 1`)))
	// Output: SELECT 1
}

// Processes of one node starting together on one PostgreSQL database take
// turns at the schema: none fails on a table another is creating.
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	dsn := testtool.Postgres(t)
	steps := []string{`CREATE TABLE together (id INTEGER PRIMARY KEY)`, `ALTER TABLE together ADD COLUMN name TEXT`}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			db, err := Open(dsn)
			if err == nil {
				err = db.Migrate(context.Background(), "together", steps)
				db.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteConnectionSettings checks that every connection of the pool
// gets the settings sqliteParams gives: SQLite ignores a pragma it does not
// know, so a misspelt one would silently fall back to the default (for
// cache_size, memory that grows with the database).
func TestSQLiteConnectionSettings(t *testing.T) {
	db := open(t, t.TempDir()+"/meta.db")
	ctx := context.Background()
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"mmap_size": "2147418112", "cache_size": "-256", "cache_spill": "500"}
	var conns []*sql.Conn // held, so that each check reads another connection
	for range 3 {
		c, err := db.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		for name, v := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
				t.Fatal(name, err)
			}
			if got != v {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", len(conns), name, got, v)
			}
		}
	}
}
