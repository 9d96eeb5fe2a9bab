// Package blob is the content-addressed store of the node's bytes: every
// object is found by the SHA-256 of its content. Content is staged first
// (written in full, durably: fsynced, or a completed S3 upload) and only then
// referenced, in the same metadata transaction as the record that refers to
// it, so a reader never sees half an object and nothing acknowledged is lost.
// Objects are reference-counted in the metadata store; an object nobody
// refers to after a crash is collected at the next start (or sweep).
//
// Two backends keep the bytes: a local directory (the default), where an
// object's file is named by its hash, and an S3-compatible bucket, where each
// upload keeps the key it was uploaded under and the metadata store maps the
// hash to it (S3 has no rename, and a server-side copy to a hash-named key
// costs as much as the upload itself). Identical content is stored once in
// both.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/metrics"
)

// Config is where the store keeps its bytes.
type Config struct {
	// Location is a directory, or an S3 bucket as
	// s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=REGION&insecure=true
	// (see ParseS3). "" means Dir.
	Location string
	// Dir is the default directory (the node sets DATA/blobs).
	Dir string
	// Shared: several processes of the node keep objects in this one
	// place (a bucket always allows for it; a directory then names each
	// upload apart, as a bucket does).
	Shared bool
	// Grace is how old a bucket's unreferenced object or unfinished upload
	// must be before a collection removes it: another process sharing the
	// bucket may still be about to refer to a younger one.
	Grace time.Duration
	// PartSize is the S3 multipart part size, and PartsInFlight how many
	// parts an upload buffers and sends at once: an upload holds
	// PartSize*PartsInFlight bytes, and is at most 10,000 parts.
	PartSize      int64
	PartsInFlight int
	// InlineMax is the size up to which an object is kept in its metadata
	// row instead of the directory or bucket (inline.go); 0 keeps none.
	InlineMax int64
}

// DefaultConfig keeps the bytes in the node's data directory.
func DefaultConfig() Config {
	return Config{Grace: time.Hour, PartSize: 8 << 20, PartsInFlight: 2, InlineMax: 64 << 10}
}

// RegisterFlags registers --blobs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Location, "blobs", c.Location, "where content is kept: a directory (default DATA/blobs), or an S3-compatible bucket as "+
		"s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=REGION[&insecure=true] with credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)")
	fs.Int64Var(&c.InlineMax, "blob-inline-max", c.InlineMax, "objects up to this many bytes are kept in the metadata database with their record, not as a file or bucket object each (0: none)")
}

// Deps are the store's dependencies: the metadata store counts references.
type Deps struct {
	Refs Refs
	Log  *slog.Logger
}

// Object is an open stored object: readable, seekable and readable at an
// offset, as http.ServeContent, Merkle proofs and the sandbox need. A file
// (*os.File) is one.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
	Stat() (fs.FileInfo, error)
}

// backend keeps the bytes. Objects are named by hash and location (see the
// blobs table); errors for a missing object wrap fs.ErrNotExist.
type backend interface {
	// create starts a new temporary object of size bytes (-1: unknown).
	create(size int64) (sink, error)
	// keep makes staged content the object of its hash and says where it
	// is; it takes the staged temporary over (st.tmp is cleared).
	keep(ctx context.Context, st *Staged) (location string, err error)
	// drop removes a temporary object.
	drop(tmp string)
	open(hash, location string) (Object, error)
	size(hash, location string) (int64, error)
	remove(hash, location string) error
	// leftovers removes what a crash may have left: temporary objects and
	// objects no row refers to.
	leftovers(ctx context.Context, s *Store) (int, error)
	holdings(ctx context.Context) (objects, temporaries int, err error)
	// byHash tells whether objects are kept at their hash (then one with no
	// row at all is unreferenced, and Commit pins it while placing it).
	byHash() bool
}

// sink receives a temporary object's bytes.
type sink interface {
	io.Writer
	// finish makes the written bytes durable and names the temporary.
	finish() (tmp string, err error)
	// abort gives up the object.
	abort()
}

// Store is the content-addressed store.
type Store struct {
	be   backend
	refs Refs
	log  *slog.Logger

	grace     time.Duration
	inlineMax int64

	mu   sync.Mutex
	pins map[string]int // objects being committed: never collected meanwhile
	// skipped holds the pinned objects a collection passed over: the last
	// to unpin one collects it then.
	skipped map[string]bool
	swept   time.Time // the last sweep's collection
}

