package ledger

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

func TestPaymentsWhere(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	l, err := New(ctx, Config{PricePerGiBMonth: money.Unit, QuoteTTL: time.Hour}, Deps{DB: db, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	order := func(doc, consumer, status string, amount money.Amount) {
		t.Helper()
		if _, _, err := l.RecordPayment(ctx, PaymentIn{Status: status, Amount: amount,
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
