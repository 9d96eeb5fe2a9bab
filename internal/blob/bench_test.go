package blob

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha3"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus-dds/dds/internal/merkle"
)

// BenchmarkStage stages 64 MiB into a local directory (written and fsynced)
// with 0, 1 (SHA3-256, as DEP-7 adds) and 2 (also the DDS face's Merkle
// tree) extra hashes: pipelined (Stage: each hash and the writing in its own
// goroutine) against the sequential way (one goroutine, io.MultiWriter).
//
//	go test -run - -bench Stage -benchmem ./internal/blob
func BenchmarkStage(b *testing.B) {
	const size = 64 << 20
	content := make([]byte, size)
	rand.NewChaCha8([32]byte{}).Read(content)
	extras := func(n int) []hash.Hash {
		return []hash.Hash{sha3.New256(), merkle.NewBuilder()}[:n]
	}
	for extra := range 3 {
		for _, mode := range []string{"sequential", "pipelined"} {
			b.Run(fmt.Sprintf("extra=%d/%s", extra, mode), func(b *testing.B) {
				dir := b.TempDir()
				s := open(b, Config{Dir: filepath.Join(dir, "blobs")}, openDB(b, dir))
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					if mode == "sequential" {
						if err := stageSequentially(filepath.Join(dir, "blobs", "tmp"), bytes.NewReader(content), extras(extra)); err != nil {
							b.Fatal(err)
						}
						continue
					}
					st, err := s.Stage(bytes.NewReader(content), -1, extras(extra)...)
					if err != nil {
						b.Fatal(err)
					}
					st.Discard()
				}
			})
		}
	}
}

// stageSequentially is how Stage worked before it was pipelined.
func stageSequentially(dir string, r io.Reader, extra []hash.Hash) error {
	f, err := os.CreateTemp(dir, "seq-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	writers := []io.Writer{f, sha256.New()}
	for _, h := range extra {
		writers = append(writers, h)
	}
	if _, err := io.CopyBuffer(io.MultiWriter(writers...), r, make([]byte, 256<<10)); err != nil {
		return err
	}
	return f.Sync()
}
