package persist_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func record(id, owner string, created time.Time) files.File {
	return files.File{ID: id, Owner: owner, Name: id + ".bin", Size: 3, Hash: "h-" + id, State: files.StatePending,
		Additional: json.RawMessage(`{"k":1}`), Created: created, AdditionalAt: created, AdditionalBy: "n0", MerkleRoot: "root"}
}

func TestFilesRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s files.Store = persist.NewFiles(db)
		if _, err := s.File(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing file: %v", err)
		}
		if _, err := s.AdditionalAt(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing file's additional_at: %v", err)
		}
		a, b := record("a", "u", t0), record("b", "u", t0.Add(time.Minute))
		for _, f := range []files.File{a, b, record("c", "v", t0)} {
			if err := s.AddFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddFile(ctx, a); !store.IsConflict(err) {
			t.Fatalf("the same file twice: %v", err)
		}
		got, err := s.File(ctx, "a")
		if err != nil || got.Name != "a.bin" || got.Hash != "h-a" || got.State != files.StatePending || string(got.Additional) != `{"k":1}` ||
			!got.Created.Equal(t0) || !got.AdditionalAt.Equal(t0) || got.AdditionalBy != "n0" || got.MerkleRoot != "root" ||
			!got.StoredAt.IsZero() || !got.Expires.IsZero() || got.Confirmations != nil || len(got.Payments) != 0 || len(got.Holders) != 0 {
			t.Fatalf("a: %+v %v", got, err)
		}
		// An owner's files, newest first, a page at a time after a cursor;
		// files created at the same instant by id.
		for _, id := range []string{"a2", "a1"} {
			if err := s.AddFile(ctx, record(id, "u", t0)); err != nil {
				t.Fatal(err)
			}
		}
		owned, err := s.Owned(ctx, "u", files.Cursor{}, 10)
		if err != nil || len(owned) != 4 || owned[0].ID != "b" || owned[1].ID != "a" || owned[2].ID != "a1" || owned[3].ID != "a2" {
			t.Fatalf("owned: %+v %v", owned, err)
		}
		var paged []string
		for after := (files.Cursor{}); ; {
			page, err := s.Owned(ctx, "u", after, 1)
			if err != nil || len(page) > 1 {
				t.Fatalf("page after %v: %+v %v", after, page, err)
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page[0].ID)
			after = files.CursorAt(page[0])
		}
		if strings.Join(paged, ",") != "b,a,a1,a2" {
			t.Fatalf("pages of one: %v", paged)
		}
		// Describe.
		at := t0.Add(time.Hour)
		if err := s.Describe(ctx, "a", "new.bin", json.RawMessage(`{"k":2}`), at, "n1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AdditionalAt(ctx, "a"); !got.Equal(at) {
			t.Fatalf("additional_at %v", got)
		}
		if got, _ := s.File(ctx, "a"); got.Name != "new.bin" || string(got.Additional) != `{"k":2}` || got.AdditionalBy != "n1" {
			t.Fatalf("described: %+v", got)
		}
		// State moves only from the state named.
		if ok, err := s.SetState(ctx, "a", files.StateStored, files.StateExpired); err != nil || ok {
			t.Fatalf("moved from a state it is not in: %v %v", ok, err)
		}
		if ok, err := s.SetState(ctx, "a", files.StatePending, files.StateCancelled); err != nil || !ok {
			t.Fatalf("pending to cancelled: %v %v", ok, err)
		}
		if ok, err := s.SetState(ctx, "nope", files.StatePending, files.StateCancelled); err != nil || ok {
			t.Fatalf("missing file moved: %v %v", ok, err)
		}
		counts, err := s.Counts(ctx)
		if err != nil || counts[files.StateCancelled] != 1 || counts[files.StatePending] != 4 || len(counts) != 2 {
			t.Fatalf("counts %v %v", counts, err)
		}
	})
}

