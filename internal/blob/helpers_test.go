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
