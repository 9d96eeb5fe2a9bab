package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// backendCase opens stores of one backend; every store it opens in a test
// shares the same directory or bucket.
type backendCase struct {
	name string
	// new returns the Config of a fresh place to keep objects, and a
	// function that lists what the backend holds (objects and temporaries).
	new func(t *testing.T) (Config, func() []string)
}

// The backends keep every object themselves (InlineMax 0); inline_test.go
// sets InlineMax where it tests objects kept in their rows.
var backends = []backendCase{
	{"local", func(t *testing.T) (Config, func() []string) {
		dir := filepath.Join(t.TempDir(), "blobs")
		return Config{Dir: dir}, func() []string {
			objs, _ := filepath.Glob(filepath.Join(dir, "objects", "*", "*"))
			tmp, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
			return append(objs, tmp...)
		}
	}},
	{"s3", func(t *testing.T) (Config, func() []string) {
		b := testtool.S3(t)
		cfg := DefaultConfig()
		cfg.Location = b.Blobs
		cfg.PartSize, cfg.InlineMax = 5<<20, 0
		return cfg, func() []string { return bucketContents(t, b) }
	}},
	// A node sharing a bucket keeps its objects under a prefix.
	{"s3-prefix", func(t *testing.T) (Config, func() []string) {
		b := testtool.S3(t)
		cfg := DefaultConfig()
		cfg.Location = strings.Replace(b.Blobs, "?", "/node-a?", 1)
		cfg.PartSize, cfg.InlineMax = 5<<20, 0
		return cfg, func() []string { return bucketContents(t, b) }
	}},
	// A directory that several processes of a node share names each upload.
	{"local-shared", func(t *testing.T) (Config, func() []string) {
		dir := filepath.Join(t.TempDir(), "blobs")
		cfg := DefaultConfig()
		cfg.Dir, cfg.Shared, cfg.InlineMax = dir, true, 0
		return cfg, func() []string {
			objs, _ := filepath.Glob(filepath.Join(dir, "objects", "*", "*"))
			tmp, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
			return append(objs, tmp...)
		}
	}},
}

func bucketContents(t *testing.T, b testtool.Bucket) []string {
	t.Helper()
	var out []string
	for o := range b.Client.ListObjects(context.Background(), b.Name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	for u := range b.Client.ListIncompleteUploads(context.Background(), b.Name, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		out = append(out, "upload:"+u.Key)
	}
	sort.Strings(out)
	return out
}

func forEach(t *testing.T, test func(t *testing.T, cfg Config, list func() []string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cfg, list := b.new(t)
			test(t, cfg, list)
		})
	}
}

// RefsOf is the store's records in db: persist.Blobs, which this package's
// internal tests cannot import (persist imports blob); refs_test.go sets it.
var RefsOf func(db *store.DB) Refs

func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.OpenSchema(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t testing.TB, cfg Config, db *store.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg, Deps{Refs: RefsOf(db), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, content string, fn func(context.Context) error) Info {
	t.Helper()
	st, err := s.Stage(strings.NewReader(content), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Discard()
	if fn == nil {
		fn = func(context.Context) error { return nil }
	}
	if err := s.Commit(context.Background(), st, fn); err != nil {
		return Info{}
	}
	return st.Info
}

func read(t *testing.T, s *Store, h string) string {
	t.Helper()
	f, err := s.Open(h)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDedupAndRefcount(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		ctx := context.Background()
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		a := put(t, s, "hello", nil)
		b := put(t, s, "hello", nil)
		if a.Hash != b.Hash || a.Size != 5 {
			t.Fatalf("dedup: %v %v", a, b)
		}
		if n, size, _ := s.Usage(ctx); n != 1 || size != 5 {
			t.Fatalf("usage = %d objects, %d bytes", n, size)
		}
		if got := list(); len(got) != 1 {
			t.Fatalf("identical content stored as %v", got)
		}
		unref := func() {
			if err := db.InTx(ctx, func(ctx context.Context) error { return s.Unref(ctx, a.Hash) }); err != nil {
				t.Fatal(err)
			}
		}
		unref()
		if !s.Has(a.Hash) || read(t, s, a.Hash) != "hello" {
			t.Fatal("object removed while still referenced")
		}
		unref()
		if s.Has(a.Hash) {
			t.Fatal("object kept after last reference dropped")
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("left behind: %v", got)
		}
		if err := db.InTx(ctx, func(ctx context.Context) error { return s.Unref(ctx, a.Hash) }); err == nil {
			t.Fatal("unref below zero accepted")
		}
	})
}

func TestFailedCommitLeavesNothing(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		s := open(t, cfg, openDB(t, t.TempDir()))
		info := put(t, s, "doomed", func(context.Context) error { return errors.New("metadata refused") })
		if info.Hash != "" {
			t.Fatal("commit succeeded")
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("left behind: %v", got)
		}
		st, err := s.Stage(strings.NewReader("discarded"), -1)
		if err != nil {
			t.Fatal(err)
		}
		st.Discard()
		if got := list(); len(got) != 0 {
			t.Fatalf("a discarded stage left %v", got)
		}
	})
}

