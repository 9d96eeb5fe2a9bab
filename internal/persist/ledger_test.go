package persist_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// terms collects the terms s hands out for [from, to).
func terms(ctx context.Context, s ledger.Store, from, to time.Time) ([]ledger.Term, error) {
	var out []ledger.Term
	err := s.EachTerm(ctx, from, to, func(t ledger.Term) error { out = append(out, t); return nil })
	return out, err
}

func quote(id, file string, created, expires time.Time) ledger.Quote {
	return ledger.Quote{ID: id, FileID: file, Kind: ledger.KindUpload, Duration: ledger.Month, Size: 10, Price: 100,
		State: ledger.QuoteOpen, Created: created, Expires: expires, Confirmations: json.RawMessage(`[]`)}
}

func TestLedgerQuotes(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s ledger.Store = persist.NewLedger(db)
		if _, err := s.Quote(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing quote: %v", err)
		}
		if _, err := s.OpenQuote(ctx, "f"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no open quote: %v", err)
		}
		q1 := quote("q1", "f", t0, t0.Add(time.Hour))
		q2 := quote("q2", "f", t0.Add(time.Minute), t0.Add(2*time.Hour))
		other := quote("q3", "g", t0, t0.Add(time.Minute))
		for _, q := range []ledger.Quote{q1, q2, other} {
			if err := s.AddQuote(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		// A new quote supersedes the open one of its file, not another file's.
		if got, err := s.Quote(ctx, "q1"); err != nil || got.State != ledger.QuoteSuperseded {
			t.Fatalf("q1 after q2: %+v %v", got, err)
		}
		got, err := s.OpenQuote(ctx, "f")
		if err != nil || got.ID != "q2" || got.Duration != ledger.Month || got.Price != 100 || got.Size != 10 ||
			!got.Created.Equal(q2.Created) || !got.Expires.Equal(q2.Expires) || !got.PaidAt.IsZero() {
			t.Fatalf("open quote: %+v %v", got, err)
		}
		// Payable only before it lapses.
		if _, err := s.PayableQuote(ctx, "f", q2.Expires); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lapsed quote payable: %v", err)
		}
		if got, err := s.PayableQuote(ctx, "f", q2.Expires.Add(-time.Second)); err != nil || got.ID != "q2" {
			t.Fatalf("payable: %+v %v", got, err)
		}
		// Only q3 has lapsed at t0+1h-1s; expiring twice finds nothing new.
		exp, err := s.ExpireQuotes(ctx, t0.Add(time.Hour-time.Second))
		if err != nil || len(exp) != 1 || exp[0].ID != "q3" {
			t.Fatalf("expired %+v %v", exp, err)
		}
		if exp, err := s.ExpireQuotes(ctx, t0.Add(time.Hour-time.Second)); err != nil || len(exp) != 0 {
			t.Fatalf("expired again %+v %v", exp, err)
		}
		if got, _ := s.Quote(ctx, "q3"); got.State != ledger.QuoteExpired {
			t.Fatalf("q3 is %s", got.State)
		}
		// Paying it.
		paidAt := t0.Add(30 * time.Minute)
		q2.Paid, q2.State, q2.PaidAt = 100, ledger.QuotePaid, paidAt
		if err := s.SetQuotePaid(ctx, q2); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LatestQuote(ctx, "f"); err != nil || got.ID != "q2" || got.Paid != 100 || !got.PaidAt.Equal(paidAt) {
			t.Fatalf("latest: %+v %v", got, err)
		}
		if n, err := s.PaidTotal(ctx, "f"); err != nil || n != 100 {
			t.Fatalf("paid total %d %v", n, err)
		}
		// CloseQuotes touches open quotes only.
		if err := s.AddQuote(ctx, quote("q4", "f", t0.Add(time.Hour), t0.Add(3*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseQuotes(ctx, "f"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Quote(ctx, "q4"); got.State != ledger.QuoteExpired {
			t.Fatalf("q4 is %s", got.State)
		}
		if got, _ := s.Quote(ctx, "q2"); got.State != ledger.QuotePaid {
			t.Fatalf("q2 is %s", got.State)
		}
		quotes, err := s.QuoteCounts(ctx)
		if err != nil || quotes[ledger.QuotePaid] != 1 || quotes[ledger.QuoteExpired] != 2 || quotes[ledger.QuoteSuperseded] != 1 || len(quotes) != 3 {
			t.Fatalf("counts %v %v", quotes, err)
		}
	})
}

func TestLedgerPayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s ledger.Store = persist.NewLedger(db)
		if _, err := s.Payment(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing payment: %v", err)
		}
		if _, err := s.PaymentByKey(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing key: %v", err)
		}
		pay := func(id, key, status string, at time.Time, attrs map[string]any) ledger.Payment {
			return ledger.Payment{ID: id, FileID: "f", Status: status, Amount: 7, IdempotencyKey: key, Attrs: attrs, Created: at}
		}
		for _, p := range []ledger.Payment{
			pay("p2", "k2", "success", t0.Add(2*time.Minute), map[string]any{"document_id": "d", "service_id": "s"}),
			pay("p1", "", "success", t0.Add(time.Minute), map[string]any{"document_id": "d"}),
			pay("p0", "", "success", t0.Add(time.Minute), map[string]any{"document_id": "d"}),
			pay("p3", "", "error", t0, map[string]any{"document_id": "d"}),
			pay("p4", "k4", "success", t0.Add(3*time.Minute), nil),
		} {
			if err := s.AddPayment(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.PaymentByKey(ctx, "k2")
		if err != nil || got.ID != "p2" || got.Amount != 7 || got.Attrs["service_id"] != "s" || !got.Created.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("by key: %+v %v", got, err)
		}
		if got, err := s.Payment(ctx, "p1"); err != nil || got.IdempotencyKey != "" || got.Status != "success" {
			t.Fatalf("p1: %+v %v", got, err)
		}
		// A key is used once.
		err = s.AddPayment(ctx, pay("p5", "k2", "success", t0, nil))
		if !store.IsConflict(err) {
			t.Fatalf("second payment with key k2: %v", err)
		}
		// Successful payments with the attributes, oldest first (then by id).
		ps, err := s.PaymentsWhere(ctx, map[string]string{"document_id": "d"})
		if err != nil || len(ps) != 3 || ps[0].ID != "p0" || ps[1].ID != "p1" || ps[2].ID != "p2" {
			t.Fatalf("where document d: %+v %v", ps, err)
		}
		if ps, err := s.PaymentsWhere(ctx, map[string]string{"document_id": "d", "service_id": "s"}); err != nil || len(ps) != 1 || ps[0].ID != "p2" {
			t.Fatalf("where document d and service s: %+v %v", ps, err)
		}
		if _, err := s.PaymentsWhere(ctx, map[string]string{"x') OR 1=1 --": "y"}); err == nil {
			t.Fatal("a malformed attribute name was accepted")
		}
		payments, err := s.PaymentCounts(ctx)
		if err != nil || payments["success"] != 4 || payments["error"] != 1 {
			t.Fatalf("counts %v %v", payments, err)
		}
		// A transaction that fails leaves nothing.
		boom := errors.New("boom")
		err = s.InTx(ctx, func(ctx context.Context) error {
			if err := s.AddPayment(ctx, pay("p6", "k6", "success", t0, nil)); err != nil {
				return err
			}
			if err := s.AddQuote(ctx, quote("q6", "f", t0, t0.Add(time.Hour))); err != nil {
				return err
			}
			if _, err := s.Payment(ctx, "p6"); err != nil { // seen inside
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := s.Payment(ctx, "p6"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled back payment: %v", err)
		}
		if _, err := s.Quote(ctx, "q6"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled back quote: %v", err)
		}
	})
}

func TestLedgerTermsAndFlows(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var s ledger.Store = persist.NewLedger(db)
		term := ledger.Term{FileID: "f", QuoteID: "q", Start: t0, End: t0.Add(24 * time.Hour), Size: 10, Price: 50}
		if err := s.AddTerm(ctx, term); err != nil {
			t.Fatal(err)
		}
		// AddTerm keeps the first; SetTerm replaces it.
		changed := term
		changed.Price, changed.End = 9, t0.Add(time.Hour)
		if err := s.AddTerm(ctx, changed); err != nil {
			t.Fatal(err)
		}
		if ts, err := terms(ctx, s, t0, t0.Add(time.Minute)); err != nil || len(ts) != 1 || ts[0] != term {
			t.Fatalf("terms after AddTerm: %+v %v", ts, err)
		}
		if err := s.SetTerm(ctx, changed); err != nil {
			t.Fatal(err)
		}
		if ts, err := terms(ctx, s, t0, t0.Add(time.Minute)); err != nil || len(ts) != 1 || ts[0].Price != 9 || !ts[0].End.Equal(changed.End) {
			t.Fatalf("terms after SetTerm: %+v %v", ts, err)
		}
		// Overlapping [from, to) only.
		if ts, err := terms(ctx, s, t0.Add(time.Hour), t0.Add(2*time.Hour)); err != nil || len(ts) != 0 {
			t.Fatalf("terms after its end: %+v %v", ts, err)
		}
		if ts, err := terms(ctx, s, t0.Add(-time.Hour), t0); err != nil || len(ts) != 0 {
			t.Fatalf("terms before its start: %+v %v", ts, err)
		}

		// A file's terms come together, whatever order they were written in
		// (a statement counts each file once by that).
		for i, id := range []string{"c", "a", "b", "a", "c", "b"} {
			tm := ledger.Term{FileID: id, QuoteID: string(rune('0' + i)), Start: t0.AddDate(0, 1, 0), End: t0.AddDate(0, 2, 0), Size: 1, Price: 1}
			if err := s.AddTerm(ctx, tm); err != nil {
				t.Fatal(err)
			}
		}
		ts, err := terms(ctx, s, t0.AddDate(0, 1, 0), t0.AddDate(0, 1, 1))
		var order []string
		for _, tm := range ts {
			order = append(order, tm.FileID)
		}
		if err != nil || strings.Join(order, "") != "aabbcc" {
			t.Fatalf("terms by file: %v %v", order, err)
		}

		if err := s.AddQuote(ctx, quote("q1", "f", t0.Add(time.Hour), t0.Add(2*time.Hour))); err != nil {
			t.Fatal(err)
		}
		for i, p := range []ledger.Payment{{Status: "success", Amount: 5}, {Status: "error", Amount: 7}, {Status: "success", Amount: 11, Created: t0.AddDate(0, 0, 1)}} {
			p.ID = string(rune('a' + i))
			if p.Created.IsZero() {
				p.Created = t0.Add(time.Hour)
			}
			if err := s.AddPayment(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		quoted, paid, err := s.Flows(ctx, t0, t0.AddDate(0, 0, 1))
		if err != nil || quoted != 100 || paid != 5 {
			t.Fatalf("flows: quoted %d paid %d %v", quoted, paid, err)
		}
	})
}
