package blob

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
)

// dir keeps objects under objects/ab/abcdef... and temporary files in tmp/:
// a file is fsynced, then renamed to its hash, and the directory fsynced.
type dir struct{ root string }

func openDir(root string) (*dir, error) {
	for _, d := range []string{filepath.Join(root, "objects"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &dir{root: root}, nil
}

func (d *dir) byHash() bool { return true }

func (d *dir) path(h string) string { return filepath.Join(d.root, "objects", h[:2], h) }

type fileSink struct{ *os.File }

func (f fileSink) finish() (string, error) {
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

func (f fileSink) abort() {
	f.Close()
	os.Remove(f.Name())
}

func (d *dir) create(int64) (sink, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "stage-*")
	if err != nil {
		return nil, err
	}
	return fileSink{f}, nil
}

func (d *dir) drop(tmp string) { os.Remove(tmp) }

// keep renames the staged file to its content address.
func (d *dir) keep(_ context.Context, st *Staged) (string, error) {
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

func (d *dir) open(h, _ string) (Object, error) {
	f, err := os.Open(d.path(h))
	if err != nil {
		return nil, err // a missing one wraps fs.ErrNotExist
	}
	return f, nil
}

func (d *dir) size(h, _ string) (int64, error) {
	st, err := os.Stat(d.path(h))
	if err != nil {
		return -1, err
	}
	return st.Size(), nil
}

func (d *dir) remove(h, _ string) error { return os.Remove(d.path(h)) }

// leftovers removes every temporary file (a directory belongs to one process,
// and this runs before it serves) and every object nobody refers to.
func (d *dir) leftovers(ctx context.Context, s *Store) (removed int, err error) {
	tmp := filepath.Join(d.root, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if os.Remove(filepath.Join(tmp, e.Name())) == nil {
			removed++
		}
	}
	err = filepath.WalkDir(filepath.Join(d.root, "objects"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		h := e.Name()
		if !validHash(h) {
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
