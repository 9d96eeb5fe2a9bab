package ledger

import (
	"context"
	"time"

	"github.com/prometheus-dds/dds/internal/money"
)

// Store is what the ledger keeps in the metadata database (persist.Ledger
// implements it). Lookups of one quote or payment answer store.ErrNotFound
// when there is none.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	AddQuote(ctx context.Context, q Quote) error // supersedes the open quote of q's file
	Quote(ctx context.Context, id string) (Quote, error)
	OpenQuote(ctx context.Context, fileID string) (Quote, error)                          // the newest open one
	PayableQuote(ctx context.Context, fileID string, now time.Time) (Quote, error)        // the newest open one not lapsed at now
	LatestQuote(ctx context.Context, fileID string) (Quote, error)                        // the newest paid or open one
	ExpireQuotes(ctx context.Context, now time.Time) ([]Quote, error)                     // the open ones lapsed at now, now expired
	SetQuotePaid(ctx context.Context, q Quote) error                                      // records q's Paid, State and PaidAt
	CloseQuotes(ctx context.Context, fileID string) error                                 // expires the file's open quotes
	PaidTotal(ctx context.Context, fileID string) (money.Amount, error)                   // the prices of the file's paid quotes
	Flows(ctx context.Context, from, to time.Time) (quoted, paid money.Amount, err error) // quotes made and successful payments in [from, to)

	AddPayment(ctx context.Context, p Payment) error
	Payment(ctx context.Context, id string) (Payment, error)
	PaymentByKey(ctx context.Context, idempotencyKey string) (Payment, error)
	// PaymentsWhere returns the successful payments whose attributes
	// include every key/value of attrs (names [a-z_]+), oldest first.
	PaymentsWhere(ctx context.Context, attrs map[string]string) ([]Payment, error)

	AddTerm(ctx context.Context, t Term) error // unless the file's term of t.QuoteID is recorded
	SetTerm(ctx context.Context, t Term) error // replacing the file's term of t.QuoteID
	// EachTerm calls fn with each term overlapping [from, to), a file's
	// terms one after another.
	EachTerm(ctx context.Context, from, to time.Time, fn func(Term) error) error

	QuoteCounts(ctx context.Context) (map[string]int64, error)   // quotes by state, for a gauge
	PaymentCounts(ctx context.Context) (map[string]int64, error) // payments by status, for a gauge
}
