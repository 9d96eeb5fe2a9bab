package persist

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

// Ledger keeps the billing ledger: quotes, payments and terms.
type Ledger struct{ db *store.DB }

// NewLedger returns the ledger's store in db.
func NewLedger(db *store.DB) *Ledger { return &Ledger{db: db} }

var _ ledger.Store = (*Ledger)(nil)

// InTx runs fn in a transaction (joining ctx's).
func (p *Ledger) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return p.db.InTx(ctx, fn)
}

const ledgerQuoteCols = `id,file_id,kind,duration_s,size,price,paid,state,created_at,expires_at,COALESCE(paid_at,''),confirmations`

func ledgerScanQuote(r scanner) (ledger.Quote, error) {
	var q ledger.Quote
	var dur, price, paid int64
	var created, expires, paidAt, conf string
	if err := r.Scan(&q.ID, &q.FileID, &q.Kind, &dur, &q.Size, &price, &paid, &q.State, &created, &expires, &paidAt, &conf); err != nil {
		return ledger.Quote{}, store.NotFound(err)
	}
	q.Duration, q.Price, q.Paid = time.Duration(dur)*time.Second, money.Amount(price), money.Amount(paid)
	q.Created, q.Expires, q.Confirmations = store.ParseTime(created), store.ParseTime(expires), json.RawMessage(conf)
	if paidAt != "" {
		q.PaidAt = store.ParseTime(paidAt)
	}
	return q, nil
}

// AddQuote records a new quote, superseding the open quote of its file.
func (p *Ledger) AddQuote(ctx context.Context, q ledger.Quote) error {
	return p.db.InTx(ctx, func(ctx context.Context) error {
		db := p.db.Q(ctx)
		if _, err := db.ExecContext(ctx, `UPDATE quotes SET state=? WHERE file_id=? AND state=?`, ledger.QuoteSuperseded, q.FileID, ledger.QuoteOpen); err != nil {
			return err
		}
		_, err := db.ExecContext(ctx, `INSERT INTO quotes(id,file_id,kind,duration_s,size,price,state,created_at,expires_at,confirmations)
		VALUES(?,?,?,?,?,?,?,?,?,?)`, q.ID, q.FileID, q.Kind, int64(q.Duration/time.Second), q.Size, int64(q.Price), q.State,
			store.Time(q.Created), store.Time(q.Expires), string(q.Confirmations))
		return err
	})
}

// Quote returns a quote by id, or store.ErrNotFound.
func (p *Ledger) Quote(ctx context.Context, id string) (ledger.Quote, error) {
	return ledgerScanQuote(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+ledgerQuoteCols+` FROM quotes WHERE id=?`, id))
}

// OpenQuote returns the newest open quote of a file, or store.ErrNotFound.
func (p *Ledger) OpenQuote(ctx context.Context, fileID string) (ledger.Quote, error) {
	return ledgerScanQuote(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+ledgerQuoteCols+` FROM quotes WHERE file_id=? AND state=? ORDER BY created_at DESC LIMIT 1`, fileID, ledger.QuoteOpen))
}

// PayableQuote returns the newest open quote of a file that has not lapsed
// at now, or store.ErrNotFound.
func (p *Ledger) PayableQuote(ctx context.Context, fileID string, now time.Time) (ledger.Quote, error) {
	return ledgerScanQuote(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+ledgerQuoteCols+` FROM quotes WHERE file_id=? AND state=? AND expires_at>? ORDER BY created_at DESC LIMIT 1`,
		fileID, ledger.QuoteOpen, store.Time(now)))
}

// LatestQuote returns the newest paid or open quote of a file, or
// store.ErrNotFound.
func (p *Ledger) LatestQuote(ctx context.Context, fileID string) (ledger.Quote, error) {
	return ledgerScanQuote(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+ledgerQuoteCols+` FROM quotes WHERE file_id=? AND state IN (?,?) ORDER BY created_at DESC LIMIT 1`, fileID, ledger.QuotePaid, ledger.QuoteOpen))
}

