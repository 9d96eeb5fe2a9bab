package dds_test

import (
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// randomReader yields n pseudo-random bytes without holding them in memory.
func randomReader(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// heapPeak samples the in-use heap until stopped and reports the peak growth
// over the heap at start, in MiB.
func heapPeak() (stop func() float64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
					peak.Store(m.HeapInuse - base)
				}
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak.Load()) / (1 << 20)
	}
}

func benchUpload(b *testing.B, size int64) {
	ctx := context.Background()
	nd := testnet.New(b, 1).Nodes[0]
	user := nd.User()
	b.SetBytes(size)
	b.ResetTimer()
	stop := heapPeak()
	for i := 0; b.Loop(); i++ {
		f, err := user.Upload(ctx, "bench.bin", randomReader(uint64(i), size), client.UploadOptions{})
		if err != nil || f.Size != size {
			b.Fatal(err)
		}
	}
	peak := stop()
	b.ReportMetric(peak, "peak-heap-MiB")
	// Client and node share this process: both stream, so the heap must not
	// grow with the size of the file.
	if peak > 64 {
		b.Fatalf("heap grew by %.0f MiB while uploading %d MiB files", peak, size>>20)
	}
}

// BenchmarkUpload64MiB measures upload throughput through the real HTTP API
// (base64 in JSON, streamed to disk, hashed, fsynced).
func BenchmarkUpload64MiB(b *testing.B) { benchUpload(b, 64<<20) }

// BenchmarkUpload1GiB is the memory bound: a 1 GiB upload must not grow the
// heap by more than a few tens of MiB.
func BenchmarkUpload1GiB(b *testing.B) { benchUpload(b, 1<<30) }

func BenchmarkDownload64MiB(b *testing.B) {
	ctx := context.Background()
	nd := testnet.New(b, 1).Nodes[0]
	const size = 64 << 20
	f, err := nd.User().Upload(ctx, "bench.bin", randomReader(1, size), client.UploadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.PriceExact}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		n, err := nd.User().Download(ctx, f.ID, io.Discard)
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}
