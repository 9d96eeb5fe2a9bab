package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// dir keeps objects under objects/ab/abcdef... and temporary files in tmp/:
// a file is fsynced, then renamed to its hash, and the directory fsynced.
//
// A directory shared by several processes of a node (unique) names each
// upload abcdef....RANDOM instead, kept in the row's location like a
// bucket's keys: a process removing an unreferenced object then never
// removes the file another process has just placed for the same content.
type dir struct {
	root   string
	unique bool
	grace  time.Duration // with unique: how old a leftover must be to be removed
}

func openDir(root string, unique bool, grace time.Duration) (*dir, error) {
	for _, d := range []string{filepath.Join(root, "objects"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &dir{root: root, unique: unique, grace: grace}, nil
}

func (d *dir) byHash() bool { return !d.unique }

func (d *dir) path(h string) string { return filepath.Join(d.root, "objects", h[:2], h) }

// file is where the object of hash h kept at location is ("": at its hash).
func (d *dir) file(h, location string) string {
	if location != "" {
		return filepath.Join(d.root, "objects", filepath.FromSlash(location))
	}
	return d.path(h)
}

// fileSink writes a staged file and starts its writeback every writeBehind
// bytes, so that the disk works while the content still streams in and the
// fsync at the end waits for the last stretch only (64 MiB: the fsync alone
// took 105-114 ms, half of a raw PUT).
type fileSink struct {
	*os.File
	written, started int64 // bytes written; bytes whose writeback was started
}

const writeBehind = 8 << 20

func (f *fileSink) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.written += int64(n)
	if f.written-f.started >= writeBehind {
		startWriteback(f.File, f.started, f.written-f.started)
		f.started = f.written
	}
	return n, err
}

func (f *fileSink) finish() (string, error) {
	if err := f.Sync(); err != nil {
		f.abort()
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func (f *fileSink) abort() {
	f.Close()
	os.Remove(f.Name())
}

func (d *dir) create(int64) (sink, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "stage-*")
	if err != nil {
		return nil, err
	}
	return &fileSink{File: f}, nil
}

func (d *dir) drop(tmp string) { os.Remove(tmp) }

// keep renames the staged file to its content address.
func (d *dir) keep(_ context.Context, st *Staged) (string, error) {
	if d.unique {
		var b [8]byte
		_, _ = rand.Read(b[:])
		loc := st.Hash[:2] + "/" + st.Hash + "." + hex.EncodeToString(b[:])
		dst := d.file(st.Hash, loc)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return "", err
		}
		if err := os.Rename(st.tmp, dst); err != nil {
			return "", err
		}
		st.tmp = ""
		return loc, syncDir(filepath.Dir(dst))
	}
	dst := d.path(st.Hash)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(st.tmp) // identical content is stored once
		st.tmp = ""
		return "", nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(st.tmp, dst); err != nil {
		return "", err
	}
	st.tmp = ""
	return "", syncDir(filepath.Dir(dst))
}

func (d *dir) open(h, location string) (Object, error) {
	f, err := os.Open(d.file(h, location))
	if err != nil {
		return nil, err // a missing one wraps fs.ErrNotExist
	}
	return f, nil
}

func (d *dir) size(h, location string) (int64, error) {
	st, err := os.Stat(d.file(h, location))
	if err != nil {
		return -1, err
	}
	return st.Size(), nil
}

func (d *dir) remove(h, location string) error { return os.Remove(d.file(h, location)) }

// leftovers removes every temporary file (a directory belongs to one process,
// and this runs before it serves) and every object nobody refers to.
func (d *dir) leftovers(ctx context.Context, s *Store) (removed int, err error) {
	tmp := filepath.Join(d.root, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if d.unique && !d.old(e) {
			continue // another process's upload in flight
		}
		if os.Remove(filepath.Join(tmp, e.Name())) == nil {
			removed++
		}
	}
	err = filepath.WalkDir(filepath.Join(d.root, "objects"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		h, _, unique := strings.Cut(e.Name(), ".")
		if !validHash(h) {
			return nil
		}
		if unique {
			loc := h[:2] + "/" + e.Name()
			if ref, err := s.referenced(ctx, loc); err != nil || ref || !d.old(e) {
				return err
			}
			if os.Remove(p) == nil {
				removed++
			}
			return nil
		}
		unref, err := s.unreferenced(ctx, h)
		if err != nil || !unref {
			return err
		}
		s.mu.Lock()
		if s.pins[h] == 0 && os.Remove(p) == nil {
			removed++
		}
		s.mu.Unlock()
		return nil
	})
	return removed, err
}

// old tells whether a leftover is older than the grace period.
func (d *dir) old(e fs.DirEntry) bool {
	info, err := e.Info()
	return err == nil && time.Since(info.ModTime()) > d.grace
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d *dir) holdings(context.Context) (objects, temporaries int, err error) {
	count := func(dir string) (n int, err error) {
		err = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return err
		})
		return n, err
	}
	if objects, err = count(filepath.Join(d.root, "objects")); err != nil {
		return
	}
	temporaries, err = count(filepath.Join(d.root, "tmp"))
	return
}
