package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/testtool"
)

// BenchmarkSmallWrite is the metadata work of a small acknowledged write, as
// a face does it: one transaction that reads a row, inserts a record and
// bumps the writer's counter, committed durably; on each backend, with 1 and
// 8 writers per CPU at once. Compare ops/s in one run:
//
//	eval "$(DDS_PG_DURABLE=1 DDS_PG_PORT=55433 DDS_PG_DIR=/tmp/dds-bench-postgres .ci/postgres)"
//	go test ./internal/store -run XXX -bench SmallWrite -benchtime 2s
func BenchmarkSmallWrite(b *testing.B) {
	for _, backend := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return b.TempDir() + "/meta.db" }},
		{"postgres", func(b *testing.B) string { return testtool.Postgres(b) }},
	} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/writers=%d", backend.name, writers), func(b *testing.B) {
				ctx := context.Background()
				db, err := Open(backend.dsn(b))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if err := db.Migrate(ctx, "bench", []string{`CREATE TABLE accounts (id TEXT PRIMARY KEY, files INTEGER NOT NULL);
					CREATE TABLE records (id TEXT PRIMARY KEY, account TEXT NOT NULL, size INTEGER NOT NULL, at TEXT NOT NULL)`}); err != nil {
					b.Fatal(err)
				}
				accounts := writers * runtime.GOMAXPROCS(0) // RunParallel's goroutines
				for w := range accounts {
					if _, err := db.Exec(`INSERT INTO accounts VALUES(?,0)`, fmt.Sprint("a", w)); err != nil {
						b.Fatal(err)
					}
				}
				var seq, next atomic.Int64
				b.SetParallelism(writers)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					// Each writer its own account, as different clients' writes.
					account := fmt.Sprint("a", next.Add(1)%int64(accounts))
					for pb.Next() {
						id := fmt.Sprint("r", seq.Add(1))
						err := db.Tx(ctx, func(tx *Tx) error {
							var n int64
							if err := tx.QueryRow(`SELECT files FROM accounts WHERE id=?`, account).Scan(&n); err != nil {
								return err
							}
							if _, err := tx.Exec(`INSERT INTO records(id,account,size,at) VALUES(?,?,?,?)`, id, account, 1024, Time(time.Now())); err != nil {
								return err
							}
							_, err := tx.Exec(`UPDATE accounts SET files=? WHERE id=?`, n+1, account)
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			})
		}
	}
}
