package api

import (
	"encoding/json"
	"time"

	"github.com/prometheus-dds/dds/internal/money"
)

// The wire types of the DDS and Billing faces (specs/dds-billing-api.md).

// Quote is a price offered for a term (a file's meta.quote).
type Quote struct {
	ID            string          `json:"id"`
	Kind          string          `json:"kind"`
	Price         string          `json:"price"`
	Paid          string          `json:"paid"`
	Duration      int64           `json:"duration"`
	ExpiresAt     time.Time       `json:"expires_at"`
	Confirmations json.RawMessage `json:"confirmations"`
}

// File is a file's attributes. With a quote, price and duration are the
// quote's (the duration being the total term asked for); otherwise the paid
// ones.
type File struct {
	Name        string          `json:"name"`
	Price       float64         `json:"price"`
	PriceExact  string          `json:"price_exact"`
	Duration    int64           `json:"duration"`
	Additional  json.RawMessage `json:"additional"`
	State       string          `json:"state"`
	Size        int64           `json:"size"`
	ContentHash string          `json:"content_hash"`
	MerkleRoot  string          `json:"merkle_root,omitempty"` // of the content, as the confirming peers signed it
	CreatedAt   time.Time       `json:"created_at"`
	StoredAt    *time.Time      `json:"stored_at,omitempty"`
	ExpiresAt   *time.Time      `json:"expires_at,omitempty"`
}

// Amount is the file's price as exact base units.
func (f *File) Amount() money.Amount {
	a, _ := money.Parse(f.PriceExact)
	return a
}

// PaymentRequest is a payment as the payment processor reports it.
type PaymentRequest struct {
	FileID         string
	Status         string // success | error
	Amount         string // decimal tokens, exact ("1.5")
	IdempotencyKey string
	Extra          map[string]any // more attributes
}

// Payment is a recorded payment's attributes.
type Payment struct {
	FileID      string         `json:"file_id"`
	Status      string         `json:"status"`
	Amount      float64        `json:"amount"`
	AmountExact string         `json:"amount_exact"`
	QuoteID     string         `json:"quote_id"`
	Applied     bool           `json:"applied"`
	CreatedAt   time.Time      `json:"created_at"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// Statement is what a node is owed for a period.
type Statement struct {
	Amount      float64   `json:"amount"`
	AmountExact string    `json:"amount_exact"`
	Size        int64     `json:"size"`
	Files       int       `json:"files"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
}

// PaymentQuote is where a payment's quote stands (meta.quote of a payment).
type PaymentQuote struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`  // upload or extension
	Price string `json:"price"` // exact decimal tokens
	Paid  string `json:"paid"`  // paid so far
	State string `json:"state"` // open, paid or expired
}
