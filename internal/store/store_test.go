package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestMigrateAndTx(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(path)
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
		_, err := tx.Exec(`INSERT INTO t(k,v) VALUES('a',1)`)
		return err
	}); err != nil || !ran {
		t.Fatalf("commit: err=%v ran=%v", err, ran)
	}
	db.Close()
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after reopen: n=%d err=%v", n, err)
	}
	now := time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)
	if got := ParseTime(Time(now)); !got.Equal(now) {
		t.Fatalf("time round trip: %v != %v", got, now)
	}
}