func TestLimit(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		s := open(t, cfg, openDB(t, t.TempDir()))
		big := strings.Repeat("x", 3*chunkSize+5)
		for _, c := range []string{"12345", big} {
			if _, err := s.Stage(strings.NewReader(c), int64(len(c)-1)); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes over a limit of %d: err = %v", len(c), len(c)-1, err)
			}
			if st, err := s.Stage(strings.NewReader(c), int64(len(c))); err != nil {
				t.Fatal(err)
			} else {
				st.Discard()
			}
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("left behind: %v", got)
		}
	})
}

// What a crash leaves (content kept but never referenced, a half-written
// temporary, an unfinished upload) is collected when the store is opened
// again; referenced content stays.
func TestCollectAfterCrash(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		meta := t.TempDir()
		cfg.Grace = 0 // one process: everything unreferenced is a leftover
		db := openDB(t, meta)
		s := open(t, cfg, db)
		kept := put(t, s, "kept", nil)
		// A crash after keeping the content but before the metadata commit.
		st, err := s.Stage(strings.NewReader("orphan"), -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.be.keep(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		// A crash mid-write.
		leftovers := 2
		switch b := s.be.(type) {
		case *dir:
			os.WriteFile(filepath.Join(b.root, "tmp", "stage-123"), []byte("half"), 0o600)
		case *bucket:
			core := minio.Core{Client: b.cl}
			id, err := core.NewMultipartUpload(context.Background(), b.Bucket, b.Prefix+"o/half", minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := core.PutObjectPart(context.Background(), b.Bucket, b.Prefix+"o/half", id, 1, strings.NewReader("half"), 4, minio.PutObjectPartOptions{}); err != nil {
				t.Fatal(err)
			}
			// A crash after the last reference went but before the object did.
			gone := put(t, s, "gone", nil)
			if _, err := db.Exec(`UPDATE blobs SET refs=0 WHERE hash=?`, gone.Hash); err != nil {
				t.Fatal(err)
			}
			leftovers++
		}
		before := len(list())
		db.Close()

		db = openDB(t, meta)
		s = open(t, cfg, db)
		n, err := s.Collect(context.Background())
		if err != nil || n != leftovers {
			t.Fatalf("collect removed %d of %d, err %v; left %v", n, leftovers, err, list())
		}
		if !s.Has(kept.Hash) || s.Has(st.Hash) {
			t.Fatal("collect removed the wrong object")
		}
		if err := s.Verify(kept.Hash); err != nil {
			t.Fatal(err)
		}
		if got := list(); len(got) != 1 {
			t.Fatalf("after collection (%d before) the store holds %v", before, got)
		}
	})
}

// A bucket shared by several processes: what another may be about to refer
// to (younger than the grace period) is left alone.
func TestCollectLeavesYoungUploads(t *testing.T) {
	cfg, list := backends[1].new(t)
	db := openDB(t, t.TempDir())
	s := open(t, cfg, db)
	st, err := s.Stage(strings.NewReader("in flight elsewhere"), -1)
	if err != nil {
		t.Fatal(err)
	}
	s.be.(*bucket).track(st.tmp, false) // as if another process uploaded it
	if n, err := s.Collect(context.Background()); err != nil || n != 0 {
		t.Fatalf("collect removed %d, err %v", n, err)
	}
	if err := s.Commit(context.Background(), st, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if read(t, s, st.Hash) != "in flight elsewhere" || len(list()) != 1 {
		t.Fatal("a young upload was collected")
	}
	// Left by a process that crashed: the sweep collects it once it is
	// older than the grace period.
	cfg.Grace = time.Second
	s = open(t, cfg, db)
	orphan, err := s.Stage(strings.NewReader("orphan"), -1)
	if err != nil {
		t.Fatal(err)
	}
	s.be.(*bucket).track(orphan.tmp, false)
	if n, err := s.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep within the grace period removed %d, err %v", n, err)
	}
	time.Sleep(1100 * time.Millisecond) // S3 times are in whole seconds
	if n, err := s.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep removed %d, err %v; the bucket holds %v", n, err, list())
	}
	if len(list()) != 1 {
		t.Fatalf("after the sweep: %v", list())
	}
}

