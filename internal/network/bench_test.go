package network_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// BenchmarkQuoteWith3Confirmations measures an upload of a small file to a
// 4-node network: the price is confirmed and signed by 3 peers over signed
// node-to-node requests before the 402 answer.
func BenchmarkQuoteWith3Confirmations(b *testing.B) {
	nw := testnet.New(b, 4)
	user := nw.Nodes[0].User()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		f, err := user.Upload(ctx, "q", strings.NewReader("a small file"), client.UploadOptions{})
		if err != nil || !f.PaymentRequired {
			b.Fatal(err)
		}
	}
}

// BenchmarkConfirm3 measures the confirmation alone: 3 peers asked at once
// over kept-alive connections, each checking the signed request, pricing
// and signing the quote, and their signatures verified.
func BenchmarkConfirm3(b *testing.B) {
	nw := testnet.New(b, 4)
	a := nw.Nodes[0]
	ctx := context.Background()
	const size = 1 << 20
	price, err := a.Ledger.Price(size, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	c := ledger.Confirmation{FileID: "f", Size: size, Hash: strings.Repeat("ab", 32), Duration: time.Hour, Price: price,
		ExpiresAt: a.Ledger.QuoteExpiry()}
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Net.Confirm(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplicate16MiB measures placing 2 copies of a paid 16 MiB file:
// the holders pull it with signed requests, verify its SHA-256 and fsync it.
func BenchmarkReplicate16MiB(b *testing.B) {
	const size = 16 << 20
	nw := testnet.New(b, 3)
	a := nw.Nodes[0]
	ctx := context.Background()
	content := make([]byte, size)
	b.SetBytes(2 * size) // two copies travel
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		rand.Read(content)
		f, err := a.User().Upload(ctx, "r", bytes.NewReader(content), client.UploadOptions{Duration: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := a.Net.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead32MiB reads a paid 32 MiB file through a node that holds a
// copy (local) and through one that does not (proxied: streamed from a
// holder over a signed request).
func BenchmarkRead32MiB(b *testing.B) {
	const size = 32 << 20
	nw := testnet.New(b, 4)
	ctx := context.Background()
	content := make([]byte, size)
	rand.Read(content)
	a := nw.Nodes[0]
	f, err := a.User().Upload(ctx, "r", bytes.NewReader(content), client.UploadOptions{Duration: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price}); err != nil {
		b.Fatal(err)
	}
	nw.Replicate(b)
	local, proxied := -1, -1
	for i, nd := range nw.Nodes {
		held, _ := nd.Net.Held(ctx)
		if _, ok := held[f.ID]; ok && i > 0 {
			local = i
		} else if !ok {
			proxied = i
		}
	}
	for _, c := range []struct {
		name string
		node int
	}{{"local", local}, {"proxied", proxied}} {
		b.Run(c.name, func(b *testing.B) {
			user := nw.Nodes[c.node].Client(a.UserToken)
			var got countWriter
			for deadline := time.Now().Add(10 * time.Second); ; {
				if _, err := user.Info(ctx, f.ID); err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			b.SetBytes(size)
			for b.Loop() {
				got = 0
				if _, err := user.Download(ctx, f.ID, &got); err != nil || got != size {
					b.Fatal(err, got)
				}
			}
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
