package persist_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/assets"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

var assetsT0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// newAsset is a registration of owner's metadata doc.
func newAsset(owner, doc string) assets.Asset {
	return assets.Asset{ID: assets.AssetID([]byte(doc)), Owner: owner, Metadata: []byte(doc),
		Meta: assets.Metadata{Name: "n " + doc, ContentType: "text/csv"}, Created: assetsT0}
}

func mustRegister(t *testing.T, s assets.Store, a assets.Asset) {
	t.Helper()
	if created, err := s.Register(context.Background(), a); err != nil || !created {
		t.Fatalf("register %s: %v, %v", a.ID, created, err)
	}
}

// readableIDs lists what principal may read, in order; the listing read in
// chunks of 1 and 2 rows must be the same.
func readableIDs(t *testing.T, s assets.Store, principal string) []string {
	t.Helper()
	list := func() []string {
		var ids []string
		err := s.EachReadable(context.Background(), principal, false, func(id string, _ []byte) error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	ids := list()
	for _, chunk := range []int{1, 2} {
		t.Run("", func(t *testing.T) {
			persist.SetListingChunk(t, chunk)
			if got := list(); !slices.Equal(got, ids) {
				t.Fatalf("read %d rows at a time, %s's listing is %v, not %v", chunk, principal, got, ids)
			}
		})
	}
	return ids
}

func TestAssetsRegister(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s assets.Store = persist.NewAssets(db)
		a := newAsset("alice", `{"name":"a"}`)
		if _, err := s.Asset(ctx, a.ID); !errors.Is(err, assets.ErrNotFound) {
			t.Fatalf("missing asset: %v", err)
		}
		if _, err := s.Owner(ctx, a.ID); !errors.Is(err, assets.ErrNotFound) {
			t.Fatalf("owner of a missing asset: %v", err)
		}
		mustRegister(t, s, a)
		// The same metadata sent again, by anyone, is the same asset.
		if created, err := s.Register(ctx, newAsset("bob", `{"name":"a"}`)); err != nil || created {
			t.Fatalf("registered twice: %v, %v", created, err)
		}
		got, err := s.Asset(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Owner != "alice" || string(got.Metadata) != `{"name":"a"}` || got.Meta.Name != a.Meta.Name ||
			got.Meta.ContentType != "text/csv" || !got.Created.Equal(assetsT0) || got.Access != assets.Private ||
			got.BlobHash != "" || got.Size != 0 || !got.UploadedAt.IsZero() {
			t.Fatalf("read back %+v", got)
		}
		if owner, err := s.Owner(ctx, a.ID); err != nil || owner != "alice" {
			t.Fatalf("owner %q, %v", owner, err)
		}
	})
}

func TestAssetsContent(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewAssets(db)
		a, b, c := newAsset("alice", `{"a":1}`), newAsset("alice", `{"b":1}`), newAsset("bob", `{"c":1}`)
		for _, x := range []assets.Asset{a, b, c} {
			mustRegister(t, s, x)
		}
		at := assetsT0.Add(time.Hour)
		// a and b hold the same content: it counts once.
		for _, x := range []assets.Asset{
			{ID: a.ID, BlobHash: hashOf("1"), Size: 100, SHA3: "s1", UploadedAt: at},
			{ID: b.ID, BlobHash: hashOf("1"), Size: 100, SHA3: "s1", UploadedAt: at},
			{ID: c.ID, BlobHash: hashOf("2"), Size: 7, SHA3: "s2", UploadedAt: at},
		} {
			if err := s.SetContent(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.ContentBytes(ctx); err != nil || n != 107 {
			t.Fatalf("content bytes = %d, %v", n, err)
		}
		got, err := s.Asset(ctx, a.ID)
		if err != nil || got.BlobHash != hashOf("1") || got.Size != 100 || got.SHA3 != "s1" || !got.UploadedAt.Equal(at) {
			t.Fatalf("content read back: %+v, %v", got, err)
		}
		if err := s.DropContent(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		got, err = s.Asset(ctx, c.ID)
		if err != nil || got.BlobHash != "" || got.Size != 0 || got.SHA3 != "" || !got.UploadedAt.IsZero() {
			t.Fatalf("dropped content read back: %+v, %v", got, err)
		}
		if all, with, err := s.Counts(ctx); err != nil || all != 3 || with != 2 {
			t.Fatalf("counts = %d, %d, %v", all, with, err)
		}
		if n, err := s.ContentBytes(ctx); err != nil || n != 100 {
			t.Fatalf("content bytes after a drop = %d, %v", n, err)
		}
	})
}

func TestAssetsAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewAssets(db)
		a := newAsset("alice", `{"x":1}`)
		mustRegister(t, s, a)
		readable := func(who string) bool {
			t.Helper()
			_, err := s.Readable(ctx, who, a.ID)
			if err != nil && !errors.Is(err, assets.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		if !readable("alice") || readable("bob") || readable("") {
			t.Fatal("a private asset is readable by others, or not by its owner")
		}
		if err := s.SetAccess(ctx, a.ID, assets.Shared, []string{"carol", "bob", "Dave"}); err != nil {
			t.Fatal(err)
		}
		if !readable("bob") || !readable("carol") || readable("erin") || readable("") {
			t.Fatal("a shared asset is readable by the wrong principals")
		}
		if sh, err := s.Shares(ctx, a.ID); err != nil || !slices.Equal(sh, []string{"Dave", "bob", "carol"}) {
			t.Fatalf("shares = %v, %v (want byte order)", sh, err)
		}
		if ok, err := s.SharedWith(ctx, a.ID, "bob"); err != nil || !ok {
			t.Fatalf("shared with bob: %v, %v", ok, err)
		}
		if got, err := s.Asset(ctx, a.ID); err != nil || got.Access != assets.Shared {
			t.Fatalf("access %q, %v", got.Access, err)
		}
		// Setting access replaces the principals named before.
		if err := s.SetAccess(ctx, a.ID, assets.Public, nil); err != nil {
			t.Fatal(err)
		}
		if sh, err := s.Shares(ctx, a.ID); err != nil || len(sh) != 0 {
			t.Fatalf("shares after going public = %v, %v", sh, err)
		}
		if ok, err := s.SharedWith(ctx, a.ID, "bob"); err != nil || ok {
			t.Fatalf("still shared with bob: %v, %v", ok, err)
		}
		if !readable("erin") || !readable("") {
			t.Fatal("a public asset is not readable by everyone")
		}
	})
}

func TestAssetsListingOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewAssets(db)
		var mine []string
		for _, doc := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`} {
			a := newAsset("alice", doc)
			mustRegister(t, s, a)
			mine = append(mine, a.ID)
		}
		if slices.IsSorted(mine) {
			t.Fatal("the test's ids are in id order: it cannot tell registration order from it")
		}
		other := newAsset("bob", `{"n":5}`)
		mustRegister(t, s, other)
		if got := readableIDs(t, s, "alice"); !slices.Equal(got, mine) {
			t.Fatalf("alice lists %v, want %v", got, mine)
		}
		if err := s.SetAccess(ctx, other.ID, assets.Shared, []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		if got := readableIDs(t, s, "alice"); !slices.Equal(got, append(mine, other.ID)) {
			t.Fatalf("alice lists %v with bob's shared asset", got)
		}
		// Her own, others' public and others' shared with her come merged in
		// registration order, each once (her public asset, and the one she
		// shares with herself, too).
		public := newAsset("carol", `{"n":6}`)
		mustRegister(t, s, public)
		mustRegister(t, s, newAsset("carol", `{"n":7}`)) // private: not hers
		own := newAsset("alice", `{"n":8}`)
		mustRegister(t, s, own)
		for id, access := range map[string]string{public.ID: assets.Public, mine[1]: assets.Public} {
			if err := s.SetAccess(ctx, id, access, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetAccess(ctx, own.ID, assets.Shared, []string{"alice", "bob"}); err != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(mine), other.ID, public.ID, own.ID)
		if got := readableIDs(t, s, "alice"); !slices.Equal(got, want) {
			t.Fatalf("alice lists %v, want %v", got, want)
		}
		if got := readableIDs(t, s, "bob"); !slices.Equal(got, []string{mine[1], other.ID, public.ID, own.ID}) {
			t.Fatalf("bob lists %v", got)
		}
		if got := readableIDs(t, s, ""); !slices.Equal(got, []string{mine[1], public.ID}) {
			t.Fatalf("the anonymous principal lists %v", got)
		}
		// With metadata; and fn's error stops the listing.
		stop := errors.New("stop")
		n := 0
		err := s.EachReadable(ctx, "bob", true, func(id string, doc []byte) error {
			n++
			if id != mine[1] || string(doc) != `{"n":2}` {
				t.Errorf("bob lists %s %q", id, doc)
			}
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("EachReadable after fn failed: %v, %d calls", err, n)
		}
		// An asset registered while a listing is read in chunks comes at
		// most once, and nothing else is listed twice or left out.
		persist.SetListingChunk(t, 2)
		late := newAsset("alice", `{"n":9}`)
		var got []string
		err = s.EachReadable(ctx, "alice", false, func(id string, _ []byte) error {
			if len(got) == 0 {
				mustRegister(t, s, late)
			}
			got = append(got, id)
			return nil
		})
		if err != nil || !slices.Equal(got, append(want, late.ID)) {
			t.Fatalf("listing while registering: %v, %v", got, err)
		}
	})
}

// Deleting an asset takes its shares with it; a deletion and a registration
// in a transaction that rolls back leave everything as it was.
func TestAssetsDeleteAndRollback(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewAssets(db)
		a, b := newAsset("alice", `{"d":1}`), newAsset("alice", `{"d":2}`)
		mustRegister(t, s, a)
		if err := s.SetAccess(ctx, a.ID, assets.Shared, []string{"bob"}); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("refused")
		err := s.InTx(ctx, func(ctx context.Context) error {
			if err := s.Delete(ctx, a.ID); err != nil {
				return err
			}
			if created, err := s.Register(ctx, b); err != nil || !created {
				t.Errorf("register in a transaction: %v, %v", created, err)
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := s.Asset(ctx, b.ID); !errors.Is(err, assets.ErrNotFound) {
			t.Fatalf("a registration rolled back is there: %v", err)
		}
		if ok, err := s.SharedWith(ctx, a.ID, "bob"); err != nil || !ok {
			t.Fatalf("a deletion rolled back took the shares: %v, %v", ok, err)
		}
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Asset(ctx, a.ID); !errors.Is(err, assets.ErrNotFound) {
			t.Fatalf("deleted asset: %v", err)
		}
		if ok, err := s.SharedWith(ctx, a.ID, "bob"); err != nil || ok {
			t.Fatalf("a deleted asset is still shared: %v, %v", ok, err)
		}
		// Registered again, it is private and last.
		mustRegister(t, s, newAsset("carol", `{"d":1}`))
		if _, err := s.Readable(ctx, "bob", a.ID); !errors.Is(err, assets.ErrNotFound) {
			t.Fatalf("bob reads a registration made after his share was deleted: %v", err)
		}
	})
}

// assetsTotalsFromRows is what Counts and ContentBytes answer, added up from
// the assets themselves.
func assetsTotalsFromRows(t *testing.T, db *store.DB) (registered, withContent, bytes int64) {
	t.Helper()
	err := db.QueryRow(`SELECT COUNT(*), COUNT(blob_hash),
		(SELECT COALESCE(SUM(size),0) FROM (SELECT MAX(size) AS size FROM assets WHERE blob_hash IS NOT NULL GROUP BY blob_hash) AS c)
		FROM assets`).Scan(&registered, &withContent, &bytes)
	if err != nil {
		t.Fatal(err)
	}
	return registered, withContent, bytes
}

func checkAssetsTotals(t *testing.T, db *store.DB, s *persist.Assets, after string) {
	t.Helper()
	wantAll, wantWith, wantBytes := assetsTotalsFromRows(t, db)
	all, with, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bytes, err := s.ContentBytes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if all != wantAll || with != wantWith || bytes != wantBytes {
		t.Fatalf("after %s: counts %d, %d and content bytes %d; the assets add up to %d, %d and %d", after, all, with, bytes, wantAll, wantWith, wantBytes)
	}
}

// The totals are kept as assets come and go and their content changes, in
// the same transaction: random changes over a few contents, some shared by
// several assets, some rolled back, leave them equal to what the assets add
// up to.
func TestAssetsTotalsFollowChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewAssets(db)
		rng := rand.New(rand.NewPCG(1, 2))
		withContent := func(a assets.Asset) assets.Asset {
			k := rng.IntN(4)
			a.BlobHash, a.Size, a.SHA3, a.UploadedAt = hashOf(strconv.Itoa(k)), int64(10+k), "s", assetsT0
			return a
		}
		var ids []string
		for i := range 300 {
			var op string
			switch n := rng.IntN(6); {
			case n == 0 || len(ids) == 0:
				op = "register"
				a := newAsset("alice", fmt.Sprintf(`{"i":%d}`, i))
				if rng.IntN(2) == 0 {
					op, a = "register with content", withContent(a)
				}
				mustRegister(t, s, a)
				ids = append(ids, a.ID)
			case n == 1:
				op = "register again"
				if _, err := s.Register(ctx, withContent(assets.Asset{ID: ids[0], Owner: "bob", Metadata: []byte("{}"), Created: assetsT0})); err != nil {
					t.Fatal(err)
				}
			case n == 2:
				op = "drop content"
				if err := s.DropContent(ctx, ids[rng.IntN(len(ids))]); err != nil {
					t.Fatal(err)
				}
			case n == 3:
				op = "delete"
				j := rng.IntN(len(ids))
				if err := s.Delete(ctx, ids[j]); err != nil {
					t.Fatal(err)
				}
				ids = slices.Delete(ids, j, j+1)
			case n == 4:
				op = "set content, rolled back"
				err := s.InTx(ctx, func(ctx context.Context) error {
					if err := s.SetContent(ctx, withContent(assets.Asset{ID: ids[rng.IntN(len(ids))]})); err != nil {
						return err
					}
					return errors.New("rolled back")
				})
				if err == nil || err.Error() != "rolled back" {
					t.Fatalf("rolled back: %v", err)
				}
			default:
				op = "set content"
				if err := s.SetContent(ctx, withContent(assets.Asset{ID: ids[rng.IntN(len(ids))]})); err != nil {
					t.Fatal(err)
				}
			}
			checkAssetsTotals(t, db, s, fmt.Sprintf("change %d (%s)", i, op))
		}
		// Changes to an asset that is not there change nothing.
		if err := s.SetContent(ctx, withContent(assets.Asset{ID: "missing"})); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "missing"); err != nil {
			t.Fatal(err)
		}
		checkAssetsTotals(t, db, s, "changes to a missing asset")
	})
}

// A registry made before the totals were kept gets them from its assets
// when the node migrates it.
func TestAssetsTotalsMigrated(t *testing.T) {
	eachBackendBefore(t, "assets", "CREATE TABLE asset_contents", func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for j, c := range []struct {
			hash any
			size any
		}{{hashOf("a"), 5}, {hashOf("a"), 5}, {hashOf("b"), 7}, {nil, nil}} {
			if _, err := db.Exec(`INSERT INTO assets(id,owner_id,metadata,created_at,seq,blob_hash,size) VALUES(?,?,?,?,?,?,?)`,
				fmt.Sprint("id", j), "alice", []byte("{}"), store.Time(assetsT0), j+1, c.hash, c.size); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.MigrateAll(ctx); err != nil {
			t.Fatal(err)
		}
		s := persist.NewAssets(db)
		checkAssetsTotals(t, db, s, "the migration")
		if n, _ := s.ContentBytes(ctx); n != 12 {
			t.Fatalf("content bytes after the migration = %d, want 12", n)
		}
	})
}