// ExpireQuotes marks the open quotes lapsed at now as expired and returns
// them (as they were: open).
func (p *Ledger) ExpireQuotes(ctx context.Context, now time.Time) ([]ledger.Quote, error) {
	var out []ledger.Quote
	err := p.db.InTx(ctx, func(ctx context.Context) error {
		db := p.db.Q(ctx)
		var err error
		out, err = queryAll(ctx, db, ledgerScanQuote, `SELECT `+ledgerQuoteCols+` FROM quotes WHERE state=? AND expires_at<=?`, ledger.QuoteOpen, store.Time(now))
		if err != nil {
			return err
		}
		for _, q := range out {
			if _, err := db.ExecContext(ctx, `UPDATE quotes SET state=? WHERE id=?`, ledger.QuoteExpired, q.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// SetQuotePaid records what was paid of a quote: its Paid, State and PaidAt.
func (p *Ledger) SetQuotePaid(ctx context.Context, q ledger.Quote) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE quotes SET paid=?, state=?, paid_at=? WHERE id=?`, int64(q.Paid), q.State, ledgerNullTime(q.PaidAt), q.ID)
	return err
}

// CloseQuotes expires the open quotes of a file.
func (p *Ledger) CloseQuotes(ctx context.Context, fileID string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE quotes SET state=? WHERE file_id=? AND state=?`, ledger.QuoteExpired, fileID, ledger.QuoteOpen)
	return err
}

// PaidTotal is the sum of the prices of a file's paid quotes.
func (p *Ledger) PaidTotal(ctx context.Context, fileID string) (money.Amount, error) {
	var n int64
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT COALESCE(SUM(price),0) FROM quotes WHERE file_id=? AND state=?`, fileID, ledger.QuotePaid).Scan(&n)
	return money.Amount(n), err
}

func ledgerNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Time(t)
}

const ledgerPaymentCols = `id,file_id,quote_id,status,amount,COALESCE(idempotency_key,''),attrs,created_at`

func ledgerScanPayment(r scanner) (ledger.Payment, error) {
	var p ledger.Payment
	var amount int64
	var attrs, created string
	if err := r.Scan(&p.ID, &p.FileID, &p.QuoteID, &p.Status, &amount, &p.IdempotencyKey, &attrs, &created); err != nil {
		return ledger.Payment{}, store.NotFound(err)
	}
	p.Amount, p.Created = money.Amount(amount), store.ParseTime(created)
	_ = json.Unmarshal([]byte(attrs), &p.Attrs)
	return p, nil
}

// Payment returns a payment by id, or store.ErrNotFound.
func (p *Ledger) Payment(ctx context.Context, id string) (ledger.Payment, error) {
	return ledgerScanPayment(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+ledgerPaymentCols+` FROM payments WHERE id=?`, id))
}

// PaymentByKey returns the payment recorded with an idempotency key, or
// store.ErrNotFound.
func (p *Ledger) PaymentByKey(ctx context.Context, key string) (ledger.Payment, error) {
	return ledgerScanPayment(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+ledgerPaymentCols+` FROM payments WHERE idempotency_key=?`, key))
}

// AddPayment records a payment.
func (p *Ledger) AddPayment(ctx context.Context, pay ledger.Payment) error {
	attrs := pay.Attrs
	if attrs == nil {
		attrs = map[string]any{}
	}
	js, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	var key any
	if pay.IdempotencyKey != "" {
		key = pay.IdempotencyKey
	}
	_, err = p.db.Q(ctx).ExecContext(ctx, `INSERT INTO payments(id,file_id,quote_id,status,amount,idempotency_key,attrs,created_at) VALUES(?,?,?,?,?,?,?,?)`,
		pay.ID, pay.FileID, pay.QuoteID, pay.Status, int64(pay.Amount), key, string(js), store.Time(pay.Created))
	return err
}

var ledgerAttrKey = regexp.MustCompile(`^[a-z_]{1,64}$`)

// PaymentsWhere returns the successful payments whose attributes include
// every key/value of attrs, oldest first.
func (p *Ledger) PaymentsWhere(ctx context.Context, attrs map[string]string) ([]ledger.Payment, error) {
	q := `SELECT ` + ledgerPaymentCols + ` FROM payments WHERE status='success'`
	var args []any
	for k, v := range attrs {
		if !ledgerAttrKey.MatchString(k) {
			return nil, fmt.Errorf("ledger: attribute name %q is not [a-z_]+", k)
		}
		// The path is inlined (it is a plain identifier) so that the
		// expression index on document_id applies.
		q += ` AND json_extract(attrs, '$.` + k + `') = ?`
		args = append(args, v)
	}
	return queryAll(ctx, p.db.Q(ctx), ledgerScanPayment, q+` ORDER BY created_at, id`, args...)
}

// AddTerm records a term unless one of the same file and quote is recorded.
func (p *Ledger) AddTerm(ctx context.Context, t ledger.Term) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO terms(file_id,quote_id,start_at,end_at,size,price) VALUES(?,?,?,?,?,?)
		ON CONFLICT(file_id,quote_id) DO NOTHING`,
		t.FileID, t.QuoteID, store.Time(t.Start), store.Time(t.End), t.Size, int64(t.Price))
	return err
}

// SetTerm records a term, replacing the one of the same file and quote.
func (p *Ledger) SetTerm(ctx context.Context, t ledger.Term) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO terms(file_id,quote_id,start_at,end_at,size,price) VALUES(?,?,?,?,?,?)
		ON CONFLICT(file_id,quote_id) DO UPDATE SET start_at=excluded.start_at, end_at=excluded.end_at, size=excluded.size, price=excluded.price`,
		t.FileID, t.QuoteID, store.Time(t.Start), store.Time(t.End), t.Size, int64(t.Price))
	return err
}

// EachTerm hands out the terms that overlap [from, to), sorted by file.
func (p *Ledger) EachTerm(ctx context.Context, from, to time.Time, fn func(ledger.Term) error) error {
	return eachRow(ctx, p.db.Q(ctx), func(r scanner) (ledger.Term, error) {
		var t ledger.Term
		var s, e string
		var price int64
		if err := r.Scan(&t.FileID, &t.QuoteID, &s, &e, &t.Size, &price); err != nil {
			return t, err
		}
		t.Start, t.End, t.Price = store.ParseTime(s), store.ParseTime(e), money.Amount(price)
		return t, nil
	}, fn, ledgerTermsOverlapping, store.Time(from), store.Time(to))
}

// ledgerTermsOverlapping sorts by file, so that a statement counts each file
// once without remembering every file it has seen. Without the hint
// SQLite's planner, which has no statistics, scans the whole primary key
// rather than sort the period's range.
const ledgerTermsOverlapping = `SELECT file_id,quote_id,start_at,end_at,size,price FROM terms INDEXED BY terms_span WHERE end_at>? AND start_at<? ORDER BY file_id`

func (p *Ledger) QuoteCounts(ctx context.Context) (map[string]int64, error) {
	return byLabel(ctx, p.db.Q(ctx), `SELECT state, COUNT(*) FROM quotes GROUP BY state`)
}

func (p *Ledger) PaymentCounts(ctx context.Context) (map[string]int64, error) {
	return byLabel(ctx, p.db.Q(ctx), `SELECT status, COUNT(*) FROM payments GROUP BY status`)
}

// Flows adds up the prices of the quotes made and the successful payments
// received within [from, to).
func (p *Ledger) Flows(ctx context.Context, from, to time.Time) (quoted, paid money.Amount, err error) {
	var q, pd int64
	err = p.db.Q(ctx).QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(SUM(price),0) FROM quotes WHERE created_at>=? AND created_at<?),
		(SELECT COALESCE(SUM(amount),0) FROM payments WHERE status='success' AND created_at>=? AND created_at<?)`,
		store.Time(from), store.Time(to), store.Time(from), store.Time(to)).Scan(&q, &pd)
	return money.Amount(q), money.Amount(pd), err
}
