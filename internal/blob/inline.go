package blob

import (
	"bytes"
	"io/fs"
)

// Small objects are kept in the metadata database, in the row that counts
// their references, rather than as a file or bucket object each: storing
// one then costs the transaction that refers to it, not a file's create,
// write, fsync, rename and directory fsync besides (MinIO keeps small
// objects inside its metadata file for the same reason). Config.InlineMax
// is the largest such object; their bytes are as durable as the rows that
// refer to them, and go with them.

// memSink holds content in memory while it fits in max bytes; past that it
// writes what it holds, and then the rest, to a temporary object of the
// backend.
type memSink struct {
	buf   []byte
	max   int
	spill sink
	open  func() (sink, error)
}

func (m *memSink) Write(p []byte) (int, error) {
	if m.spill == nil {
		if len(m.buf)+len(p) <= m.max {
			m.buf = append(m.buf, p...)
			return len(p), nil
		}
		if err := m.spillOut(); err != nil {
			return 0, err
		}
	}
	return m.spill.Write(p)
}

// writeWhole takes content read whole (see fanOut): kept, or handed whole
// to a backend that can store it in one go.
func (m *memSink) writeWhole(p []byte) error {
	if m.spill == nil && len(m.buf)+len(p) <= m.max {
		m.buf = append(m.buf, p...)
		return nil
	}
	if err := m.spillOut(); err != nil {
		return err
	}
	if ww, ok := m.spill.(interface{ writeWhole([]byte) error }); ok {
		return ww.writeWhole(p)
	}
	_, err := m.spill.Write(p)
	return err
}

// spillOut moves what m holds to a temporary object of the backend.
func (m *memSink) spillOut() error {
	if m.spill != nil {
		return nil
	}
	w, err := m.open()
	if err != nil {
		return err
	}
	if len(m.buf) > 0 {
		if _, err := w.Write(m.buf); err != nil {
			w.abort()
			return err
		}
	}
	m.spill, m.buf = w, nil
	return nil
}

func (m *memSink) finish() (string, error) {
	if m.spill == nil {
		return "", nil
	}
	return m.spill.finish()
}

func (m *memSink) abort() {
	if m.spill != nil {
		m.spill.abort()
	}
}

// memObject is an object kept in its row.
type memObject struct {
	*bytes.Reader
	info objectInfo
}

func newMemObject(hash string, content []byte) memObject {
	return memObject{Reader: bytes.NewReader(content), info: objectInfo{name: hash, size: int64(len(content))}}
}

func (memObject) Close() error                 { return nil }
func (o memObject) Stat() (fs.FileInfo, error) { return o.info, nil }
