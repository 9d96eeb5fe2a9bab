package sandbox

import (
	"io"
	"io/fs"
	"sort"
	"time"
)

// Files is a flat, read-only file system whose entries are host files under
// other names (for example content-addressed blobs under the names a module
// expects): each name maps to a function that opens its file. Mount it with
// Mount{Guest: "/deps", FS: Files{...}}.
type Files map[string]func() (File, error)

// File is what an entry opens: a host file (*os.File) or any stored object
// that reads, seeks and stats like one.
type File interface {
	io.ReadSeekCloser
	io.ReaderAt
	Stat() (fs.FileInfo, error)
}

// Open implements fs.FS.
func (f Files) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &filesDir{files: f}, nil
	}
	open, ok := f[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	file, err := open()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &namedFile{File: file, name: name}, nil
}

// namedFile is a host file that stats under its guest name and read-only mode.
type namedFile struct {
	File
	name string
}

func (n *namedFile) Stat() (fs.FileInfo, error) {
	fi, err := n.File.Stat()
	if err != nil {
		return nil, err
	}
	return fileInfo{name: n.name, size: fi.Size(), mode: 0o444, mod: fi.ModTime()}, nil
}

// ReadDir keeps os.File's directory method from being promoted: a namedFile
// is never a directory.
func (n *namedFile) ReadDir(int) ([]fs.DirEntry, error) {
	return nil, &fs.PathError{Op: "readdir", Path: n.name, Err: fs.ErrInvalid}
}

type filesDir struct {
	files   Files
	entries []fs.DirEntry // nil until the first ReadDir
	off     int
}

func (d *filesDir) Stat() (fs.FileInfo, error) {
	return fileInfo{name: ".", mode: fs.ModeDir | 0o555}, nil
}
func (d *filesDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}
func (d *filesDir) Close() error { return nil }

func (d *filesDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.entries == nil {
		names := make([]string, 0, len(d.files))
		for name := range d.files {
			names = append(names, name)
		}
		sort.Strings(names)
		d.entries = make([]fs.DirEntry, 0, len(names))
		for _, name := range names {
			var size int64
			if f, err := d.files[name](); err == nil {
				if fi, err := f.Stat(); err == nil {
					size = fi.Size()
				}
				f.Close()
			}
			d.entries = append(d.entries, fs.FileInfoToDirEntry(fileInfo{name: name, size: size, mode: 0o444}))
		}
	}
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.off += len(rest)
	return rest, nil
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }
