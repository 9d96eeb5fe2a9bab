package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// Objects up to InlineMax live in their rows on every backend: nothing is
// written to the directory or bucket, reads (whole and at offsets) give the
// bytes back, a second copy is counted once, and the last Unref removes the
// row. One byte more goes to the backend, whether its size is announced or
// found by reading.
func TestInlineSmallObjects(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		cfg.InlineMax = 1024
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		ctx := context.Background()

		small := make([]byte, 1024)
		rand.Read(small)
		in := put(t, s, string(small), nil)
		if got := list(); len(got) != 0 {
			t.Fatalf("a %d-byte object was written to the backend: %v", len(small), got)
		}
		if read(t, s, in.Hash) != string(small) || s.Size(in.Hash) != 1024 {
			t.Fatal("the inline object reads back wrong")
		}
		f, err := s.Open(in.Hash)
		if err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 10)
		if _, err := f.ReadAt(part, 1000); err != nil || !bytes.Equal(part, small[1000:1010]) {
			t.Fatalf("ReadAt: %v", err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != 1024 {
			t.Fatalf("Stat: %v", err)
		}
		f.Close()
		if objs, tmp, err := s.Holdings(ctx); err != nil || objs != 1 || tmp != 0 {
			t.Fatalf("holdings %d objects, %d temporaries, %v", objs, tmp, err)
		}
		if err := s.Verify(in.Hash); err != nil {
			t.Fatal(err)
		}

		put(t, s, string(small), nil) // the same content again
		if objs, _, _ := s.Holdings(ctx); objs != 1 {
			t.Fatalf("two copies of one content: %d objects", objs)
		}
		for range 2 {
			if err := s.refs.InTx(ctx, func(ctx context.Context) error { return s.Unref(ctx, in.Hash) }); err != nil {
				t.Fatal(err)
			}
		}
		if objs, _, _ := s.Holdings(ctx); objs != 0 || s.Has(in.Hash) {
			t.Fatalf("unreferenced inline object kept: %d objects", objs)
		}

		large := append(small, 'x')
		for _, sized := range []bool{true, false} {
			large[0]++ // distinct content each time
			var r io.Reader = iotest.HalfReader(bytes.NewReader(large))
			if sized {
				r = Sized(r, int64(len(large)))
			}
			st, err := s.Stage(r, -1)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(ctx, st, func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if st.inline != nil || read(t, s, st.Hash) != string(large) {
				t.Fatalf("sized %v: a %d-byte object kept inline, or read back wrong", sized, len(large))
			}
		}
		if got := list(); len(got) != 2 {
			t.Fatalf("objects over InlineMax in the backend: %v, want 2", got)
		}
	})
}

// Damage to an inline object is found by Verify and Scrub, which take the
// bytes out of the row so that a read fails and repair restores them; the
// restored object is inline again.
func TestInlineScrubAndRestore(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		cfg.InlineMax = 1024
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		ctx := context.Background()
		in := put(t, s, "precious", nil)
		if err := s.refs.Move(ctx, in.Hash, "", []byte("tampered")); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(in.Hash); !errors.Is(err, ErrDamaged) {
			t.Fatalf("damage not detected: %v", err)
		}
		bad, err := s.Scrub(ctx)
		if err != nil || len(bad) != 1 || s.Has(in.Hash) {
			t.Fatalf("scrub found %v, err %v", bad, err)
		}
		st, err := s.Stage(bytes.NewReader([]byte("precious")), -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Restore(st, in.Hash); err != nil {
			t.Fatal(err)
		}
		if read(t, s, in.Hash) != "precious" || len(list()) != 0 {
			t.Fatalf("restored: %v", list())
		}
	})
}

// A failed commit of inline content leaves no row behind.
func TestInlineFailedCommitLeavesNothing(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), InlineMax: 1024}
	db := openDB(t, t.TempDir())
	s := open(t, cfg, db)
	st, err := s.Stage(bytes.NewReader([]byte("doomed")), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Discard()
	boom := errors.New("boom")
	if err := s.Commit(context.Background(), st, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("commit: %v", err)
	}
	if s.Has(st.Hash) {
		t.Fatal("a failed commit left the object")
	}
	if objs, tmp, err := s.Holdings(context.Background()); err != nil || objs != 0 || tmp != 0 {
		t.Fatalf("holdings %d, %d, %v", objs, tmp, err)
	}
}