// New opens the store: a local directory (created if needed) or an S3 bucket,
// which must exist and accept the credentials.
func New(ctx context.Context, cfg Config, deps Deps) (*Store, error) {
	if cfg.InlineMax < 0 || cfg.InlineMax > maxInline {
		return nil, fmt.Errorf("--blob-inline-max %d: give 0 to %d bytes (a row holds an object whole, in memory)", cfg.InlineMax, maxInline)
	}
	s := &Store{refs: deps.Refs, log: deps.Log, grace: cfg.Grace, inlineMax: cfg.InlineMax, swept: time.Now(), pins: map[string]int{}, skipped: map[string]bool{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	loc := cfg.Location
	if loc == "" {
		loc = cfg.Dir
	}
	if strings.HasPrefix(loc, "s3://") {
		s.be, err = openS3(ctx, loc, cfg, s.log)
	} else {
		s.be, err = openDir(loc, cfg.Shared, cfg.Grace)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// maxInline bounds Config.InlineMax: an inline object is read and written
// whole, in memory.
const maxInline = 16 << 20

// Info describes a stored object.
type Info struct {
	Hash string // lowercase hex SHA-256
	Size int64
}

// Staged is content written in full and durably, not yet visible. Commit
// makes it visible; Discard (safe to defer) removes it otherwise.
type Staged struct {
	Info
	tmp  string
	drop func(string)
	// Content from Begin: w is its sink until it is made durable; placed
	// is the store that placed it at loc and pins it (Place).
	w      sink
	placed *Store
	loc    string
	// inline is content small enough to be kept in its row (inline.go).
	inline []byte
}

// ErrTooLarge is returned by Stage when the content exceeds the limit.
var ErrTooLarge = errors.New("content exceeds the size limit")

// ErrDamaged is returned by Verify for content that no longer hashes to its
// name.
var ErrDamaged = errors.New("blob: stored content is damaged")

// Stage streams r into a temporary object, hashing it on the way. extra
// hashes, if given, see the same bytes (a face that needs another digest adds
// one); each hash and the writing run side by side. limit < 0 means no limit.
func (s *Store) Stage(r io.Reader, limit int64, extra ...hash.Hash) (*Staged, error) {
	st, err := s.Begin(r, limit, extra...)
	if err != nil {
		return nil, err
	}
	if err := st.finish(); err != nil {
		return nil, err
	}
	return st, nil
}

// Begin is Stage but for making the content durable: its hash and size are
// known when it returns, and Place (or Commit) makes it durable, so that
// work that needs only them (peers confirming a price) runs meanwhile.
// Discard gives it up.
func (s *Store) Begin(r io.Reader, limit int64, extra ...hash.Hash) (*Staged, error) {
	size := int64(-1)
	if sz, ok := r.(*sized); ok {
		r, size = sz.Reader, sz.n
	}
	var w sink
	if s.inlineMax > 0 && size <= s.inlineMax {
		w = &memSink{max: int(s.inlineMax), open: func() (sink, error) { return s.be.create(size) }}
	} else {
		var err error
		if w, err = s.be.create(size); err != nil {
			return nil, err
		}
	}
	h := sha256.New()
	sinks := []io.Writer{w, h}
	for _, x := range extra {
		sinks = append(sinks, x)
	}
	src := r
	if limit >= 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := fanOut(src, sinks)
	switch {
	case err != nil:
	case limit >= 0 && n > limit:
		err = ErrTooLarge
	case size >= 0 && n != size:
		err = fmt.Errorf("blob: content of %d bytes announced, %d read", size, n)
	}
	if err != nil {
		w.abort()
		return nil, err
	}
	st := &Staged{Info: Info{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, w: w, drop: s.be.drop}
	if m, ok := w.(*memSink); ok && m.spill == nil {
		if n == 0 { // an empty row would read as NULL: an empty file
			if err := m.spillOut(); err != nil {
				return nil, err
			}
			return st, nil
		}
		st.w, st.inline = nil, m.buf
	}
	return st, nil
}

// finish makes Begin's content durable (an fsync, or a completed upload).
func (st *Staged) finish() error {
	if st.w == nil {
		return nil
	}
	w := st.w
	st.w = nil
	tmp, err := w.finish() // gives the temporary up if it fails
	st.tmp = tmp
	return err
}

// Place makes staged content durable at its address ahead of Commit, which
// then only refers to it: the fsyncs of a local file and its directory, or
// a bucket upload's completion, may then overlap other work. The object is
// pinned (never collected) until Commit or Discard.
func (s *Store) Place(ctx context.Context, st *Staged) error {
	loc, err := s.place(ctx, st)
	if err != nil {
		return err
	}
	st.placed, st.loc = s, loc
	return nil
}

// place makes st durable at its address, pinned, unless Place did already.
func (s *Store) place(ctx context.Context, st *Staged) (string, error) {
	if st.placed != nil {
		st.placed = nil // the caller holds the pin now
		return st.loc, nil
	}
	if st.inline != nil {
		s.pin(st.Hash)
		return "", nil // it goes into the row
	}
	if err := st.finish(); err != nil {
		return "", err
	}
	if st.tmp == "" {
		return "", errors.New("blob: staged content already committed or discarded")
	}
	s.pin(st.Hash)
	loc, err := s.be.keep(ctx, st)
	if err != nil {
		s.release(st.Hash)
		return "", err
	}
	return loc, nil
}

// Sized tells Stage the exact length of r (a request's Content-Length, say):
// a bucket then takes it in one streamed PUT (up to 5 GiB), without a
// multipart upload or its part buffers. Content of another length fails.
func Sized(r io.Reader, n int64) io.Reader {
	if n < 0 {
		return r
	}
	return &sized{Reader: r, n: n}
}

type sized struct {
	io.Reader
	n int64
}

// Discard removes the staged content if it was not committed.
func (st *Staged) Discard() {
	if st == nil {
		return
	}
	if st.w != nil {
		st.w.abort()
		st.w = nil
	}
	if s := st.placed; s != nil {
		// Placed but referenced by no row: as a Commit whose fn failed.
		st.placed = nil
		if st.loc != "" {
			if err := s.be.remove(st.Hash, st.loc); err != nil {
				s.log.Warn("blob: cannot remove a discarded upload; the next collection will", "location", st.loc, "err", err)
			}
		}
		s.unpin(st.Hash)
		s.collect(st.Hash)
		return
	}
	if st.tmp != "" {
		st.drop(st.tmp)
		st.tmp = ""
	}
}

// Commit makes the staged content visible and runs fn in the same metadata
// transaction that adds a reference to it. If fn fails nothing is referenced
// and the object is collected (unless something else refers to it).
func (s *Store) Commit(ctx context.Context, st *Staged, fn func(ctx context.Context) error) error {
	loc, err := s.place(ctx, st)
	if err != nil {
		return err
	}
	var live string
	var fnErr error
	err = s.refs.InTx(ctx, func(ctx context.Context) error {
		var err error
		if live, err = s.refs.Ref(ctx, st.Info, loc, st.inline); err != nil {
			return err
		}
		fnErr = fn(ctx)
		return fnErr
	})
	skipped := s.unpin(st.Hash)
	// An upload kept under its own key is dropped if the content was stored
	// already (live names the older copy) or nothing refers to it. Not when
	// the commit itself failed: it may have happened, and the next
	// collection sees from the rows which it is.
	if loc != "" && (live != loc || (err != nil && fnErr != nil)) {
		if rerr := s.be.remove(st.Hash, loc); rerr != nil {
			s.log.Warn("blob: cannot remove a duplicate upload; the next collection will", "location", loc, "err", rerr)
		}
	}
	// A failed commit may leave the placed object unreferenced. A
	// successful one leaves it referenced, unless another transaction
	// dropped the new reference meanwhile: its collection, passed over
	// while the pin held, is this one's to do. (Not a collection after every
	// commit: a write statement under s.mu each time, which serialised
	// concurrent creates.)
	if err != nil || skipped {
		s.collect(st.Hash)
	}
	return err
}

// Unref drops a reference in ctx's transaction; once it commits, an object
// nobody refers to any more is deleted.
func (s *Store) Unref(ctx context.Context, hash string) error {
	ok, err := s.refs.Unref(ctx, hash)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("blob: unref of unreferenced object %s", hash)
	}
	s.refs.AfterCommit(ctx, func() { s.collect(hash) })
	return nil
}

// find is where the object of hash is kept: its content when its row keeps
// it, else its location ("" for a local object or one with no row).
func (s *Store) find(hash string) (location string, content []byte, err error) {
	location, content, _, err = s.refs.Find(context.Background(), hash)
	return location, content, err
}

// Open opens an object for reading. A missing object is apierr 404.
func (s *Store) Open(hash string) (Object, error) {
	if !validHash(hash) {
		return nil, apierr.NotFound("no such object")
	}
	loc, content, err := s.find(hash)
	if err != nil {
		return nil, err
	}
	if content != nil {
		return newMemObject(hash, content), nil
	}
	f, err := s.be.open(hash, loc)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apierr.NotFound("object %s is missing from the blob store", hash)
	}
	return f, err
}

// Has tells whether an object is stored.
func (s *Store) Has(hash string) bool {
	return s.Size(hash) >= 0
}

// Size returns the stored size of an object, or -1 if it is missing.
func (s *Store) Size(hash string) int64 {
	if !validHash(hash) {
		return -1
	}
	loc, content, err := s.find(hash)
	if err != nil {
		return -1
	}
	if content != nil {
		return int64(len(content))
	}
	n, err := s.be.size(hash, loc)
	if err != nil {
		return -1
	}
	return n
}

// Verify re-reads an object and checks its hash.
func (s *Store) Verify(hash string) error {
	f, err := s.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 256<<10)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return fmt.Errorf("%w: %s hashes to %s", ErrDamaged, hash, got)
	}
	return nil
}

// Collect removes temporary objects and objects nobody refers to: what a
// crash may have left. Run it at start-up, before serving; on a bucket the
// sweep runs it too (see Config.Grace).
func (s *Store) Collect(ctx context.Context) (removed int, err error) {
	removed, err = s.be.leftovers(ctx, s)
	if err != nil {
		return removed, err
	}
	// Rows nobody refers to whose removal a crash interrupted.
	zero, err := s.refs.Unreferenced(ctx)
	if err != nil {
		return removed, err
	}
	for _, h := range zero {
		if s.collect(h) {
			removed++
		}
	}
	return removed, nil
}

// Sweep collects a bucket's leftovers old enough to be nobody's upload in
// flight, at most once per grace period (it lists the whole bucket). A local
// directory is collected at start only.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	if s.be.byHash() {
		return 0, nil
	}
	s.mu.Lock()
	due := time.Since(s.swept) >= s.grace
	if due {
		s.swept = time.Now()
	}
	s.mu.Unlock()
	if !due {
		return 0, nil
	}
	return s.Collect(ctx)
}

