package testtool

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// PostgresCommand starts the test server and points the tests at it.
const PostgresCommand = `eval "$(.ci/postgres)" (from the repository root), then run the tests again`

var admin struct {
	once sync.Once
	db   *sql.DB
	err  error
}

// Postgres returns the URL of a fresh, empty schema of its own on the
// PostgreSQL server that DDS_TEST_POSTGRES names (the schema is its search
// path), dropped when t ends; without DDS_TEST_POSTGRES t is skipped loudly.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DDS_TEST_POSTGRES")
	if base == "" {
		Missing(t, "a PostgreSQL server (DDS_TEST_POSTGRES)", PostgresCommand)
	}
	admin.once.Do(func() {
		admin.db, admin.err = sql.Open("pgx", base)
		if admin.err == nil {
			admin.db.SetMaxOpenConns(2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			admin.err = admin.db.PingContext(ctx)
		}
	})
	if admin.err != nil {
		t.Fatalf("DDS_TEST_POSTGRES=%s: %v (start the server with %s)", base, admin.err, PostgresCommand)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DDS_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Meta is the metadata database a test node uses: "" (its data directory's
// SQLite file) unless DDS_TEST_META=postgres, then a fresh PostgreSQL schema
// (see Postgres).
func Meta(t testing.TB) string {
	t.Helper()
	switch m := os.Getenv("DDS_TEST_META"); m {
	case "", "sqlite":
		return ""
	case "postgres":
		return Postgres(t)
	default:
		t.Fatalf("DDS_TEST_META=%q: want sqlite or postgres", m)
		return ""
	}
}

// MetaBackends are the metadata databases a table-driven test runs on; DSN
// gives a fresh, empty one (PostgreSQL is skipped loudly without
// DDS_TEST_POSTGRES).
var MetaBackends = []struct {
	Name string
	DSN  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "meta.db") }},
	{"postgres", func(t *testing.T) string { return Postgres(t) }},
}
