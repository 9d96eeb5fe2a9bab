package ledger_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func TestPaymentsWhere(t *testing.T) {
	ctx := t.Context()
	db, err := store.OpenSchema(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	l, err := ledger.New(ctx, ledger.Config{PricePerGiBMonth: money.Unit, QuoteTTL: time.Hour}, ledger.Deps{Store: persist.NewLedger(db), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	order := func(doc, consumer, status string, amount money.Amount) {
		t.Helper()
		if _, _, err := l.RecordPayment(ctx, ledger.PaymentIn{Status: status, Amount: amount,
			Attrs: map[string]any{"document_id": doc, "service_id": "s", "consumer_address": consumer}}); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
	}
	order("d1", "0xa", "success", 1)
	order("d1", "0xa", "error", 100) // failed payments never count
	order("d1", "0xb", "success", 10)
	order("d2", "0xa", "success", 1000)
	mid := c.Now()
	order("d1", "0xa", "success", 2)

	want := map[string]string{"document_id": "d1", "service_id": "s", "consumer_address": "0xa"}
	ps, err := l.PaymentsWhere(ctx, want)
	if err != nil || len(ps) != 2 || ps[0].Amount != 1 || ps[1].Amount != 2 {
		t.Fatalf("PaymentsWhere: %+v %v", ps, err)
	}
	total, last, err := l.PaidWhere(ctx, want, time.Time{})
	if err != nil || total != 3 || !last.Equal(mid) {
		t.Fatalf("PaidWhere: %d %v %v", total, last, err)
	}
	if total, _, _ := l.PaidWhere(ctx, want, mid); total != 2 {
		t.Fatalf("PaidWhere since: %d", total)
	}
	if _, err := l.PaymentsWhere(ctx, map[string]string{"x') OR 1=1 --": "y"}); err == nil {
		t.Fatal("a malformed attribute name was accepted")
	}
}

// Flows counts quotes by when they were made and successful payments by
// when they arrived, within the period only.
func TestFlows(t *testing.T) {
	ctx := t.Context()
	db, err := store.OpenSchema(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(day.Add(time.Hour))
	l, err := ledger.New(ctx, ledger.Config{PricePerGiBMonth: money.Unit, QuoteTTL: time.Hour}, ledger.Deps{Store: persist.NewLedger(db), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []ledger.PaymentIn{{Status: "success", Amount: 5}, {Status: "error", Amount: 7}} {
		if _, _, err := l.RecordPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	var q ledger.Quote
	q, err = l.NewQuote(ctx, "f1", "store", 1<<30, 30*24*time.Hour, c.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	quoted, paid, err := l.Flows(ctx, day, day.AddDate(0, 0, 1))
	if err != nil || quoted != q.Price || paid != 5 {
		t.Fatalf("that day: quoted %d paid %d (%v), want %d and 5", quoted, paid, err, q.Price)
	}
	quoted, paid, err = l.Flows(ctx, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2))
	if err != nil || quoted != 0 || paid != 0 {
		t.Fatalf("the next day: quoted %d paid %d (%v)", quoted, paid, err)
	}
}