// referenced tells whether any row keeps an object at location.
func (s *Store) referenced(ctx context.Context, location string) (bool, error) {
	return s.refs.LocationUsed(ctx, location)
}

// unreferenced tells whether nothing refers to the object of hash.
func (s *Store) unreferenced(ctx context.Context, hash string) (bool, error) {
	refs, err := s.refs.References(ctx, hash)
	return refs == 0, err
}

// Usage returns the number of objects and their total size.
func (s *Store) Usage(ctx context.Context) (objects int64, bytes int64, err error) {
	return s.refs.Usage(ctx)
}

// Gauges registers the objects and bytes in the store.
func (s *Store) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_blob_store", "Objects and bytes in the blob store.", "measure", func(ctx context.Context) (map[string]int64, error) {
		objs, bytes, err := s.Usage(ctx)
		return map[string]int64{"objects": objs, "bytes": bytes}, err
	})
}

// collect deletes h if nothing refers to it and it is not being committed,
// and tells whether it did.
func (s *Store) collect(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins[h] > 0 {
		s.skipped[h] = true
		return false
	}
	// The row goes first, in one statement: a commit of the same content
	// by another process then inserts a new row for its own upload rather
	// than referring to the object being removed.
	loc, ok, err := s.refs.Forget(context.Background(), h)
	switch {
	case err == nil && !ok:
		if !s.be.byHash() {
			return false // referenced, or gone already
		}
		// A local object with no row at all is unreferenced too (a failed
		// first commit); s.mu keeps a commit from placing it meanwhile.
		if unref, err := s.unreferenced(context.Background(), h); err != nil || !unref {
			return false
		}
	case err != nil:
		s.log.Warn("blob: cannot check references; leaving object for the next start", "hash", h, "err", err)
		return false
	}
	rerr := s.be.remove(h, loc)
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		s.log.Warn("blob: cannot remove object; the next collection will", "hash", h, "err", rerr)
		return false
	}
	return rerr == nil
}

