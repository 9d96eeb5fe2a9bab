package deals

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus-dds/dds/internal/btc"
)

// Store is what the deal module keeps in the metadata database (persist.Deals
// implements it). Lookups that find nothing return store.ErrNotFound.
type Store interface {
	// InTx runs fn in a transaction: the Store's methods called with the
	// context fn gets join it.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	Account(ctx context.Context, address string) (Account, error)
	// AddAccount stores a new account (its feedback counts at zero), or
	// returns ErrAccountExists for an address or principal that has one.
	AddAccount(ctx context.Context, a Account) error
	SetAccountKeys(ctx context.Context, address, pubKey, pgp string, at time.Time) error
	SetAccountProfile(ctx context.Context, address, pgp string, accountURLs, trustedURLs []string, at time.Time) error
	// DeleteAccount deletes the account and the HMAC sessions of its
	// principal.
	DeleteAccount(ctx context.Context, address, principalID string) error
	// Rate counts one more feedback on the account, positive or not.
	Rate(ctx context.Context, address string, positive bool) error
	// UseSigned remembers a Bitcoin-signed request by its hash until
	// keepUntil (zero: for ever), forgetting those kept until before now;
	// false if it was seen already.
	UseSigned(ctx context.Context, hash string, now, keepUntil time.Time) (fresh bool, err error)

	AddSession(ctx context.Context, id, principalID string, sealed []byte, at time.Time) error
	// Session returns the principal and the sealed secret of an HMAC session.
	Session(ctx context.Context, id string) (principalID string, sealed []byte, err error)
	// UseNonce remembers that session used nonce at now, forgetting nonces
	// seen before forgetBefore; false if it was used already.
	UseNonce(ctx context.Context, session string, nonce int64, now, forgetBefore time.Time) (fresh bool, err error)

	// AddDeal stores a new deal; false if a deal with its id exists.
	AddDeal(ctx context.Context, d Deal) (added bool, err error)
	Deal(ctx context.Context, id string) (Deal, error)
	DealByAddress(ctx context.Context, address string) (Deal, error)
	// MoveDeal changes the state of deal id if it is one of m.From; if not,
	// it returns false and the state the deal is in.
	MoveDeal(ctx context.Context, id string, m Move) (moved bool, state string, err error)
	// SetFeedback records the customer's feedback on a deal in one of the
	// states from that has none yet; false if there is one or the state is
	// another.
	SetFeedback(ctx context.Context, id, status, comments string, at time.Time, from []string) (bool, error)
	AddEvent(ctx context.Context, e Event) error
	// SetSpend records the release or refund PSBT of a deal that has none.
	SetSpend(ctx context.Context, id, kind, psbt string) error
	// UndoSpend puts a deal whose spend txid failed to broadcast back in
	// state, without the txid.
	UndoSpend(ctx context.Context, id, state, txid string) error
	// CountDeals counts the deals in one of states where address is the
	// seller or the customer.
	CountDeals(ctx context.Context, address string, states []string) (int, error)
	// Unspent lists the ids of the deals in one of states whose escrow was
	// not spent.
	Unspent(ctx context.Context, states []string) ([]string, error)
	// RecentDeals lists the newest deals, at most limit, with their id,
	// state, type, parties, sum, file and times.
	RecentDeals(ctx context.Context, limit int) ([]Deal, error)
	// CountByState counts the deals of each state that has any.
	CountByState(ctx context.Context) (map[string]int64, error)

	// SeePayments records outs as what pays the deal's escrow now: others
	// seen before are gone, new ones are late or not.
	SeePayments(ctx context.Context, dealID string, outs []btc.Output, late bool, at time.Time) error
	// Payments lists what pays the deal's escrow and is not gone, in the
	// order first seen.
	Payments(ctx context.Context, dealID string) ([]Payment, error)
}

// ErrAccountExists is AddAccount's answer for an account that exists.
var ErrAccountExists = errors.New("deals: the account exists already")

// Event is a deal's transition, kept for the record.
type Event struct {
	DealID    string
	At        time.Time
	Action    string
	Principal string
	Detail    string
}

// Move is a change of a deal's state.
type Move struct {
	From []string
	To   string
	At   time.Time // the deal's new updated time
	// TxID, when not nil, is the deal's payment txid from now on ("": none).
	TxID *string
	// SpendTxID, when not "", is the txid of the deal's release or refund.
	SpendTxID string
}

// Payment is an output paying a deal's escrow, as the Bitcoin node last saw
// it.
type Payment struct {
	btc.Output
	Late bool // first seen after payment.until: refused as a payment of the deal
}
