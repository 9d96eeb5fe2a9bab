package blob

import (
	"bytes"
	"hash"
)

// recorder is a hash.Hash that keeps what it is given, to check what an
// extra hash sees.
type recorder struct{ *bytes.Buffer }

func hashOf(b *bytes.Buffer) hash.Hash { return recorder{b} }
func (recorder) Sum(b []byte) []byte   { return b }
func (r recorder) Reset()              { r.Buffer.Reset() }
func (recorder) Size() int             { return 0 }
func (recorder) BlockSize() int        { return 1 }

// location is where the backend keeps the object of hash.
func (s *Store) location(hash string) (string, error) {
	loc, _, err := s.find(hash)
	return loc, err
}
