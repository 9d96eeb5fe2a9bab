package blob

import (
	"bytes"
	"context"
	"crypto/sha3"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus-dds/dds/internal/testtool"
)

// BenchmarkS3Put stages 64 MiB of known length into a bucket of the tests'
// MinIO as the assets face does (one streamed PUT, SHA3-256 on the way),
// next to the same PUT made directly (the server's own pace) and to content
// of unknown length (a multipart upload).
//
//	eval "$(.ci/minio)"; go test -run - -bench S3Put -cpuprofile cpu.out ./internal/blob
func BenchmarkS3Put(b *testing.B) {
	const size = 64 << 20
	content := make([]byte, size)
	rand.NewChaCha8([32]byte{}).Read(content)
	bkt := testtool.S3(b)
	src := func() io.Reader { return struct{ io.Reader }{bytes.NewReader(content)} } // as from a socket
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := bkt.Client.PutObject(context.Background(), bkt.Name, "direct", src(), size,
				minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	s := open(b, Config{Location: bkt.Blobs, Grace: DefaultConfig().Grace}, openDB(b, b.TempDir()))
	for _, c := range []struct {
		name  string
		src   func() io.Reader
		extra bool
	}{
		{"sized", func() io.Reader { return Sized(src(), size) }, false},
		{"sized+sha3", func() io.Reader { return Sized(src(), size) }, true},
		{"unsized+sha3", src, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				var extra []hash.Hash
				if c.extra {
					extra = append(extra, sha3.New256())
				}
				st, err := s.Stage(c.src(), -1, extra...)
				if err != nil {
					b.Fatal(err)
				}
				st.Discard()
			}
		})
	}
}

// BenchmarkS3Get reads a 64 MiB object into a loopback TCP connection the
// way http.ServeContent does (32 KiB at a time), next to a plain GET of it.
//
//	eval "$(.ci/minio)"; go test -run - -bench S3Get -cpuprofile cpu.out ./internal/blob
func BenchmarkS3Get(b *testing.B) {
	const size = 64 << 20
	content := make([]byte, size)
	rand.NewChaCha8([32]byte{}).Read(content)
	bkt := testtool.S3(b)
	s := open(b, Config{Location: bkt.Blobs, Grace: DefaultConfig().Grace}, openDB(b, b.TempDir()))
	st, err := s.Stage(Sized(bytes.NewReader(content), size), -1)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(context.Background(), st, func(context.Context) error { return nil }); err != nil {
		b.Fatal(err)
	}
	key, err := s.location(st.Hash)
	if err != nil {
		b.Fatal(err)
	}
	conn := discardConn(b)
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			obj, _, _, err := minio.Core{Client: bkt.Client}.GetObject(context.Background(), bkt.Name, key, minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyN(struct{ io.Writer }{conn}, obj, size); err != nil {
				b.Fatal(err)
			}
			obj.Close()
		}
	})
	b.Run("node", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			f, err := s.Open(st.Hash)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyN(struct{ io.Writer }{conn}, f, size); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// discardConn is a loopback TCP connection whose other end discards.
func discardConn(b *testing.B) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.CopyBuffer(struct{ io.Writer }{io.Discard}, c, make([]byte, 256<<10))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); ln.Close() })
	return c
}
