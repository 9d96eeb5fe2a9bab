package dds_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

func apiErr(t *testing.T, err error, status int) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("want a %d error, got %v", status, err)
	}
	return e
}

func TestUploadPayStoreExtendExpire(t *testing.T) {
	ctx := context.Background()
	net := testnet.New(t, 1)
	nd := net.Nodes[0]
	user := nd.User()

	content := make([]byte, 3<<20+7)
	rand.Read(content)
	f, err := user.Upload(ctx, "photo.jpg", bytes.NewReader(content), client.UploadOptions{Duration: 48 * time.Hour, Additional: map[string]any{"album": "summer"}})
	if err != nil {
		t.Fatal(err)
	}
	if !f.PaymentRequired || f.State != "pending" || f.Size != int64(len(content)) || f.Duration != 48*3600 || f.Quote == nil {
		t.Fatalf("upload answer: %+v", f)
	}
	sum := sha256.Sum256(content)
	if f.ContentHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash %s", f.ContentHash)
	}
	// 3 MiB for 2 days at 1 token per GiB-month: 3/1024 * 2/30 tokens, rounded up.
	if f.PriceExact != "0.000195313" {
		t.Fatalf("price %s", f.PriceExact)
	}

	// Pending: the bytes are not served, the quote is.
	_, _, err = user.Open(ctx, f.ID, nil)
	apiErr(t, err, http.StatusPaymentRequired)

	// Another user cannot see it; the payment role cannot read files.
	other := nd.Client(nd.NewUser(t))
	_, err = other.Info(ctx, f.ID)
	apiErr(t, err, http.StatusNotFound)
	_, err = nd.Payer().Info(ctx, f.ID)
	apiErr(t, err, http.StatusForbidden)
	// The node's admin reads it (support) but may not change what the owner pays for.
	if _, err := nd.Admin().Info(ctx, f.ID); err != nil {
		t.Fatalf("admin info: %v", err)
	}
	_, err = nd.Admin().Extend(ctx, f.ID, 96*time.Hour, nil)
	apiErr(t, err, http.StatusForbidden)

	// Partial payments add up; a repeated idempotency key counts once.
	half := "0.0001"
	p1, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: half, IdempotencyKey: "k1"})
	if err != nil || p1.Location != "/payments/"+p1.ID || !p1.Applied {
		t.Fatalf("pay: %+v %v", p1, err)
	}
	if p, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: half, IdempotencyKey: "k1"}); err != nil || p.ID != p1.ID {
		t.Fatalf("duplicate delivery: %+v %v", p, err)
	}
	if _, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "error", Amount: "5"}); err != nil {
		t.Fatal(err)
	}
	if info, _ := user.Info(ctx, f.ID); info.State != "pending" || info.Quote.Paid != "0.0001" {
		t.Fatalf("after partial payment: %+v %+v", info, info.Quote)
	}
	if _, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: "0.000095313"}); err != nil {
		t.Fatal(err)
	}
	info, err := user.Info(ctx, f.ID)
	if err != nil || info.State != "stored" || info.ExpiresAt == nil || !info.ExpiresAt.Equal(testnet.Start.Add(48*time.Hour)) {
		t.Fatalf("after payment: %+v %v", info, err)
	}
	if got, err := nd.Payer().Payment(ctx, p1.ID); err != nil || got.AmountExact != half {
		t.Fatalf("payment: %+v %v", got, err)
	}

	var buf bytes.Buffer
	if _, err := user.Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download: %v (%d bytes)", err, buf.Len())
	}
	body, _, err := user.Open(ctx, f.ID, http.Header{"Range": {"bytes=10-19"}})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(body)
	body.Close()
	if !bytes.Equal(part, content[10:20]) {
		t.Fatal("range")
	}

	// Extend to 30 days: 402 for the 28 extra days only.
	ext, err := user.Extend(ctx, f.ID, 30*24*time.Hour, map[string]any{"album": nil, "rating": 5})
	if err != nil || !ext.PaymentRequired || ext.Quote.Duration != 28*24*3600 || ext.Quote.Kind != "extension" {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	var add map[string]any
	if err := json.Unmarshal(ext.Additional, &add); err != nil {
		t.Fatal(err)
	}
	if _, ok := add["album"]; ok || add["rating"] != float64(5) {
		t.Fatalf("additional not merged: %s", ext.Additional)
	}
	if same, err := user.Extend(ctx, f.ID, 48*time.Hour, nil); err != nil || same.PaymentRequired {
		t.Fatalf("no extra term: %+v %v", same, err)
	}
	ext, _ = user.Extend(ctx, f.ID, 30*24*time.Hour, nil)
	if _, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: ext.Quote.Price}); err != nil {
		t.Fatal(err)
	}
	info, _ = user.Info(ctx, f.ID)
	if info.Duration != 30*24*3600 || !info.ExpiresAt.Equal(testnet.Start.Add(30*24*time.Hour)) {
		t.Fatalf("after extension: %+v", info)
	}

	// The statement of November counts the whole term: the two paid prices.
	st, err := nd.Admin().Statement(ctx, "20261101", "20261130")
	if err != nil || st.Size != int64(len(content)) || st.AmountExact != "0.002929695" {
		t.Fatalf("statement: %+v %v", st, err)
	}
	_, err = user.Statement(ctx, "20261101", "20261130")
	apiErr(t, err, http.StatusForbidden)

	// Survives a restart.
	nd.Restart(t)
	buf.Reset()
	if _, err := user.Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download after restart: %v", err)
	}

	// The term ends on time.
	net.Clock.Advance(30*24*time.Hour + time.Second)
	_, _, err = user.Open(ctx, f.ID, nil)
	apiErr(t, err, http.StatusGone)
	net.Sweep(t)
	info, _ = user.Info(ctx, f.ID)
	if info.State != "expired" {
		t.Fatalf("state %s", info.State)
	}
	if n, _, _ := nd.Blobs.Usage(ctx); n != 0 {
		t.Fatalf("%d blobs left after expiry", n)
	}
}

func TestUnpaidQuoteExpires(t *testing.T) {
	ctx := context.Background()
	net := testnet.New(t, 1)
	nd := net.Nodes[0]
	f, err := nd.User().Upload(ctx, "a.txt", strings.NewReader("hello"), client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Duration != 30*24*3600 {
		t.Fatalf("default duration %d", f.Duration)
	}
	net.Clock.Advance(time.Hour + time.Second)
	net.Sweep(t)
	_, _, err = nd.User().Open(ctx, f.ID, nil)
	apiErr(t, err, http.StatusGone)
	if p, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: "1"}); err != nil || p.Applied {
		t.Fatalf("payment after expiry: %+v %v", p, err)
	}
	if n, _, _ := nd.Blobs.Usage(ctx); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
}
