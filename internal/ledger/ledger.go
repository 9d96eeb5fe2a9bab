// Package ledger is the billing ledger: the price schedule, quotes, payments,
// the storage terms they buy and the statements of what the node is owed.
// Amounts are integer base units (package money); the ledger is append-only
// except for a quote's running state.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/flagval"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

// Month is the billing month: 30 days, as the spec's default term.
const Month = 30 * 24 * time.Hour

// GiB is 2^30 bytes.
const GiB = 1 << 30

// Schedule is the price schedule: a rate per GiB-month and a minimum price.
type Schedule struct {
	PerGiBMonth money.Amount
	MinPrice    money.Amount
}

// Version names the schedule, so that two nodes can tell whether they price
// alike.
func (s Schedule) Version() string {
	return fmt.Sprintf("v1/gib-month=%s/min=%s", s.PerGiBMonth, s.MinPrice)
}

// Price is rate × bytes × seconds, rounded up to a base unit, at least the
// minimum price.
func (s Schedule) Price(size int64, d time.Duration) (money.Amount, error) {
	if size < 0 || d < 0 {
		return 0, errors.New("negative size or duration")
	}
	secs := int64(d / time.Second)
	num := new(big.Int).Mul(big.NewInt(int64(s.PerGiBMonth)), big.NewInt(size))
	p, err := money.MulDivCeil(num, big.NewInt(secs), big.NewInt(GiB*int64(Month/time.Second)))
	if err != nil {
		return 0, apierr.BadRequest("price_overflow", "the price of %d bytes for %s does not fit the ledger", size, d)
	}
	if p < s.MinPrice {
		p = s.MinPrice
	}
	return p, nil
}

// Quote kinds and states.
const (
	KindUpload    = "upload"
	KindExtension = "extension"

	QuoteOpen       = "open"
	QuotePaid       = "paid"
	QuoteExpired    = "expired"
	QuoteSuperseded = "superseded"
)

// Quote is a price offered for a term of storage.
type Quote struct {
	ID            string
	FileID        string
	Kind          string
	Duration      time.Duration // the term this quote buys
	Size          int64
	Price         money.Amount
	Paid          money.Amount
	State         string
	Created       time.Time
	Expires       time.Time
	PaidAt        time.Time
	Confirmations json.RawMessage // signatures of the peers that confirmed the price
	PaidBy        string          // the payment that completed it (told to OnPaid)
}

// Payment is a payment reported by the payment processor (or another face).
type Payment struct {
	ID             string
	FileID         string
	QuoteID        string // the quote it was applied to, if any
	Status         string // success | error
	Amount         money.Amount
	IdempotencyKey string
	Attrs          map[string]any // face-specific (order details...)
	Created        time.Time
}

// Confirmation is what peers are asked to confirm before a quote is made:
// the price of a term of storage for a file's content, until the quote lapses.
type Confirmation struct {
	FileID string
	Size   int64
	Hash   string // hex SHA-256 of the content
	// MerkleRoot is the hex root of the content's Merkle tree (package
	// merkle), so that holders can later prove they keep the content; empty
	// for an extension of a file uploaded before roots were computed.
	MerkleRoot string
	Duration   time.Duration
	Price      money.Amount
	ExpiresAt  time.Time // when the quote lapses
}

// Term is a span of paid storage of one file held by this node.
type Term struct {
	FileID  string
	QuoteID string
	Start   time.Time
	End     time.Time
	Size    int64
	Price   money.Amount
}

// PaidFunc is told, inside the payment's transaction, that a quote is now
// fully paid; it turns the quote into storage (a term).
type PaidFunc func(tx *store.Tx, q Quote) error

// Ledger records quotes, payments and terms. It prices with its Schedule
// (Price and Version are the schedule's).
type Ledger struct {
	Schedule
	db     *store.DB
	clock  clock.Clock
	TTL    time.Duration // how long a quote stands
	onPaid []PaidFunc
}

// Deps are the ledger's dependencies.
type Deps struct {
	DB    *store.DB
	Clock clock.Clock
}

// New prepares the ledger tables.
func New(ctx context.Context, cfg Config, deps Deps) (*Ledger, error) {
	return &Ledger{db: deps.DB, clock: deps.Clock, Schedule: cfg.Schedule(), TTL: cfg.QuoteTTL}, nil
}

// OnPaid adds a function told of every fully paid quote: the file records
// turn it into storage, the network places the file's copies.
func (l *Ledger) OnPaid(f PaidFunc) { l.onPaid = append(l.onPaid, f) }

