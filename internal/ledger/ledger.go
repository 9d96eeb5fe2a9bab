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

// PaidFunc is told that a quote is now fully paid; it turns the quote into
// storage (a term). Its ctx carries the payment's transaction: what it
// writes with ctx commits with the payment, or not at all.
type PaidFunc func(ctx context.Context, q Quote) error

// Ledger records quotes, payments and terms. It prices with its Schedule
// (Price and Version are the schedule's).
type Ledger struct {
	Schedule
	store  Store
	clock  clock.Clock
	TTL    time.Duration // how long a quote stands
	onPaid []PaidFunc
}

// Deps are the ledger's dependencies.
type Deps struct {
	Store Store
	Clock clock.Clock
}

// New returns the ledger, keeping its records in deps.Store.
func New(ctx context.Context, cfg Config, deps Deps) (*Ledger, error) {
	return &Ledger{store: deps.Store, clock: deps.Clock, Schedule: cfg.Schedule(), TTL: cfg.QuoteTTL}, nil
}

// OnPaid adds a function told of every fully paid quote: the file records
// turn it into storage, the network places the file's copies.
func (l *Ledger) OnPaid(f PaidFunc) { l.onPaid = append(l.onPaid, f) }

// QuoteTTL is how long a quote stands.
func (l *Ledger) QuoteTTL() time.Duration { return l.TTL }

// NewQuote prices a term for a file and records the quote, superseding any
// open quote of the same file;
// expires is when the quote lapses: the time the peers confirmed it until.
func (l *Ledger) NewQuote(ctx context.Context, fileID, kind string, size int64, d time.Duration, expires time.Time, confirmations json.RawMessage) (Quote, error) {
	price, err := l.Schedule.Price(size, d)
	if err != nil {
		return Quote{}, err
	}
	now := l.clock.Now()
	if len(confirmations) == 0 {
		confirmations = json.RawMessage("[]")
	}
	q := Quote{ID: store.NewID(), FileID: fileID, Kind: kind, Duration: d, Size: size, Price: price,
		State: QuoteOpen, Created: now, Expires: expires, Confirmations: confirmations}
	return q, l.store.AddQuote(ctx, q)
}

// Quote returns a quote by id.
func (l *Ledger) Quote(ctx context.Context, id string) (Quote, error) {
	return l.store.Quote(ctx, id)
}

// OpenQuote returns the open quote of a file, or store.ErrNotFound.
func (l *Ledger) OpenQuote(ctx context.Context, fileID string) (Quote, error) {
	return l.store.OpenQuote(ctx, fileID)
}

// ExpireQuotes marks open quotes past their expiry as expired and returns them.
func (l *Ledger) ExpireQuotes(ctx context.Context) ([]Quote, error) {
	return l.store.ExpireQuotes(ctx, l.clock.Now())
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
	err = l.store.InTx(ctx, func(ctx context.Context) error {
		if in.IdempotencyKey != "" {
			prev, err := l.store.PaymentByKey(ctx, in.IdempotencyKey)
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
		p = Payment{ID: store.NewID(), FileID: in.FileID, Status: in.Status, Amount: in.Amount,
			IdempotencyKey: in.IdempotencyKey, Attrs: in.Attrs, Created: now}
		if in.Status == "success" && in.FileID != "" {
			q, err := l.store.PayableQuote(ctx, in.FileID, now)
			switch {
			case err == nil:
				p.QuoteID = q.ID
				q.Paid += in.Amount
				if q.Paid >= q.Price {
					q.State, q.PaidAt = QuotePaid, now
				}
				if err := l.store.SetQuotePaid(ctx, q); err != nil {
					return err
				}
				if q.State == QuotePaid {
					q.PaidBy = p.ID
					for _, paid := range l.onPaid {
						if err := paid(ctx, q); err != nil {
							return err
						}
					}
				}
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		return l.store.AddPayment(ctx, p)
	})
	return p, dup, err
}

// Payment returns a payment by id.
func (l *Ledger) Payment(ctx context.Context, id string) (Payment, error) {
	return l.store.Payment(ctx, id)
}

// AddTerm records a span of paid storage held by this node.
func (l *Ledger) AddTerm(ctx context.Context, t Term) error { return l.store.AddTerm(ctx, t) }

// SetTerm records a span of paid storage, replacing the one of the same file
// and quote (a holder's share is cut when it loses its copy).
func (l *Ledger) SetTerm(ctx context.Context, t Term) error { return l.store.SetTerm(ctx, t) }

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
	total := new(big.Rat)
	counted := "" // the file last counted: a file's terms come together
	err := l.store.EachTerm(ctx, from, to, func(t Term) error {
		lo, hi := maxTime(t.Start, from), minTime(t.End, to)
		span := t.End.Sub(t.Start)
		if span <= 0 || !hi.After(lo) {
			return nil
		}
		total.Add(total, new(big.Rat).SetFrac(
			new(big.Int).Mul(big.NewInt(int64(t.Price)), big.NewInt(int64(hi.Sub(lo)))), big.NewInt(int64(span))))
		if t.FileID != counted {
			counted = t.FileID
			st.Files++
			st.Size += t.Size
		}
		return nil
	})
	if err != nil {
		return Statement{From: from, To: to}, err
	}
	st.Amount = money.Amount(new(big.Int).Quo(total.Num(), total.Denom()).Int64())
	return st, nil
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

// Flows adds up the prices of the quotes made and the successful payments
// received within [from, to), for earnings over time.
func (l *Ledger) Flows(ctx context.Context, from, to time.Time) (quoted, paid money.Amount, err error) {
	return l.store.Flows(ctx, from, to)
}

// PaidTotal is the sum of the prices of a file's paid quotes.
func (l *Ledger) PaidTotal(ctx context.Context, fileID string) (money.Amount, error) {
	return l.store.PaidTotal(ctx, fileID)
}

// CloseQuotes expires the open quotes of a file (its term ended, or it is gone).
func (l *Ledger) CloseQuotes(ctx context.Context, fileID string) error {
	return l.store.CloseQuotes(ctx, fileID)
}

// QuoteExpiry is when a quote made now lapses (whole seconds, so that peers
// sign exactly the time the ledger keeps).
func (l *Ledger) QuoteExpiry() time.Time { return l.clock.Now().Add(l.TTL).Truncate(time.Second) }

// LatestQuote returns the newest quote of a file in any state.
func (l *Ledger) LatestQuote(ctx context.Context, fileID string) (Quote, error) {
	return l.store.LatestQuote(ctx, fileID)
}

var attrKey = regexp.MustCompile(`^[a-z_]{1,64}$`)

// PaymentsWhere returns the successful payments whose attributes include
// every key/value of attrs (string values, compared exactly), oldest first.
// Faces that sell something other than storage (orders for a document's
// service, say) find their payments this way.
func (l *Ledger) PaymentsWhere(ctx context.Context, attrs map[string]string) ([]Payment, error) {
	for k := range attrs {
		if !attrKey.MatchString(k) {
			return nil, fmt.Errorf("ledger: attribute name %q is not [a-z_]+", k)
		}
	}
	return l.store.PaymentsWhere(ctx, attrs)
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
	m.Gauges("dds_quotes", "Quotes by state.", "state", l.store.QuoteCounts)
	m.Gauges("dds_payments", "Payments by status.", "status", l.store.PaymentCounts)
}
