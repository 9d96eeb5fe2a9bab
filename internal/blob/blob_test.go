package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus-dds/dds/internal/store"
)

func open(t *testing.T, dir string) (*Store, *store.DB) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(context.Background(), Config{Dir: filepath.Join(dir, "blobs")}, Deps{DB: db, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func put(t *testing.T, s *Store, content string, fn func(*store.Tx) error) Info {
	t.Helper()
	st, err := s.Stage(strings.NewReader(content), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Discard()
	if fn == nil {
		fn = func(*store.Tx) error { return nil }
	}
	if err := s.Commit(context.Background(), st, fn); err != nil {
		return Info{}
	}
	return st.Info
}

func TestDedupAndRefcount(t *testing.T) {
	ctx := context.Background()
	s, db := open(t, t.TempDir())
	a := put(t, s, "hello", nil)
	b := put(t, s, "hello", nil)
	if a.Hash != b.Hash || a.Size != 5 {
		t.Fatalf("dedup: %v %v", a, b)
	}
	if n, size, _ := s.Usage(ctx); n != 1 || size != 5 {
		t.Fatalf("usage = %d objects, %d bytes", n, size)
	}
	unref := func() {
		if err := db.Tx(ctx, func(tx *store.Tx) error { return s.Unref(tx, a.Hash) }); err != nil {
			t.Fatal(err)
		}
	}
	unref()
	if !s.Has(a.Hash) {
		t.Fatal("object removed while still referenced")
	}
	unref()
	if s.Has(a.Hash) {
		t.Fatal("object kept after last reference dropped")
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error { return s.Unref(tx, a.Hash) }); err == nil {
		t.Fatal("unref below zero accepted")
	}
}

func TestFailedCommitLeavesNothing(t *testing.T) {
	s, _ := open(t, t.TempDir())
	info := put(t, s, "doomed", func(*store.Tx) error { return errors.New("metadata refused") })
	if info.Hash != "" {
		t.Fatal("commit succeeded")
	}
	entries, _ := filepath.Glob(filepath.Join(s.dir, "objects", "*", "*"))
	tmp, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if len(entries) != 0 || len(tmp) != 0 {
		t.Fatalf("left behind: objects %v, tmp %d", entries, len(tmp))
	}
}

func TestLimit(t *testing.T) {
	s, _ := open(t, t.TempDir())
	if _, err := s.Stage(strings.NewReader("12345"), 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if st, err := s.Stage(strings.NewReader("1234"), 4); err != nil {
		t.Fatal(err)
	} else {
		st.Discard()
	}
}

func TestCollectAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s, db := open(t, dir)
	kept := put(t, s, "kept", nil)
	// A crash after the rename but before the metadata commit leaves an
	// object nobody refers to, and a crash mid-write leaves a temp file.
	st, err := s.Stage(strings.NewReader("orphan"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.place(st); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "blobs", "tmp", "stage-123"), []byte("half"), 0o600)
	db.Close()

	s, _ = open(t, dir)
	n, err := s.Collect(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("collect removed %d, err %v", n, err)
	}
	if !s.Has(kept.Hash) || s.Has(st.Hash) {
		t.Fatal("collect removed the wrong object")
	}
	if err := s.Verify(kept.Hash); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsDamage(t *testing.T) {
	s, _ := open(t, t.TempDir())
	in := put(t, s, "precious", nil)
	os.WriteFile(s.path(in.Hash), []byte("tampered"), 0o600)
	if err := s.Verify(in.Hash); err == nil {
		t.Fatal("damage not detected")
	}
}

// Concurrent uploads and deletions of the same content never lose an object
// that is still referenced.
func TestConcurrentRefUnref(t *testing.T) {
	ctx := context.Background()
	s, db := open(t, t.TempDir())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				in := put(t, s, "shared", nil)
				if err := db.Tx(ctx, func(tx *store.Tx) error { return s.Unref(tx, in.Hash) }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	in := put(t, s, "shared", nil)
	f, err := s.Open(in.Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, []byte("shared")) {
		t.Fatalf("got %q", got)
	}
}