// QuoteTTL is how long a quote stands.
func (l *Ledger) QuoteTTL() time.Duration { return l.TTL }

// NewQuote prices a term for a file and records the quote, superseding any
// open quote of the same file;
// expires is when the quote lapses: the time the peers confirmed it until.
func (l *Ledger) NewQuote(tx *store.Tx, fileID, kind string, size int64, d time.Duration, expires time.Time, confirmations json.RawMessage) (Quote, error) {
	price, err := l.Schedule.Price(size, d)
	if err != nil {
		return Quote{}, err
	}
	now := l.clock.Now()
	if len(confirmations) == 0 {
		confirmations = json.RawMessage("[]")
	}
	q := Quote{ID: uuid.NewString(), FileID: fileID, Kind: kind, Duration: d, Size: size, Price: price,
		State: QuoteOpen, Created: now, Expires: expires, Confirmations: confirmations}
	if _, err := tx.Exec(`UPDATE quotes SET state=? WHERE file_id=? AND state=?`, QuoteSuperseded, fileID, QuoteOpen); err != nil {
		return Quote{}, err
	}
	_, err = tx.Exec(`INSERT INTO quotes(id,file_id,kind,duration_s,size,price,state,created_at,expires_at,confirmations)
		VALUES(?,?,?,?,?,?,?,?,?,?)`, q.ID, fileID, kind, int64(d/time.Second), size, int64(price), q.State,
		store.Time(now), store.Time(q.Expires), string(confirmations))
	return q, err
}

// SetConfirmations records the peers' signatures on a quote.
func (l *Ledger) SetConfirmations(tx *store.Tx, quoteID string, c json.RawMessage) error {
	_, err := tx.Exec(`UPDATE quotes SET confirmations=? WHERE id=?`, string(c), quoteID)
	return err
}

const quoteCols = `id,file_id,kind,duration_s,size,price,paid,state,created_at,expires_at,COALESCE(paid_at,''),confirmations`

type scanner interface{ Scan(...any) error }

func scanQuote(r scanner) (Quote, error) {
	var q Quote
	var dur, price, paid int64
	var created, expires, paidAt, conf string
	if err := r.Scan(&q.ID, &q.FileID, &q.Kind, &dur, &q.Size, &price, &paid, &q.State, &created, &expires, &paidAt, &conf); err != nil {
		return Quote{}, store.NotFound(err)
	}
	q.Duration, q.Price, q.Paid = time.Duration(dur)*time.Second, money.Amount(price), money.Amount(paid)
	q.Created, q.Expires, q.Confirmations = store.ParseTime(created), store.ParseTime(expires), json.RawMessage(conf)
	if paidAt != "" {
		q.PaidAt = store.ParseTime(paidAt)
	}
	return q, nil
}

// Quote returns a quote by id.
func (l *Ledger) Quote(ctx context.Context, id string) (Quote, error) {
	return scanQuote(l.db.QueryRowContext(ctx, `SELECT `+quoteCols+` FROM quotes WHERE id=?`, id))
}

// OpenQuote returns the open quote of a file, or store.ErrNotFound.
func (l *Ledger) OpenQuote(ctx context.Context, fileID string) (Quote, error) {
	return scanQuote(l.db.QueryRowContext(ctx, `SELECT `+quoteCols+` FROM quotes WHERE file_id=? AND state=? ORDER BY created_at DESC LIMIT 1`, fileID, QuoteOpen))
}

