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