func TestFilesSaveAndTerms(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s files.Store = persist.NewFiles(db)
		end := t0.Add(24 * time.Hour)
		f := record("f", "u", t0)
		f.State, f.StoredAt, f.Expires, f.Term = files.StateStored, t0, end, 24*time.Hour
		f.Confirmations = json.RawMessage(`[1]`)
		f.Payments = []files.Payment{{ID: "p2", QuoteID: "q2", Amount: 5, Price: 5, Start: t0.Add(time.Hour), End: end, Replicas: 2},
			{ID: "p1", QuoteID: "q1", Amount: 9, Price: 8, Start: t0, End: t0.Add(time.Hour), Replicas: 1}}
		f.Holders = []files.Holder{{Node: "n2", Share: 1, State: files.HolderPending, Taken: t0, Since: t0, Updated: t0},
			{Node: "n1", State: files.HolderStored, Taken: t0, Since: t0, Updated: t0}}
		if _, err := s.SaveFile(ctx, f); err != nil { // a new record
			t.Fatal(err)
		}
		got, err := s.File(ctx, "f")
		if err != nil || got.Price != 13 || len(got.Payments) != 2 || got.Payments[0].ID != "p1" || got.Payments[1] != f.Payments[0] ||
			len(got.Holders) != 2 || got.Holders[0].Node != "n1" || got.Holders[1] != f.Holders[0] ||
			string(got.Confirmations) != `[1]` || !got.Expires.Equal(end) || got.Term != f.Term {
			t.Fatalf("saved: %+v %v", got, err)
		}
		// The record alone: one row, no payments or holders.
		rec, err := s.Record(ctx, "f")
		if err != nil || rec.Name != got.Name || rec.Hash != got.Hash || rec.State != files.StateStored || !rec.Expires.Equal(end) ||
			!rec.StoredAt.Equal(t0) || len(rec.Payments) != 0 || len(rec.Holders) != 0 {
			t.Fatalf("record: %+v %v", rec, err)
		}
		if _, err := s.Record(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing record: %v", err)
		}
		// Saving again keeps the payments it does not name, and replicas
		// never shrink.
		g := got
		g.Name = "g.bin"
		g.Payments = []files.Payment{{ID: "p2", QuoteID: "q2", Amount: 5, Price: 5, Start: t0.Add(time.Hour), End: end, Replicas: 1}}
		g.Holders = []files.Holder{{Node: "n2", Share: 1, State: files.HolderStored, Taken: t0, Since: t0.Add(time.Minute), Updated: t0.Add(time.Minute)}}
		if _, err := s.SaveFile(ctx, g); err != nil {
			t.Fatal(err)
		}
		got, _ = s.File(ctx, "f")
		if got.Name != "g.bin" || len(got.Payments) != 2 || got.Payments[1].Replicas != 2 || len(got.Holders) != 2 || got.Holders[1].State != files.HolderStored {
			t.Fatalf("saved again: %+v", got)
		}
		if err := s.RaiseReplicas(ctx, "f", "p1", 3); err != nil {
			t.Fatal(err)
		}
		if err := s.RaiseReplicas(ctx, "f", "p2", 1); err != nil {
			t.Fatal(err)
		}
		got, _ = s.File(ctx, "f")
		if got.Payments[0].Replicas != 3 || got.Payments[1].Replicas != 2 {
			t.Fatalf("replicas %+v", got.Payments)
		}
		if ok, err := s.HasContent(ctx, "h-f"); err != nil || !ok {
			t.Fatalf("has content: %v %v", ok, err)
		}
		if ok, err := s.HasContent(ctx, "h-x"); err != nil || ok {
			t.Fatalf("has other content: %v %v", ok, err)
		}

		// A released record and a stored one, both ending at end; a stored
		// one running longer.
		r := record("r", "u", t0)
		r.State, r.Expires = files.StateReleased, end
		long := record("l", "u", t0)
		long.State, long.Expires = files.StateStored, end.Add(time.Hour)
		long.Payments = []files.Payment{{ID: "pl", QuoteID: "ql", Amount: 4, Price: 4, Start: t0, End: long.Expires, Replicas: 2}}
		long.Holders = []files.Holder{{Node: "n3", State: files.HolderStored, Taken: t0, Since: t0, Updated: t0}}
		for _, x := range []files.File{r, long} {
			if _, err := s.SaveFile(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		// Read together, each stored file has its own payments and holders,
		// in id order, a page at a time.
		st, err := s.StoredAfter(ctx, end.Add(-time.Second), "", 10)
		if err != nil || len(st) != 2 || st[0].ID != "f" || st[1].ID != "l" {
			t.Fatalf("stored before the end: %+v %v", st, err)
		}
		for _, x := range st {
			one, err := s.File(ctx, x.ID)
			if err != nil || !reflect.DeepEqual(x, one) || len(x.Payments) == 0 || len(x.Holders) == 0 {
				t.Fatalf("stored file %s: %+v, read alone: %+v %v", x.ID, x, one, err)
			}
		}
		for after, want := range map[string]string{"": "f", "f": "l", "e": "f", "l": ""} {
			page, err := s.StoredAfter(ctx, end.Add(-time.Second), after, 1)
			if err != nil || (want == "") != (len(page) == 0) || (want != "" && (len(page) != 1 || page[0].ID != want || len(page[0].Holders) == 0)) {
				t.Fatalf("a page of 1 after %q: %+v %v, want %q", after, page, err, want)
			}
		}
		if n, size, err := s.StoredTotals(ctx, end.Add(-time.Second)); err != nil || n != 2 || size != st[0].Size+st[1].Size {
			t.Fatalf("stored totals: %d files, %d bytes, %v", n, size, err)
		}
		copies, err := s.CopiesPerNode(ctx, end.Add(-time.Second))
		want := map[string]int64{}
		for _, x := range st {
			for _, h := range x.Holders {
				if h.State == files.HolderStored {
					want[h.Node]++
				}
			}
		}
		if err != nil || len(want) == 0 || !reflect.DeepEqual(copies, want) {
			t.Fatalf("copies per node %v %v, want %v", copies, err, want)
		}
		if ended, err := s.Ended(ctx, end.Add(-time.Second)); err != nil || len(ended) != 0 {
			t.Fatalf("ended before the end: %+v %v", ended, err)
		}
		ended, err := s.Ended(ctx, end)
		if err != nil || len(ended) != 1 || ended[0].ID != "f" {
			t.Fatalf("ended: %+v %v", ended, err)
		}
		if st, err := s.StoredAfter(ctx, end, "", 10); err != nil || len(st) != 1 || st[0].ID != "l" {
			t.Fatalf("stored at the end: %+v %v", st, err)
		}
		if err := s.ExpireReleased(ctx, end); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.File(ctx, "r"); got.State != files.StateExpired {
			t.Fatalf("released record is %s", got.State)
		}
		if got, _ := s.File(ctx, "l"); got.State != files.StateStored {
			t.Fatalf("running record is %s", got.State)
		}
	})
}

