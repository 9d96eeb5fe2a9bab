package persist_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// hashOf is a made-up object hash: c repeated.
func hashOf(c string) string { return strings.Repeat(c, 64) }

func TestBlobsRefCounting(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var r blob.Refs = persist.NewBlobs(db)
		a := blob.Info{Hash: hashOf("a"), Size: 5}
		if live, err := r.Ref(ctx, a, "o/first", nil); err != nil || live != "o/first" {
			t.Fatalf("first ref: %q, %v", live, err)
		}
		// The same content uploaded again refers to the copy stored first.
		if live, err := r.Ref(ctx, a, "o/second", nil); err != nil || live != "o/first" {
			t.Fatalf("second ref: %q, %v", live, err)
		}
		if n, err := r.References(ctx, a.Hash); err != nil || n != 2 {
			t.Fatalf("references = %d, %v", n, err)
		}
		if objs, bytes, err := r.Usage(ctx); err != nil || objs != 1 || bytes != 5 {
			t.Fatalf("usage = %d objects, %d bytes, %v", objs, bytes, err)
		}
		if _, ok, err := r.Forget(ctx, a.Hash); err != nil || ok {
			t.Fatalf("a referenced object forgotten: %v, %v", ok, err)
		}
		for i := range 2 {
			if ok, err := r.Unref(ctx, a.Hash); err != nil || !ok {
				t.Fatalf("unref %d: %v, %v", i, ok, err)
			}
		}
		if ok, err := r.Unref(ctx, a.Hash); err != nil || ok {
			t.Fatalf("unref below zero: %v, %v", ok, err)
		}
		if ok, err := r.Unref(ctx, hashOf("f")); err != nil || ok {
			t.Fatalf("unref of an object with no row: %v, %v", ok, err)
		}
		if objs, _, err := r.Usage(ctx); err != nil || objs != 0 {
			t.Fatalf("usage counts an unreferenced object: %d, %v", objs, err)
		}
		if zero, err := r.Unreferenced(ctx); err != nil || !slices.Equal(zero, []string{a.Hash}) {
			t.Fatalf("unreferenced = %v, %v", zero, err)
		}
		if used, err := r.LocationUsed(ctx, "o/first"); err != nil || !used {
			t.Fatalf("the row's location unused: %v, %v", used, err)
		}
		if loc, ok, err := r.Forget(ctx, a.Hash); err != nil || !ok || loc != "o/first" {
			t.Fatalf("forget: %q, %v, %v", loc, ok, err)
		}
		if _, ok, err := r.Forget(ctx, a.Hash); err != nil || ok {
			t.Fatalf("forgotten twice: %v, %v", ok, err)
		}
		if _, _, ok, err := r.Find(ctx, a.Hash); err != nil || ok {
			t.Fatalf("a forgotten object has a location: %v, %v", ok, err)
		}
		if n, err := r.References(ctx, a.Hash); err != nil || n != 0 {
			t.Fatalf("references of an object with no row = %d, %v", n, err)
		}
		if used, err := r.LocationUsed(ctx, "o/first"); err != nil || used {
			t.Fatalf("a forgotten location used: %v, %v", used, err)
		}
	})
}

func TestBlobsMoveAndPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := persist.NewBlobs(db)
		var want []string
		for _, c := range []string{"3", "1", "b", "0", "a"} {
			if _, err := r.Ref(ctx, blob.Info{Hash: hashOf(c), Size: 1}, "", nil); err != nil {
				t.Fatal(err)
			}
			want = append(want, hashOf(c))
		}
		// An unreferenced one is not listed.
		if _, err := r.Ref(ctx, blob.Info{Hash: hashOf("2"), Size: 1}, "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Unref(ctx, hashOf("2")); err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		var got []string
		for after := ""; ; {
			page, err := r.Referenced(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("a page of %d, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages = %v, want %v", got, want)
		}
		if err := r.Move(ctx, hashOf("a"), "o/restored", nil); err != nil {
			t.Fatal(err)
		}
		if loc, _, ok, err := r.Find(ctx, hashOf("a")); err != nil || !ok || loc != "o/restored" {
			t.Fatalf("location after move: %q, %v, %v", loc, ok, err)
		}
	})
}

// A reference made in a transaction that rolls back is not there, and what
// was to run after its commit never runs; after a commit it does.
func TestBlobsInTx(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := persist.NewBlobs(db)
		h := hashOf("c")
		ran := false
		refused := errors.New("refused")
		err := r.InTx(ctx, func(ctx context.Context) error {
			if _, err := r.Ref(ctx, blob.Info{Hash: h, Size: 3}, "", nil); err != nil {
				return err
			}
			r.AfterCommit(ctx, func() { ran = true })
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("InTx: %v", err)
		}
		if n, err := r.References(ctx, h); err != nil || n != 0 || ran {
			t.Fatalf("after a rollback: %d references (%v), after-commit ran: %v", n, err, ran)
		}
		err = r.InTx(ctx, func(ctx context.Context) error {
			if _, err := r.Ref(ctx, blob.Info{Hash: h, Size: 3}, "", nil); err != nil {
				return err
			}
			r.AfterCommit(ctx, func() { ran = true })
			if ran {
				t.Error("after-commit ran before the commit")
			}
			return nil
		})
		if err != nil || !ran {
			t.Fatalf("InTx: %v, after-commit ran: %v", err, ran)
		}
		if n, err := r.References(ctx, h); err != nil || n != 1 {
			t.Fatalf("after a commit: %d references, %v", n, err)
		}
	})
}