func TestVerifyDetectsDamage(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		in := put(t, s, "precious", nil)
		switch b := s.be.(type) {
		case *dir:
			loc, _ := s.location(in.Hash)
			os.WriteFile(b.file(in.Hash, loc), []byte("tampered"), 0o600)
		case *bucket:
			loc, _ := s.location(in.Hash)
			if _, err := b.cl.PutObject(context.Background(), b.Bucket, loc, strings.NewReader("tampered"), 8, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Verify(in.Hash); !errors.Is(err, ErrDamaged) {
			t.Fatalf("damage not detected: %v", err)
		}
		bad, err := s.Scrub(context.Background())
		if err != nil || len(bad) != 1 || s.Has(in.Hash) {
			t.Fatalf("scrub found %v, err %v", bad, err)
		}
		st, err := s.Stage(strings.NewReader("precious"), -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Restore(st, in.Hash); err != nil {
			t.Fatal(err)
		}
		if read(t, s, in.Hash) != "precious" || len(list()) != 1 {
			t.Fatalf("restored: %v", list())
		}
	})
}

// Concurrent uploads and deletions of the same content never lose an object
// that is still referenced.
func TestConcurrentRefUnref(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		ctx := context.Background()
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		rounds := 20
		if cfg.Location != "" {
			rounds = 5 // each round is several requests to the server
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < rounds; j++ {
					in := put(t, s, "shared", nil)
					if err := db.InTx(ctx, func(ctx context.Context) error { return s.Unref(ctx, in.Hash) }); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		in := put(t, s, "shared", nil)
		if got := read(t, s, in.Hash); got != "shared" {
			t.Fatalf("got %q", got)
		}
		if got := list(); len(got) != 1 {
			t.Fatalf("the store holds %v", got)
		}
	})
}

// Range reads are served from the object, not from a copy of it read whole.
func TestRangeRead(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		s := open(t, cfg, openDB(t, t.TempDir()))
		content := bytes.Repeat([]byte("0123456789"), 700_000) // 7 MB: more than a part and a chunk
		st, err := s.Stage(bytes.NewReader(content), -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(context.Background(), st, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if s.Size(st.Hash) != int64(len(content)) {
			t.Fatalf("size %d", s.Size(st.Hash))
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := s.Open(st.Hash)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			defer f.Close()
			http.ServeContent(w, r, "", time.Time{}, f)
		}))
		defer srv.Close()
		for _, c := range []struct {
			rng        string
			start, end int
		}{{"bytes=5000000-5000009", 5000000, 5000010}, {"bytes=-7", len(content) - 7, len(content)}, {"bytes=3-", 3, len(content)}} {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Range", c.rng)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, content[c.start:c.end]) {
				t.Fatalf("%s: status %d, %d bytes", c.rng, resp.StatusCode, len(got))
			}
		}
		f, err := s.Open(st.Hash)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4)
		if _, err := f.ReadAt(buf, 6_999_990); err != nil || string(buf) != "0123" {
			t.Fatalf("ReadAt: %q %v", buf, err)
		}
		// Reads and relative seeks agree on where the reader is.
		if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "0123" {
			t.Fatalf("first read: %q %v", buf, err)
		}
		if at, err := f.Seek(0, io.SeekCurrent); err != nil || at != 4 {
			t.Fatalf("at %d after 4 bytes (%v)", at, err)
		}
		if at, err := f.Seek(3, io.SeekCurrent); err != nil || at != 7 {
			t.Fatalf("at %d after seeking 3 more (%v)", at, err)
		}
		if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "7890" {
			t.Fatalf("read after a seek: %q %v", buf, err)
		}
	})
}