func (s *Store) pin(h string) {
	s.mu.Lock()
	s.pins[h]++
	s.mu.Unlock()
}

// unpin takes a pin off h and tells whether the object is unpinned now
// and a collection passed it over while pinned: the caller collects it.
func (s *Store) unpin(h string) (skipped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins[h]--; s.pins[h] > 0 {
		return false
	}
	delete(s.pins, h)
	skipped = s.skipped[h]
	delete(s.skipped, h)
	return skipped
}

// release unpins h and does the collection passed over meanwhile.
func (s *Store) release(h string) {
	if s.unpin(h) {
		s.collect(h)
	}
}

func (s *Store) pinned(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pins[h] > 0
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	return strings.Trim(h, "0123456789abcdef") == ""
}

// Restore puts back the content of an object that is referenced but missing
// or damaged. The staged content must hash to want.
func (s *Store) Restore(st *Staged, want string) error {
	if st.Hash != want {
		return fmt.Errorf("blob: restored content hashes to %s, want %s", st.Hash, want)
	}
	if err := st.finish(); err != nil {
		return err
	}
	s.pin(want)
	defer s.release(want)
	old, content, err := s.find(want)
	if err != nil {
		return err
	}
	if st.inline != nil {
		// Back into the row; a damaged copy elsewhere goes.
		if err := s.refs.Move(context.Background(), want, "", st.inline); err != nil {
			return err
		}
		if content == nil {
			if err := s.be.remove(want, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("blob: cannot remove the damaged copy; the next collection will", "location", old, "err", err)
			}
		}
		return nil
	}
	if s.be.byHash() {
		// keep would take the damaged file for the same content.
		if err := s.be.remove(want, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	loc, err := s.be.keep(context.Background(), st)
	if err != nil || (loc == old && content == nil) {
		return err
	}
	if err := s.refs.Move(context.Background(), want, loc, nil); err != nil {
		s.be.remove(want, loc)
		return err
	}
	if err := s.be.remove(want, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("blob: cannot remove the damaged copy; the next collection will", "location", old, "err", err)
	}
	return nil
}

// Scrub re-hashes every object and removes the damaged ones, so that the
// next read repairs them from a replica. It returns the damaged hashes.
func (s *Store) Scrub(ctx context.Context) ([]string, error) {
	var damaged []string
	after := ""
	for {
		page, err := s.refs.Referenced(ctx, after, 1000)
		if err != nil {
			return damaged, err
		}
		if len(page) == 0 || ctx.Err() != nil {
			return damaged, ctx.Err()
		}
		for _, h := range page {
			verr := s.Verify(h)
			if !errors.Is(verr, ErrDamaged) || s.pinned(h) {
				// Sound, missing (a read repairs it) or unreadable for now.
				continue
			}
			loc, content, err := s.find(h)
			if err != nil {
				return damaged, err
			}
			if content != nil {
				err = s.refs.Move(ctx, h, loc, nil)
			} else if err = s.be.remove(h, loc); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			if err != nil {
				return damaged, err
			}
			damaged = append(damaged, h)
			s.log.Warn("blob: removed a damaged object", "hash", h, "err", verr)
		}
		after = page[len(page)-1]
	}
}

// Holdings counts what the backend holds: objects (referenced or not yet
// collected) and temporaries (staging files, unfinished uploads). Tests and
// operators compare it with Usage to see leftovers.
func (s *Store) Holdings(ctx context.Context) (objects, temporaries int, err error) {
	if objects, temporaries, err = s.be.holdings(ctx); err != nil {
		return objects, temporaries, err
	}
	inline, err := s.refs.Inline(ctx)
	return objects + inline, temporaries, err
}
