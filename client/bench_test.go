package client_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

const uploadSize = 64 << 20

// streamed is content of no known length, so the client streams it
// (chunked) as it would a file being read.
func streamed(content []byte) io.Reader { return io.MultiReader(bytes.NewReader(content)) }

func content(b *testing.B) []byte {
	c := make([]byte, uploadSize)
	rand.NewChaCha8([32]byte{7}).Read(c)
	return c
}

// BenchmarkUploadBase64 is the DDS upload: 64 MiB base64 inside the JSON:API
// document, streamed. Compare with BenchmarkUploadRaw, the same client's raw
// PUT of the same bytes to the DEP-7 face.
func BenchmarkUploadBase64(b *testing.B) {
	nd := testnet.New(b, 1).Nodes[0]
	c, data := nd.User(), content(b)
	b.SetBytes(uploadSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		data[0] = byte(i)
		f, err := c.Upload(context.Background(), "bench.bin", streamed(data), client.UploadOptions{})
		if err != nil || f.Size != uploadSize {
			b.Fatal(err)
		}
	}
}

// BenchmarkUploadRaw is a raw PUT of 64 MiB to the DEP-7 face, streamed.
func BenchmarkUploadRaw(b *testing.B) {
	nd := testnet.New(b, 1).Nodes[0]
	c, data := nd.User(), content(b)
	id, err := c.RegisterAsset(context.Background(), []byte(`{"name":"bench"}`))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(uploadSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		data[0] = byte(i)
		if _, err := c.UploadAsset(context.Background(), id, streamed(data)); err != nil {
			b.Fatal(err)
		}
	}
}