func TestStageHashesEverySink(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		s := open(t, cfg, openDB(t, t.TempDir()))
		for _, size := range []int{0, 1, chunkSize, chunkSize + 1, 5*chunkSize + 7} {
			content := bytes.Repeat([]byte{'a', 'b', 'c'}, size/3+1)[:size]
			var extra bytes.Buffer
			st, err := s.Stage(bytes.NewReader(content), -1, hashOf(&extra))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(extra.Bytes(), content) || st.Size != int64(size) {
				t.Fatalf("%d bytes: the extra hash saw %d, size %d", size, extra.Len(), st.Size)
			}
			if err := s.Commit(context.Background(), st, func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if got := read(t, s, st.Hash); got != string(content) {
				t.Fatalf("%d bytes: read back %d", size, len(got))
			}
			// The same with its length told in advance.
			sst, err := s.Stage(Sized(bytes.NewReader(content), int64(size)), -1)
			if err != nil || sst.Hash != st.Hash {
				t.Fatalf("%d bytes, sized: %v", size, err)
			}
			sst.Discard()
		}
		// A length told wrong fails the stage and leaves nothing.
		before := list()
		content := make([]byte, 3<<20)
		for _, told := range []int64{2 << 20, 4 << 20, 10} {
			if st, err := s.Stage(Sized(bytes.NewReader(content), told), -1); err == nil {
				st.Discard()
				t.Fatalf("%d bytes told as %d: staged", len(content), told)
			}
		}
		if got := list(); len(got) != len(before) {
			t.Fatalf("wrongly sized stages left %v", got)
		}
	})
}

func TestSub(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/blobs":                               "/srv/blobs/node1",
		"s3://b?endpoint=h:9000&insecure=true":     "s3://b/node1?endpoint=h:9000&insecure=true",
		"s3://b/pre?endpoint=h:9000&insecure=true": "s3://b/pre/node1?endpoint=h:9000&insecure=true",
	} {
		if got := Sub(in, "node1"); got != want {
			t.Errorf("Sub(%q) = %q, want %q", in, got, want)
		}
		if loc, err := ParseS3(Sub(in, "node1")); strings.HasPrefix(in, "s3://") && (err != nil || !strings.HasSuffix(loc.Prefix, "node1/")) {
			t.Errorf("Sub(%q) parses to %+v, %v", in, loc, err)
		}
	}
}

// A collection that finds an object pinned (a commit of the same content
// under way) passes it over; the last to unpin it collects it then, so an
// object whose last reference went meanwhile does not stay until a sweep.
func TestCollectionPassedOverWhilePinned(t *testing.T) {
	forEach(t, func(t *testing.T, cfg Config, list func() []string) {
		ctx := context.Background()
		db := openDB(t, t.TempDir())
		s := open(t, cfg, db)
		a := put(t, s, "pinned", nil)
		s.pin(a.Hash)
		s.pin(a.Hash)
		if err := db.InTx(ctx, func(ctx context.Context) error { return s.Unref(ctx, a.Hash) }); err != nil {
			t.Fatal(err)
		}
		if !s.Has(a.Hash) {
			t.Fatal("a pinned object was collected")
		}
		s.release(a.Hash)
		if !s.Has(a.Hash) {
			t.Fatal("collected while still pinned once")
		}
		s.release(a.Hash)
		if s.Has(a.Hash) {
			t.Fatal("the collection passed over was never done")
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("left behind: %v", got)
		}
		// Nothing passed over: unpinning collects nothing.
		b := put(t, s, "kept", nil)
		s.pin(b.Hash)
		if s.unpin(b.Hash) {
			t.Fatal("an unpin reports a collection that never happened")
		}
	})
}