// ExpireQuotes marks open quotes past their expiry as expired and returns them.
func (l *Ledger) ExpireQuotes(tx *store.Tx) ([]Quote, error) {
	rows, err := tx.Query(`SELECT `+quoteCols+` FROM quotes WHERE state=? AND expires_at<=?`, QuoteOpen, store.Time(l.clock.Now()))
	if err != nil {
		return nil, err
	}
	var out []Quote
	for rows.Next() {
		q, err := scanQuote(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, q)
	}
	rows.Close()
	for _, q := range out {
		if _, err := tx.Exec(`UPDATE quotes SET state=? WHERE id=?`, QuoteExpired, q.ID); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// PaymentIn is a payment as reported.
type PaymentIn struct {
	FileID         string
	Status         string
	Amount         money.Amount
	IdempotencyKey string
	Attrs          map[string]any
}

// RecordPayment records a payment. A successful one is applied to the file's
// open quote; once the quote is fully paid it is turned into storage (through
// OnPaid) in the same transaction. A payment whose idempotency key was seen
// before is not recorded again: the first record is returned with dup=true.
func (l *Ledger) RecordPayment(ctx context.Context, in PaymentIn) (p Payment, dup bool, err error) {
	if in.Status != "success" && in.Status != "error" {
		return Payment{}, false, apierr.BadRequest("invalid_attribute", "status must be \"success\" or \"error\"").At("/data/attributes/status")
	}
	if in.Attrs == nil {
		in.Attrs = map[string]any{}
	}
	attrs, err := json.Marshal(in.Attrs)
	if err != nil {
		return Payment{}, false, err
	}
	err = l.db.Tx(ctx, func(tx *store.Tx) error {
		if in.IdempotencyKey != "" {
			prev, err := scanPayment(tx.QueryRow(`SELECT `+paymentCols+` FROM payments WHERE idempotency_key=?`, in.IdempotencyKey))
			if err == nil {
				if prev.FileID != in.FileID || prev.Amount != in.Amount || prev.Status != in.Status {
					return apierr.Conflict("idempotency_key_reused", "Idempotency-Key %q was used for a different payment", in.IdempotencyKey)
				}
				p, dup = prev, true
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		now := l.clock.Now()
		p = Payment{ID: uuid.NewString(), FileID: in.FileID, Status: in.Status, Amount: in.Amount,
			IdempotencyKey: in.IdempotencyKey, Attrs: in.Attrs, Created: now}
		if in.Status == "success" && in.FileID != "" {
			q, err := scanQuote(tx.QueryRow(`SELECT `+quoteCols+` FROM quotes WHERE file_id=? AND state=? AND expires_at>? ORDER BY created_at DESC LIMIT 1`,
				in.FileID, QuoteOpen, store.Time(now)))
			switch {
			case err == nil:
				p.QuoteID = q.ID
				q.Paid += in.Amount
				if q.Paid >= q.Price {
					q.State, q.PaidAt = QuotePaid, now
				}
				if _, err := tx.Exec(`UPDATE quotes SET paid=?, state=?, paid_at=? WHERE id=?`, int64(q.Paid), q.State, nullTime(q.PaidAt), q.ID); err != nil {
					return err
				}
				if q.State == QuotePaid {
					q.PaidBy = p.ID
					for _, paid := range l.onPaid {
						if err := paid(tx, q); err != nil {
							return err
						}
					}
				}
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		var key any
		if in.IdempotencyKey != "" {
			key = in.IdempotencyKey
		}
		_, err := tx.Exec(`INSERT INTO payments(id,file_id,quote_id,status,amount,idempotency_key,attrs,created_at) VALUES(?,?,?,?,?,?,?,?)`,
			p.ID, p.FileID, p.QuoteID, p.Status, int64(p.Amount), key, string(attrs), store.Time(now))
		return err
	})
	return p, dup, err
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Time(t)
}

const paymentCols = `id,file_id,quote_id,status,amount,COALESCE(idempotency_key,''),attrs,created_at`

func scanPayment(r scanner) (Payment, error) {
	var p Payment
	var amount int64
	var attrs, created string
	if err := r.Scan(&p.ID, &p.FileID, &p.QuoteID, &p.Status, &amount, &p.IdempotencyKey, &attrs, &created); err != nil {
		return Payment{}, store.NotFound(err)
	}
	p.Amount, p.Created = money.Amount(amount), store.ParseTime(created)
	_ = json.Unmarshal([]byte(attrs), &p.Attrs)
	return p, nil
}

// Payment returns a payment by id.
func (l *Ledger) Payment(ctx context.Context, id string) (Payment, error) {
	return scanPayment(l.db.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE id=?`, id))
}

// AddTerm records a span of paid storage held by this node.
func (l *Ledger) AddTerm(tx *store.Tx, t Term) error {
	_, err := tx.Exec(`INSERT INTO terms(file_id,quote_id,start_at,end_at,size,price) VALUES(?,?,?,?,?,?)
		ON CONFLICT(file_id,quote_id) DO NOTHING`,
		t.FileID, t.QuoteID, store.Time(t.Start), store.Time(t.End), t.Size, int64(t.Price))
	return err
}

// SetTerm records a span of paid storage, replacing the one of the same file
// and quote (a holder's share is cut when it loses its copy).
func (l *Ledger) SetTerm(tx *store.Tx, t Term) error {
	_, err := tx.Exec(`INSERT INTO terms(file_id,quote_id,start_at,end_at,size,price) VALUES(?,?,?,?,?,?)
		ON CONFLICT(file_id,quote_id) DO UPDATE SET start_at=excluded.start_at, end_at=excluded.end_at, size=excluded.size, price=excluded.price`,
		t.FileID, t.QuoteID, store.Time(t.Start), store.Time(t.End), t.Size, int64(t.Price))
	return err
}

// Share is what the holder of one of a paid term's shares earns for holding
// it during [from, to). The price of the term [start, end) is split into
// replicas equal shares, the remainder going to share 0; a share held by
// several nodes in turn is split at the hand-over times by the cumulative
// floor of its pro-rata amount, so the parts of one share add up to it
// exactly whatever the hand-over times.
func Share(price money.Amount, replicas, share int, start, end, from, to time.Time) money.Amount {
	if replicas < 1 {
		replicas = 1
	}
	if share < 0 || share >= replicas || !end.After(start) {
		return 0
	}
	s := int64(price) / int64(replicas)
	if share == 0 {
		s += int64(price) % int64(replicas)
	}
	span := big.NewInt(int64(end.Sub(start)))
	cum := func(t time.Time) int64 {
		t = minTime(maxTime(t, start), end)
		v := new(big.Int).Mul(big.NewInt(s), big.NewInt(int64(t.Sub(start))))
		return v.Quo(v, span).Int64()
	}
	if !to.After(from) {
		return 0
	}
	return money.Amount(cum(to) - cum(from))
}

// Statement is what this node is owed for a period.
type Statement struct {
	From, To time.Time // [From, To)
	Size     int64     // bytes of the files stored during the period
	Amount   money.Amount
	Files    int
}

// Statement adds up the storage charges accrued within [from, to): each term
// contributes its price in proportion to the part of it inside the period
// (byte-seconds × rate, as the term was priced).
func (l *Ledger) Statement(ctx context.Context, from, to time.Time) (Statement, error) {
	st := Statement{From: from, To: to}
	rows, err := l.db.QueryContext(ctx, `SELECT file_id,start_at,end_at,size,price FROM terms WHERE end_at>? AND start_at<?`,
		store.Time(from), store.Time(to))
	if err != nil {
		return st, err
	}
	defer rows.Close()
	files := map[string]int64{}
	total := new(big.Rat)
	for rows.Next() {
		var fileID, s, e string
		var size, price int64
		if err := rows.Scan(&fileID, &s, &e, &size, &price); err != nil {
			return st, err
		}
		start, end := store.ParseTime(s), store.ParseTime(e)
		lo, hi := maxTime(start, from), minTime(end, to)
		span := end.Sub(start)
		if span <= 0 || !hi.After(lo) {
			continue
		}
		total.Add(total, new(big.Rat).SetFrac(
			new(big.Int).Mul(big.NewInt(price), big.NewInt(int64(hi.Sub(lo)))), big.NewInt(int64(span))))
		files[fileID] = size
	}
	for _, size := range files {
		st.Size += size
	}
	st.Files = len(files)
	st.Amount = money.Amount(new(big.Int).Quo(total.Num(), total.Denom()).Int64())
	return st, rows.Err()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ParseDay reads a yyyymmdd date (UTC).
func ParseDay(s string) (time.Time, error) {
	if len(s) != 8 || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%q is not a yyyymmdd date", s)
	}
	t, err := time.Parse("20060102", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a valid date", s)
	}
	return t, nil
}

// Counts returns the number of quotes and payments by state, for metrics.
func (l *Ledger) Counts(ctx context.Context) (quotes, payments map[string]int64, err error) {
	quotes, payments = map[string]int64{}, map[string]int64{}
	for _, q := range []struct {
		sql string
		m   map[string]int64
	}{{`SELECT state, COUNT(*) FROM quotes GROUP BY state`, quotes}, {`SELECT status, COUNT(*) FROM payments GROUP BY status`, payments}} {
		rows, err := l.db.QueryContext(ctx, q.sql)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return nil, nil, err
			}
			q.m[k] = n
		}
		rows.Close()
	}
	return quotes, payments, nil
}

// Flows adds up the prices of the quotes made and the successful payments
// received within [from, to), for earnings over time.
func (l *Ledger) Flows(ctx context.Context, from, to time.Time) (quoted, paid money.Amount, err error) {
	var q, p int64
	err = l.db.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(SUM(price),0) FROM quotes WHERE created_at>=? AND created_at<?),
		(SELECT COALESCE(SUM(amount),0) FROM payments WHERE status='success' AND created_at>=? AND created_at<?)`,
		store.Time(from), store.Time(to), store.Time(from), store.Time(to)).Scan(&q, &p)
	return money.Amount(q), money.Amount(p), err
}

// PaidTotal is the sum of the prices of a file's paid quotes.
func (l *Ledger) PaidTotal(ctx context.Context, fileID string) (money.Amount, error) {
	var n int64
	err := l.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(price),0) FROM quotes WHERE file_id=? AND state=?`, fileID, QuotePaid).Scan(&n)
	return money.Amount(n), err
}

// CloseQuotes expires the open quotes of a file (its term ended, or it is gone).
func (l *Ledger) CloseQuotes(tx *store.Tx, fileID string) error {
	_, err := tx.Exec(`UPDATE quotes SET state=? WHERE file_id=? AND state=?`, QuoteExpired, fileID, QuoteOpen)
	return err
}

// QuoteExpiry is when a quote made now lapses (whole seconds, so that peers
// sign exactly the time the ledger keeps).
func (l *Ledger) QuoteExpiry() time.Time { return l.clock.Now().Add(l.TTL).Truncate(time.Second) }

// LatestQuote returns the newest quote of a file in any state.
func (l *Ledger) LatestQuote(ctx context.Context, fileID string) (Quote, error) {
	return scanQuote(l.db.QueryRowContext(ctx, `SELECT `+quoteCols+` FROM quotes WHERE file_id=? AND state IN (?,?) ORDER BY created_at DESC LIMIT 1`, fileID, QuotePaid, QuoteOpen))
}

var attrKey = regexp.MustCompile(`^[a-z_]{1,64}$`)

// PaymentsWhere returns the successful payments whose attributes include
// every key/value of attrs (string values, compared exactly), oldest first.
// Faces that sell something other than storage (orders for a document's
// service, say) find their payments this way.
func (l *Ledger) PaymentsWhere(ctx context.Context, attrs map[string]string) ([]Payment, error) {
	q := `SELECT ` + paymentCols + ` FROM payments WHERE status='success'`
	var args []any
	for k, v := range attrs {
		if !attrKey.MatchString(k) {
			return nil, fmt.Errorf("ledger: attribute name %q is not [a-z_]+", k)
		}
		// The path is inlined (it is a plain identifier) so that the
		// expression index on document_id applies.
		q += ` AND json_extract(attrs, '$.` + k + `') = ?`
		args = append(args, v)
	}
	rows, err := l.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PaidWhere sums the successful payments matching attrs (as PaymentsWhere)
// made at or after since, and tells when the latest of them was made.
func (l *Ledger) PaidWhere(ctx context.Context, attrs map[string]string, since time.Time) (total money.Amount, last time.Time, err error) {
	ps, err := l.PaymentsWhere(ctx, attrs)
	if err != nil {
		return 0, time.Time{}, err
	}
	for _, p := range ps {
		if p.Created.Before(since) {
			continue
		}
		if p.Amount > money.Amount(math.MaxInt64)-total {
			return 0, time.Time{}, errors.New("ledger: payment total overflows")
		}
		total += p.Amount
		last = p.Created
	}
	return total, last, nil
}

// Config is the ledger's price schedule and quote lifetime.
type Config struct {
	PricePerGiBMonth money.Amount  // price of 1 GiB for 30 days
	MinPrice         money.Amount  // smallest price quoted
	QuoteTTL         time.Duration // how long a quote stands
}

// DefaultConfig is 1 token per GiB-month, no minimum, quotes standing 1 h.
func DefaultConfig() Config {
	return Config{PricePerGiBMonth: money.Unit, QuoteTTL: time.Hour}
}

// RegisterFlags registers the ledger's flags, defaulting to c's values.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(flagval.Amount(&c.PricePerGiBMonth), "price-per-gib-month", "price of storing 1 GiB for 30 days, in tokens")
	fs.Var(flagval.Amount(&c.MinPrice), "min-price", "smallest price quoted, in tokens")
	fs.DurationVar(&c.QuoteTTL, "quote-ttl", c.QuoteTTL, "how long a price quote stands before its unpaid upload is deleted")
}

// Schedule is the price schedule of c.
func (c Config) Schedule() Schedule {
	return Schedule{PerGiBMonth: c.PricePerGiBMonth, MinPrice: c.MinPrice}
}

// Gauges registers the quotes and payments by state.
func (l *Ledger) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_quotes", "Quotes by state.", "state", func(ctx context.Context) (map[string]int64, error) {
		q, _, err := l.Counts(ctx)
		return q, err
	})
	m.Gauges("dds_payments", "Payments by status.", "status", func(ctx context.Context) (map[string]int64, error) {
		_, p, err := l.Counts(ctx)
		return p, err
	})
}
