package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus-dds/dds/internal/merkle"
	"github.com/prometheus-dds/dds/internal/testtool"
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

// BenchmarkS3Stage stages 64 MiB into a bucket of the tests' MinIO with
// different part sizes and parts in flight, next to a plain PutObject of the
// same bytes (known size, one request) as the server's own pace.
//
//	eval "$(.ci/minio)"; go test -run - -bench S3Stage -benchmem ./internal/blob
func BenchmarkS3Stage(b *testing.B) {
	const size = 64 << 20
	content := make([]byte, size)
	rand.NewChaCha8([32]byte{}).Read(content)
	bkt := testtool.S3(b)
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := bkt.Client.PutObject(context.Background(), bkt.Name, "direct", bytes.NewReader(content), size, minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, p := range []struct {
		part  int64
		parts int
	}{{16 << 20, 1}, {8 << 20, 2}, {8 << 20, 3}} {
		b.Run(fmt.Sprintf("part=%dMiB/inflight=%d", p.part>>20, p.parts), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Location, cfg.PartSize, cfg.PartsInFlight = bkt.Blobs, p.part, p.parts
			s := open(b, cfg, openDB(b, b.TempDir()))
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				st, err := s.Stage(bytes.NewReader(content), -1)
				if err != nil {
					b.Fatal(err)
				}
				st.Discard()
			}
		})
	}
}
