package store

import (
	"context"
	"testing"
)

// A relaxed commit does not wait for the disk, and is seen at once by
// another handle of the database (another process of the node).
func TestRelaxed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		a, b := open(t, dsn), open(t, dsn)
		if _, err := a.Exec(`CREATE TABLE r (k TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		q := `PRAGMA synchronous`
		if a.Dialect() == Postgres {
			q = `SHOW synchronous_commit`
		}
		var relaxed, strict string
		if err := a.Relaxed().QueryRowContext(ctx, q).Scan(&relaxed); err != nil {
			t.Fatal(err)
		}
		if err := a.QueryRowContext(ctx, q).Scan(&strict); err != nil {
			t.Fatal(err)
		}
		// SQLite: 1 is NORMAL, 2 FULL. (The test PostgreSQL server runs
		// with synchronous_commit off anyway.)
		want := map[Dialect][2]string{SQLite: {"1", "2"}, Postgres: {"off", strict}}[a.Dialect()]
		if relaxed != want[0] || strict != want[1] {
			t.Fatalf("relaxed %s, strict %s; want %s", relaxed, strict, want)
		}
		if _, err := a.Relaxed().ExecContext(ctx, `INSERT INTO r(k) VALUES(?)`, "x"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.QueryRowContext(ctx, `SELECT COUNT(*) FROM r WHERE k=?`, "x").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the other handle sees %d rows, %v", n, err)
		}
	})
}