// A failed transaction leaves neither the record nor its payments.
func TestFilesRollback(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s files.Store = persist.NewFiles(db)
		f := record("f", "u", t0)
		f.Payments = []files.Payment{{ID: "p", Start: t0, End: t0.Add(time.Hour), Replicas: 1}}
		boom := errors.New("boom")
		err := s.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.SaveFile(ctx, f); err != nil {
				return err
			}
			if got, err := s.File(ctx, "f"); err != nil || len(got.Payments) != 1 { // seen inside
				t.Errorf("inside: %+v %v", got, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := s.File(ctx, "f"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled back record: %v", err)
		}
		// Nor the payment: saving the record alone shows none.
		f.Payments = nil
		if _, err := s.SaveFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.File(ctx, "f"); len(got.Payments) != 0 {
			t.Fatalf("rolled back payment kept: %+v", got.Payments)
		}
	})
}

// Every write to a record gives it a new revision and unsettles it; a
// settle made for an older revision is refused.
func TestFilesSettle(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s files.Store = persist.NewFiles(db)
		end := t0.Add(24 * time.Hour)
		ids := func(fs []files.File, err error) []string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, f := range fs {
				out = append(out, f.ID)
			}
			slices.Sort(out)
			return out
		}
		for _, id := range []string{"a", "b"} {
			f := record(id, "u", t0)
			f.State, f.Expires = files.StateStored, end
			f.Holders = []files.Holder{{Node: "n1", State: files.HolderStored, Taken: t0, Since: t0, Updated: t0}}
			if _, err := s.SaveFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if got := ids(s.Unsettled(ctx, t0, t0)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("new records unsettled: %v", got)
		}
		a, err := s.File(ctx, "a")
		if err != nil || len(a.Holders) != 1 {
			t.Fatalf("%+v %v", a, err)
		}
		settledAt := t0.Add(time.Minute)
		if ok, err := s.Settle(ctx, "a", a.Rev, settledAt); err != nil || !ok {
			t.Fatalf("settle: %v %v", ok, err)
		}
		if got := ids(s.Unsettled(ctx, t0, settledAt.Add(-time.Second))); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("after settling a: %v", got)
		}
		// Asked for files settled up to when a was: a again (membership changed).
		if got := ids(s.Unsettled(ctx, t0, settledAt)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("epoch at the settle: %v", got)
		}
		// Each kind of write unsettles it, and a settle for the old revision fails.
		writes := map[string]func() error{
			"save":     func() error { _, err := s.SaveFile(ctx, a); return err },
			"state":    func() error { _, err := s.SetState(ctx, "a", files.StateStored, files.StateStored); return err },
			"describe": func() error { return s.Describe(ctx, "a", "n", json.RawMessage(`{}`), t0, "x") },
		}
		for name, write := range writes {
			cur, _ := s.File(ctx, "a")
			if ok, err := s.Settle(ctx, "a", cur.Rev, settledAt); err != nil || !ok {
				t.Fatalf("%s: settle: %v %v", name, ok, err)
			}
			if err := write(); err != nil {
				t.Fatal(err)
			}
			if got := ids(s.Unsettled(ctx, t0, t0)); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("%s: unsettled after the write: %v", name, got)
			}
			if ok, err := s.Settle(ctx, "a", cur.Rev, settledAt); err != nil || ok {
				t.Fatalf("%s: settled a revision already replaced: %v %v", name, ok, err)
			}
		}
		// Raising a payment's replicas unsettles; not raising them does not.
		a.Payments = []files.Payment{{ID: "p", QuoteID: "q", Amount: 1, Price: 1, Start: t0, End: end, Replicas: 1}}
		if _, err := s.SaveFile(ctx, a); err != nil {
			t.Fatal(err)
		}
		cur, _ := s.File(ctx, "a")
		s.Settle(ctx, "a", cur.Rev, settledAt)
		if err := s.RaiseReplicas(ctx, "a", "p", 1); err != nil {
			t.Fatal(err)
		}
		if got := ids(s.Unsettled(ctx, t0, t0)); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("replicas not raised, yet unsettled: %v", got)
		}
		if err := s.RaiseReplicas(ctx, "a", "p", 2); err != nil {
			t.Fatal(err)
		}
		if got := ids(s.Unsettled(ctx, t0, t0)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("replicas raised, still settled: %v", got)
		}
		// Ended files are not listed, settled or not.
		if got := ids(s.Unsettled(ctx, end, t0)); len(got) != 0 {
			t.Fatalf("ended files listed: %v", got)
		}
	})
}
