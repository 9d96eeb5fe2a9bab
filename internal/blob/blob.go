// Package blob is the content-addressed store of the node's bytes. Every
// object is named by the SHA-256 of its content, written to a temporary file,
// fsynced and renamed into place, so a reader never sees half an object.
// Objects are reference-counted in the metadata store, in the same
// transaction as the record that refers to them: an object nobody refers to
// after a crash is collected at the next start.
package blob

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/store"
)

var migrations = []string{
	`CREATE TABLE blobs (
		hash TEXT PRIMARY KEY,      -- lowercase hex SHA-256
		size INTEGER NOT NULL,
		refs INTEGER NOT NULL CHECK (refs >= 0)
	)`,
}

// Store keeps objects under dir/objects/ab/abcdef... .
type Store struct {
	dir string
	db  *store.DB
	log *slog.Logger

	mu   sync.Mutex
	pins map[string]int // objects being committed: never collected meanwhile
}

// Config is where the store keeps its files.
type Config struct {
	Dir string // objects/ and tmp/ below it; created if needed
}

// Deps are the store's dependencies: the metadata store counts references.
type Deps struct {
	DB  *store.DB
	Log *slog.Logger
}

// New opens the store, creating its directories if needed.
func New(ctx context.Context, cfg Config, deps Deps) (*Store, error) {
	dir, db, log := cfg.Dir, deps.DB, deps.Log
	for _, d := range []string{filepath.Join(dir, "objects"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := db.Migrate(ctx, "blob", migrations); err != nil {
		return nil, err
	}
	return &Store{dir: dir, db: db, log: log, pins: map[string]int{}}, nil
}

// Info describes a stored object.
type Info struct {
	Hash string // lowercase hex SHA-256
	Size int64
}

// Staged is content written to a temporary file and fsynced, not yet visible.
// Commit makes it visible; Discard (safe to defer) removes it otherwise.
type Staged struct {
	Info
	tmp string
}

// ErrTooLarge is returned by Stage when the content exceeds the limit.
var ErrTooLarge = errors.New("content exceeds the size limit")

// Stage streams r into a temporary file, hashing it on the way. extra hashes,
// if given, see the same bytes (a face that needs another digest adds one).
// limit < 0 means no limit.
func (s *Store) Stage(r io.Reader, limit int64, extra ...hash.Hash) (*Staged, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "stage-*")
	if err != nil {
		return nil, err
	}
	st := &Staged{tmp: f.Name()}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(st.tmp)
		}
	}()
	h := sha256.New()
	writers := []io.Writer{f, h}
	for _, x := range extra {
		writers = append(writers, x)
	}
	src := r
	if limit >= 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.CopyBuffer(io.MultiWriter(writers...), src, make([]byte, 256<<10))
	if err != nil {
		return nil, err
	}
	if limit >= 0 && n > limit {
		return nil, ErrTooLarge
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	st.Hash, st.Size = hex.EncodeToString(h.Sum(nil)), n
	ok = true
	return st, nil
}

// Discard removes the staged file if it was not committed.
func (st *Staged) Discard() {
	if st != nil && st.tmp != "" {
		os.Remove(st.tmp)
		st.tmp = ""
	}
}

// Commit makes the staged content visible and runs fn in the same metadata
// transaction that adds a reference to it. If fn fails nothing is referenced
// and the object is collected (unless something else refers to it).
func (s *Store) Commit(ctx context.Context, st *Staged, fn func(tx *store.Tx) error) error {
	if st.tmp == "" {
		return errors.New("blob: staged content already committed or discarded")
	}
	s.pin(st.Hash)
	if err := s.place(st); err != nil {
		s.unpin(st.Hash)
		return err
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := s.Ref(tx, st.Info); err != nil {
			return err
		}
		return fn(tx)
	})
	s.unpin(st.Hash)
	// Collect even on success: another transaction may have dropped the new
	// reference while the pin kept its own collection from removing the
	// object. Unreferenced, it would stay on disk until the next start.
	s.collect(st.Hash)
	return err
}

// place renames the staged file to its content address.
func (s *Store) place(st *Staged) error {
	dst := s.path(st.Hash)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(st.tmp) // identical content is stored once
		st.tmp = ""
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(st.tmp, dst); err != nil {
		return err
	}
	st.tmp = ""
	return syncDir(filepath.Dir(dst))
}

// Ref adds a reference to an object inside tx. The object must exist: it was
// committed by Commit or is already referenced.
func (s *Store) Ref(tx *store.Tx, in Info) error {
	_, err := tx.Exec(`INSERT INTO blobs(hash,size,refs) VALUES(?,?,1)
		ON CONFLICT(hash) DO UPDATE SET refs=blobs.refs+1`, in.Hash, in.Size)
	return err
}

// Unref drops a reference inside tx; once tx commits, an object nobody refers
// to any more is deleted.
func (s *Store) Unref(tx *store.Tx, hash string) error {
	res, err := tx.Exec(`UPDATE blobs SET refs=refs-1 WHERE hash=? AND refs>0`, hash)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("blob: unref of unreferenced object %s", hash)
	}
	tx.AfterCommit(func() { s.collect(hash) })
	return nil
}

