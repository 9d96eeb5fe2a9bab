package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// newLedger is a ledger on a new SQLite database, and the database's
// records.
func newLedger(t *testing.T, c clock.Clock) (*ledger.Ledger, ledger.Store) {
	t.Helper()
	db, err := store.OpenSchema(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	records := persist.NewLedger(db)
	l, err := ledger.New(t.Context(), ledger.Config{PricePerGiBMonth: money.Unit, QuoteTTL: time.Hour}, ledger.Deps{Store: records, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	return l, records
}

func TestPaymentsWhere(t *testing.T) {
	ctx := t.Context()
	c := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	l, _ := newLedger(t, c)
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
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(day.Add(time.Hour))
	l, _ := newLedger(t, c)
	for _, p := range []ledger.PaymentIn{{Status: "success", Amount: 5}, {Status: "error", Amount: 7}} {
		if _, _, err := l.RecordPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	q, err := l.NewQuote(ctx, "f1", "store", 1<<30, 30*24*time.Hour, c.Now().Add(time.Hour), nil)
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

// What OnPaid writes with its ctx commits with the payment, and a failing
// OnPaid leaves neither the payment nor the quote paid.
func TestPaidInPaymentsTransaction(t *testing.T) {
	ctx := t.Context()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(day)
	l, records := newLedger(t, c)
	fail := errors.New("cannot store")
	var refuse bool
	l.OnPaid(func(ctx context.Context, q ledger.Quote) error {
		if err := l.AddTerm(ctx, ledger.Term{FileID: q.FileID, QuoteID: q.ID, Start: c.Now(), End: c.Now().Add(q.Duration), Size: q.Size, Price: q.Price}); err != nil {
			return err
		}
		if refuse {
			return fail
		}
		return nil
	})
	q, err := l.NewQuote(ctx, "f", ledger.KindUpload, ledger.GiB, ledger.Month, c.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	refuse = true
	if _, _, err := l.RecordPayment(ctx, ledger.PaymentIn{FileID: "f", Status: "success", Amount: q.Price}); !errors.Is(err, fail) {
		t.Fatalf("payment refused by OnPaid: %v", err)
	}
	payments, _ := records.PaymentCounts(ctx)
	st, _ := l.Statement(ctx, day, day.AddDate(0, 2, 0))
	if got, _ := l.OpenQuote(ctx, "f"); got.ID != q.ID || got.Paid != 0 || len(payments) != 0 || st.Files != 0 {
		t.Fatalf("after a refused payment: quote %+v, payments %v, statement %+v", got, payments, st)
	}
	refuse = false
	p, _, err := l.RecordPayment(ctx, ledger.PaymentIn{FileID: "f", Status: "success", Amount: q.Price})
	if err != nil || p.QuoteID != q.ID {
		t.Fatalf("payment: %+v %v", p, err)
	}
	st, err = l.Statement(ctx, day, day.AddDate(0, 2, 0))
	if err != nil || st.Files != 1 || st.Amount != q.Price || st.Size != ledger.GiB {
		t.Fatalf("statement: %+v %v", st, err)
	}
	if n, _ := l.PaidTotal(ctx, "f"); n != q.Price {
		t.Fatalf("paid total %s", n)
	}
}

// TestStatementCountsEachFileOnce: a file extended within the period has
// two terms there; the statement counts its size once and prorates each
// term, whatever order the terms were written in.
func TestStatementCountsEachFileOnce(t *testing.T) {
	ctx := t.Context()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	l, _ := newLedger(t, clock.NewFake(day))
	for i, tm := range []ledger.Term{
		{FileID: "b", Start: day, End: day.AddDate(0, 0, 10), Size: 7, Price: 100},                    // inside: 100
		{FileID: "a", Start: day, End: day.AddDate(0, 0, 10), Size: 5, Price: 40},                     // inside: 40
		{FileID: "b", Start: day.AddDate(0, 0, 10), End: day.AddDate(0, 0, 30), Size: 7, Price: 60},   // half inside: 30
		{FileID: "c", Start: day.AddDate(0, 0, 20), End: day.AddDate(0, 0, 30), Size: 100, Price: 99}, // after the period
		{FileID: "a", Start: day.AddDate(0, 0, 10), End: day.AddDate(0, 0, 20), Size: 5, Price: 8},    // inside: 8
	} {
		tm.QuoteID = string(rune('0' + i))
		if err := l.AddTerm(ctx, tm); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.Statement(ctx, day, day.AddDate(0, 0, 20))
	if err != nil || st.Files != 2 || st.Size != 12 || st.Amount != 178 {
		t.Fatalf("statement: %+v %v; want 2 files, 12 bytes, 178", st, err)
	}
}
