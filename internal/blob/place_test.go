package blob

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Content begun, then placed ahead of its commit (as an upload does while
// peers confirm its price), is committed or discarded like staged content;
// placed, it is pinned: the last reference to the same content dropped
// meanwhile does not take it away.
func TestBeginPlace(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		ctx := context.Background()
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		begin := func(content string, place bool) *Staged {
			t.Helper()
			st, err := s.Begin(strings.NewReader(content), -1)
			if err != nil {
				t.Fatal(err)
			}
			if place {
				if err := s.Place(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
			return st
		}
		none := func(what string) {
			t.Helper()
			if got := list(); len(got) != 0 {
				t.Fatalf("%s left %v", what, got)
			}
		}
		begin("never placed", false).Discard()
		none("a discarded begin")
		begin("placed", true).Discard()
		none("a discarded placed stage")
		st := begin("refused", true)
		if err := s.Commit(ctx, st, func(context.Context) error { return errors.New("refused") }); err == nil {
			t.Fatal("commit succeeded")
		}
		st.Discard()
		none("a refused commit of placed content")

		old := put(t, s, "same", nil)
		st = begin("same", true)
		defer st.Discard()
		if err := db.InTx(ctx, func(ctx context.Context) error { return s.Unref(ctx, old.Hash) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, st, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if read(t, s, st.Hash) != "same" {
			t.Fatal("placed content lost")
		}
		if got := list(); len(got) != 1 {
			t.Fatalf("holds %v", got)
		}
		if err := s.Commit(ctx, st, func(context.Context) error { return nil }); err == nil {
			t.Fatal("committed twice")
		}
	})
}