// Open opens an object for reading. A missing object is apierr 404.
func (s *Store) Open(hash string) (*os.File, error) {
	if !validHash(hash) {
		return nil, apierr.NotFound("no such object")
	}
	f, err := os.Open(s.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apierr.NotFound("object %s is missing from the blob store", hash)
	}
	return f, err
}

// Has tells whether an object exists on disk.
func (s *Store) Has(hash string) bool {
	if !validHash(hash) {
		return false
	}
	_, err := os.Stat(s.path(hash))
	return err == nil
}

// Verify re-reads an object and checks its hash.
func (s *Store) Verify(hash string) error {
	f, err := s.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return fmt.Errorf("blob %s is damaged: content hashes to %s", hash, got)
	}
	return nil
}

// Collect removes temporary files and objects nobody refers to: what a crash
// may have left. Run it at start-up, before serving.
func (s *Store) Collect(ctx context.Context) (removed int, err error) {
	tmp := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if os.Remove(filepath.Join(tmp, e.Name())) == nil {
			removed++
		}
	}
	root := filepath.Join(s.dir, "objects")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		h := d.Name()
		var refs int
		qerr := s.db.QueryRowContext(ctx, `SELECT refs FROM blobs WHERE hash=?`, h).Scan(&refs)
		if qerr != nil && !errors.Is(qerr, sql.ErrNoRows) {
			return qerr
		}
		if refs == 0 {
			s.mu.Lock()
			if s.pins[h] == 0 {
				if os.Remove(p) == nil {
					removed++
				}
			}
			s.mu.Unlock()
		}
		return nil
	})
	if _, derr := s.db.ExecContext(ctx, `DELETE FROM blobs WHERE refs=0`); err == nil {
		err = derr
	}
	return removed, err
}

// Usage returns the number of objects and their total size.
func (s *Store) Usage(ctx context.Context) (objects int64, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size),0) FROM blobs WHERE refs>0`).Scan(&objects, &bytes)
	return
}

// Gauges registers the objects and bytes in the store.
func (s *Store) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_blob_store", "Objects and bytes in the blob store.", "measure", func(ctx context.Context) (map[string]int64, error) {
		objs, bytes, err := s.Usage(ctx)
		return map[string]int64{"objects": objs, "bytes": bytes}, err
	})
}

func (s *Store) collect(h string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins[h] > 0 {
		return
	}
	s.collectLocked(h)
}

// collectLocked deletes h if nothing refers to it. s.mu is held, so no Commit
// of the same content can place it between the check and the removal.
func (s *Store) collectLocked(h string) {
	var refs int
	err := s.db.QueryRow(`SELECT refs FROM blobs WHERE hash=?`, h).Scan(&refs)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.log.Warn("blob: cannot check references; leaving object for the next start", "hash", h, "err", err)
		return
	}
	if refs > 0 {
		return
	}
	if err := os.Remove(s.path(h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("blob: cannot remove object", "hash", h, "err", err)
		return
	}
	_, _ = s.db.Exec(`DELETE FROM blobs WHERE hash=? AND refs=0`, h)
}

func (s *Store) pin(h string) {
	s.mu.Lock()
	s.pins[h]++
	s.mu.Unlock()
}

func (s *Store) unpin(h string) {
	s.mu.Lock()
	if s.pins[h]--; s.pins[h] <= 0 {
		delete(s.pins, h)
	}
	s.mu.Unlock()
}

func (s *Store) path(h string) string { return filepath.Join(s.dir, "objects", h[:2], h) }

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	return strings.Trim(h, "0123456789abcdef") == ""
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Restore puts back the content of an object that is referenced but missing
// or damaged on disk. The staged content must hash to want.
func (s *Store) Restore(st *Staged, want string) error {
	if st.Hash != want {
		return fmt.Errorf("blob: restored content hashes to %s, want %s", st.Hash, want)
	}
	s.pin(want)
	defer s.unpin(want)
	if err := os.Remove(s.path(want)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.place(st)
}

// Size returns the size on disk of an object, or -1 if it is missing.
func (s *Store) Size(hash string) int64 {
	if !validHash(hash) {
		return -1
	}
	st, err := os.Stat(s.path(hash))
	if err != nil {
		return -1
	}
	return st.Size()
}

// Scrub re-hashes every object and removes the damaged ones, so that the
// next read repairs them from a replica. It returns the damaged hashes.
func (s *Store) Scrub(ctx context.Context) ([]string, error) {
	var damaged []string
	err := filepath.WalkDir(filepath.Join(s.dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || ctx.Err() != nil {
			return err
		}
		h := d.Name()
		if !validHash(h) {
			return nil
		}
		if verr := s.Verify(h); verr != nil {
			s.mu.Lock()
			if s.pins[h] == 0 {
				os.Remove(p)
				damaged = append(damaged, h)
			}
			s.mu.Unlock()
			s.log.Warn("blob: removed a damaged object", "hash", h, "err", verr)
		}
		return nil
	})
	return damaged, err
}
