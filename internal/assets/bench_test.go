package assets_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha3"
	"encoding/hex"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	xsha3 "golang.org/x/crypto/sha3"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

const benchSize = 64 << 20

// BenchmarkPut uploads a 64 MiB asset through the real HTTP path (raw PUT):
// hashing twice (SHA-256 and SHA3-256), writing and fsyncing. Each round
// uploads different bytes, so each is a new object.
func BenchmarkPut(b *testing.B) {
	nd := testnet.New(b, 1).Nodes[0]
	c := nd.User()
	id := register(b, c, `{"name":"bench"}`)
	content := make([]byte, benchSize)
	rand.NewChaCha8([32]byte{}).Read(content)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16)
		upload(b, c, id, content)
	}
}

// BenchmarkGet downloads a 64 MiB asset through the real HTTP path.
func BenchmarkGet(b *testing.B) {
	nd := testnet.New(b, 1).Nodes[0]
	c := nd.User()
	id := register(b, c, `{"name":"bench"}`)
	content := make([]byte, benchSize)
	rand.NewChaCha8([32]byte{}).Read(content)
	upload(b, c, id, content)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		ac, err := c.DownloadAsset(context.Background(), id, io.Discard, client.AssetRead{})
		if err != nil || ac.Size != benchSize || ac.Status != 200 {
			b.Fatalf("got %d bytes, status %d: %v", ac.Size, ac.Status, err)
		}
	}
}

// TestUpload1GiBMemory uploads 1 GiB through the real HTTP path, by PUT and
// by multipart POST, generated on the fly, and reports the process's peak
// RSS and heap. The client runs in the same process, so the figures bound
// the node's own. Run with DDS_BIG_TEST=1 (it writes 1 GiB to the temp dir).
func TestUpload1GiBMemory(t *testing.T) {
	if os.Getenv("DDS_BIG_TEST") == "" {
		t.Skip("set DDS_BIG_TEST=1 to upload 1 GiB and measure peak memory")
	}
	const size = 1 << 30
	gen := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{1}), size) }
	h := sha3.New256()
	io.Copy(h, gen())
	contentHash := hex.EncodeToString(h.Sum(nil))

	nd := testnet.New(t, 1).Nodes[0]
	c := nd.User()
	runtime.GC()
	base := vmHWM(t)
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
			}
		}
	}()

	ctx := context.Background()
	id := register(t, c, `{"name":"one gig","contentHash":"`+contentHash+`"}`)
	start := time.Now()
	if _, err := c.UploadAsset(ctx, id, gen()); err != nil { // chunked: no Content-Length
		t.Fatal(err)
	}
	putTime := time.Since(start)

	id2 := register(t, c, `{"name":"one gig, multipart","contentHash":"`+contentHash+`"}`)
	start = time.Now()
	if _, err := c.UploadAssetForm(ctx, id2, "big.bin", gen()); err != nil {
		t.Fatal(err)
	}
	postTime := time.Since(start)

	h.Reset()
	ac, err := c.DownloadAsset(ctx, id, h, client.AssetRead{})
	if err != nil || ac.Size != size || hex.EncodeToString(h.Sum(nil)) != contentHash {
		t.Fatalf("downloaded %d bytes with another hash: %v", ac.Size, err)
	}
	close(stop)
	t.Logf("1 GiB PUT %v (%.0f MB/s), multipart POST %v (%.0f MB/s)", putTime.Round(time.Millisecond),
		size/putTime.Seconds()/1e6, postTime.Round(time.Millisecond), size/postTime.Seconds()/1e6)
	t.Logf("peak RSS (VmHWM) %d MiB before the uploads, %d MiB after; peak HeapInuse during them %d MiB",
		base>>20, vmHWM(t)>>20, peakHeap.Load()>>20)
}

// vmHWM is the process's peak resident set size in bytes.
func vmHWM(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) {
				kb = kb*10 + int64(c-'0')
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}

const smallSize = 4 << 10

// benchClients is how many clients run at once in the small-object
// benchmarks, as in the side-by-side comparison with MinIO (8 clients).
const benchClients = 8

// parallel runs fn from benchClients goroutines however many CPUs there are.
func parallel(b *testing.B, fn func(i int64)) {
	var n atomic.Int64
	b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			fn(n.Add(1))
		}
	})
}

// smallContent is 4 KiB that differ with i, so each object is new.
func smallContent(i int64) []byte {
	content := make([]byte, smallSize)
	rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}).Read(content)
	return content
}

// BenchmarkCreate4KiBTwoRequests creates 4 KiB assets the classic DEP-7 way:
// register the metadata, then PUT the content.
func BenchmarkCreate4KiBTwoRequests(b *testing.B) {
	c := testnet.New(b, 1).Nodes[0].User()
	ctx := context.Background()
	b.SetBytes(smallSize)
	b.ResetTimer()
	parallel(b, func(i int64) {
		content := smallContent(i)
		id, err := c.RegisterAsset(ctx, []byte(dataset("small", "application/octet-stream", content)))
		if err == nil {
			_, err = c.UploadAsset(ctx, id, bytes.NewReader(content))
		}
		if err != nil {
			b.Error(err)
		}
	})
}

// BenchmarkCreate4KiBOneRequest creates 4 KiB assets with their content in
// one request (POST /api/v1/assets).
func BenchmarkCreate4KiBOneRequest(b *testing.B) {
	c := testnet.New(b, 1).Nodes[0].User()
	ctx := context.Background()
	b.SetBytes(smallSize)
	b.ResetTimer()
	parallel(b, func(i int64) {
		content := smallContent(i)
		if _, err := c.CreateAsset(ctx, []byte(dataset("small", "application/octet-stream", content)), bytes.NewReader(content)); err != nil {
			b.Error(err)
		}
	})
}

// BenchmarkGet4KiB reads 4 KiB assets (100 of them, in turn) with a token.
func BenchmarkGet4KiB(b *testing.B) {
	c := testnet.New(b, 1).Nodes[0].User()
	ctx := context.Background()
	ids := make([]string, 100)
	for i := range ids {
		content := smallContent(int64(i))
		ids[i] = register(b, c, dataset("small", "application/octet-stream", content))
		upload(b, c, ids[i], content)
	}
	b.SetBytes(smallSize)
	b.ResetTimer()
	parallel(b, func(i int64) {
		ac, err := c.DownloadAsset(ctx, ids[i%int64(len(ids))], io.Discard, client.AssetRead{})
		if err != nil || ac.Size != smallSize {
			b.Errorf("got %d bytes: %v", ac.Size, err)
		}
	})
}

// BenchmarkContentHash is the SHA3-256 every DEP-7 upload is hashed with
// (its contentHash and ETag), by the standard library and by
// golang.org/x/crypto/sha3, which wraps it: both run the amd64 assembly
// permutation (keccakF1600), the fastest well-kept one.
func BenchmarkContentHash(b *testing.B) {
	buf := make([]byte, 1<<20)
	for name, h := range map[string]hash.Hash{"crypto/sha3": sha3.New256(), "x/crypto/sha3": xsha3.New256()} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				h.Write(buf)
			}
		})
	}
}