// Concurrent references to one object all count (PostgreSQL retries the
// transactions it aborts for one another).
func TestBlobsConcurrentRefs(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := persist.NewBlobs(db)
		h := hashOf("d")
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 5 {
					err := r.InTx(ctx, func(ctx context.Context) error {
						_, err := r.Ref(ctx, blob.Info{Hash: h, Size: 1}, "", nil)
						return err
					})
					if err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if n, err := r.References(ctx, h); err != nil || n != 40 {
			t.Fatalf("references = %d, want 40 (%v)", n, err)
		}
	})
}

// A row that keeps its object's content gives it back byte for byte (an
// empty slice is not NULL), counts as inline, and a second reference to the
// same content keeps the first copy; Move takes the content out.
func TestBlobsInlineContent(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := persist.NewBlobs(db)
		content := []byte{0, 1, 2, 0xff, 'x'}
		h := hashOf("inline")
		if _, err := r.Ref(ctx, blob.Info{Hash: h, Size: 5}, "", content); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Ref(ctx, blob.Info{Hash: h, Size: 5}, "", []byte("other")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Ref(ctx, blob.Info{Hash: hashOf("file"), Size: 5}, "", nil); err != nil {
			t.Fatal(err)
		}
		loc, got, ok, err := r.Find(ctx, h)
		if err != nil || !ok || loc != "" || !bytes.Equal(got, content) {
			t.Fatalf("Find = %q, %x, %v, %v", loc, got, ok, err)
		}
		if n, err := r.Inline(ctx); err != nil || n != 1 {
			t.Fatalf("Inline = %d, %v", n, err)
		}
		if _, got, _, err := r.Find(ctx, hashOf("file")); err != nil || got != nil {
			t.Fatalf("a row without content gave %x, %v", got, err)
		}
		if refs, err := r.References(ctx, h); err != nil || refs != 2 {
			t.Fatalf("references = %d, %v", refs, err)
		}
		if err := r.Move(ctx, h, "", nil); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Inline(ctx); err != nil || n != 0 {
			t.Fatalf("Inline after Move = %d, %v", n, err)
		}
	})
}

// checkBlobTotals compares Usage, read from the kept totals, with what the
// rows add up to.
func checkBlobTotals(t *testing.T, db *store.DB, after string) {
	t.Helper()
	var wantObjs, wantBytes int64
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(size),0) FROM blobs WHERE refs>0`).Scan(&wantObjs, &wantBytes); err != nil {
		t.Fatal(err)
	}
	objs, bytes, err := persist.NewBlobs(db).Usage(context.Background())
	if err != nil || objs != wantObjs || bytes != wantBytes {
		t.Fatalf("after %s: usage %d objects, %d bytes (%v); the rows add up to %d and %d", after, objs, bytes, err, wantObjs, wantBytes)
	}
}

// The totals follow every count that crosses 0: new objects, more
// references to one, the last reference dropped, a dropped object
// referenced again, objects forgotten, and changes rolled back.
func TestBlobTotalsFollowChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := persist.NewBlobs(db)
		rng := rand.New(rand.NewPCG(3, 4))
		errRollback := errors.New("roll back")
		for i := range 300 {
			k := rng.IntN(6)
			in := blob.Info{Hash: hashOf(strconv.Itoa(k)), Size: int64(10 + k)}
			var op string
			switch rng.IntN(4) {
			case 0, 1:
				op = "ref"
				if _, err := r.Ref(ctx, in, "", nil); err != nil {
					t.Fatal(err)
				}
			case 2:
				op = "unref"
				if _, err := r.Unref(ctx, in.Hash); err != nil {
					t.Fatal(err)
				}
			default:
				op = "forget"
				if _, _, err := r.Forget(ctx, in.Hash); err != nil {
					t.Fatal(err)
				}
			}
			if rng.IntN(5) == 0 {
				op += ", then a ref and an unref rolled back"
				err := db.InTx(ctx, func(ctx context.Context) error {
					if _, err := r.Ref(ctx, blob.Info{Hash: hashOf("x"), Size: 99}, "", nil); err != nil {
						return err
					}
					if _, err := r.Unref(ctx, in.Hash); err != nil {
						return err
					}
					return errRollback
				})
				if !errors.Is(err, errRollback) {
					t.Fatal(err)
				}
			}
			checkBlobTotals(t, db, fmt.Sprintf("change %d (%s %s)", i, op, in.Hash[:1]))
		}
	})
}

// The migration counts the objects already there.
func TestBlobTotalsMigrated(t *testing.T) {
	eachBackendBefore(t, "blob", "CREATE TABLE blob_totals", func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for j, refs := range []int{1, 3, 0} {
			if _, err := db.Exec(`INSERT INTO blobs(hash,size,refs) VALUES(?,?,?)`, hashOf(strconv.Itoa(j)), 10+j, refs); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.MigrateAll(ctx); err != nil {
			t.Fatal(err)
		}
		checkBlobTotals(t, db, "the migration")
		if objs, bytes, _ := persist.NewBlobs(db).Usage(ctx); objs != 2 || bytes != 21 {
			t.Fatalf("usage after the migration: %d objects, %d bytes, want 2 and 21", objs, bytes)
		}
	})
}
