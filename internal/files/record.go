// The record of a file: what travels with every copy, and how two versions of
// it merge.

package files

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/money"
)

// File states (this node's view: whether it keeps the content).
const (
	StatePending   = "pending"   // uploaded, quoted, not paid
	StateStored    = "stored"    // paid, kept until Expires
	StateExpired   = "expired"   // its term ended; content deleted
	StateAbandoned = "abandoned" // its quote expired unpaid; content deleted
	StateCancelled = "cancelled" // its owner cancelled it before paying; content deleted
	StateReleased  = "released"  // another node keeps the copy; this one keeps only the record
)

// Holder states.
const (
	HolderPending = "pending" // chosen, not confirmed stored yet
	HolderStored  = "stored"
	HolderLost    = "lost" // gone longer than the repair delay: its share is cut at Since
)

// Holder is one node keeping a copy of a file.
type Holder struct {
	Node    string    `json:"node"`
	Share   int       `json:"share"`    // which of the R shares of each payment it earns
	State   string    `json:"state"`    // HolderPending, HolderStored or HolderLost
	Taken   time.Time `json:"taken_at"` // when it took the share
	Since   time.Time `json:"since"`    // when it entered State (for lost: where its share is cut)
	Updated time.Time `json:"updated_at"`
}

var holderRank = map[string]int{HolderPending: 0, HolderStored: 1, HolderLost: 2}

// newer tells whether h supersedes o: newest update, then the later state.
func (h Holder) newer(o Holder) bool {
	if !h.Updated.Equal(o.Updated) {
		return h.Updated.After(o.Updated)
	}
	return holderRank[h.State] > holderRank[o.State]
}

// Payment is a payment applied to the file: the term its quote bought.
type Payment struct {
	ID       string       `json:"id"`       // the payment that completed the quote
	QuoteID  string       `json:"quote_id"` // the quote it paid
	Amount   money.Amount `json:"amount"`   // base units paid for the quote
	Price    money.Amount `json:"price"`    // the quote's price
	Start    time.Time    `json:"start"`
	End      time.Time    `json:"end"`
	Replicas int          `json:"replicas"` // shares the price is split into
}

// File is a file's record.
type File struct {
	ID            string          `json:"id"`
	Owner         string          `json:"owner"` // principal id
	Name          string          `json:"name"`
	Size          int64           `json:"size"`
	Hash          string          `json:"content_hash"` // hex SHA-256 of the content
	MerkleRoot    string          `json:"merkle_root"`
	State         string          `json:"state"`                   // this node's; not merged
	Term          time.Duration   `json:"term"`                    // paid term so far
	Price         money.Amount    `json:"-"`                       // sum of the paid quotes' prices
	Confirmations json.RawMessage `json:"confirmations,omitempty"` // of the latest paid quote, verbatim
	Additional    json.RawMessage `json:"additional"`
	AdditionalAt  time.Time       `json:"additional_at"` // name and additional: last writer wins by (at, by)
	AdditionalBy  string          `json:"additional_by"`
	Created       time.Time       `json:"created"`
	StoredAt      time.Time       `json:"stored_at"`
	Expires       time.Time       `json:"expires_at"`
	Payments      []Payment       `json:"payments"`
	Holders       []Holder        `json:"holders"`
	Rev           int64           `json:"-"` // this node's revision of the record: every write bumps it
}

// Holder returns the entry of a node.
func (f File) Holder(node string) (Holder, bool) {
	for _, h := range f.Holders {
		if h.Node == node {
			return h, true
		}
	}
	return Holder{}, false
}

// SetHolder adds or replaces a node's entry.
func (f *File) SetHolder(h Holder) {
	for i := range f.Holders {
		if f.Holders[i].Node == h.Node {
			f.Holders[i] = h
			return
		}
	}
	f.Holders = append(f.Holders, h)
}

// Merge combines two versions of a file's record; the result does not
// depend on the order versions meet in: the term and expiry only grow,
// payments are a set by payment id, name and additional attributes are the
// last writer's by (time, node), holders are each node's newest entry. The
// state stays a's (it is a node's own).
func Merge(a, b File) File {
	if a.ID == "" {
		a.ID = b.ID
	}
	a.Owner = cmpOr(a.Owner, b.Owner)
	a.Hash = cmpOr(a.Hash, b.Hash)
	a.MerkleRoot = cmpOr(a.MerkleRoot, b.MerkleRoot)
	if a.Size == 0 {
		a.Size = b.Size
	}
	if a.Created.IsZero() || (!b.Created.IsZero() && b.Created.Before(a.Created)) {
		a.Created = b.Created
	}
	if a.StoredAt.IsZero() || (!b.StoredAt.IsZero() && b.StoredAt.Before(a.StoredAt)) {
		a.StoredAt = b.StoredAt
	}
	if b.Expires.After(a.Expires) || (b.Expires.Equal(a.Expires) && len(a.Confirmations) == 0) {
		if len(b.Confirmations) > 0 {
			a.Confirmations = b.Confirmations
		}
	}
	if b.Expires.After(a.Expires) {
		a.Expires = b.Expires
	}
	a.Term = max(a.Term, b.Term)
	if b.AdditionalAt.After(a.AdditionalAt) || (b.AdditionalAt.Equal(a.AdditionalAt) && b.AdditionalBy > a.AdditionalBy) || a.Name == "" {
		a.Name, a.Additional, a.AdditionalAt, a.AdditionalBy = b.Name, b.Additional, b.AdditionalAt, b.AdditionalBy
	}
	pays := map[string]Payment{}
	for _, p := range slices.Concat(a.Payments, b.Payments) {
		if cur, ok := pays[p.ID]; ok {
			p.Replicas = max(p.Replicas, cur.Replicas)
		}
		pays[p.ID] = p
	}
	a.Payments = a.Payments[:0:0]
	a.Price = 0
	for _, p := range pays {
		a.Payments = append(a.Payments, p)
		a.Price += p.Price
	}
	slices.SortFunc(a.Payments, func(x, y Payment) int { return cmpTimes(x.Start, y.Start, x.ID, y.ID) })
	hs := slices.Clone(a.Holders)
	for _, h := range b.Holders {
		i := slices.IndexFunc(hs, func(x Holder) bool { return x.Node == h.Node })
		switch {
		case i < 0:
			hs = append(hs, h)
		case h.newer(hs[i]):
			hs[i] = h
		}
	}
	slices.SortFunc(hs, func(x, y Holder) int { return strings.Compare(x.Node, y.Node) })
	a.Holders = hs
	return a
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpTimes(a, b time.Time, ai, bi string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(ai, bi)
}

// FreeShare is the lowest share no holder keeps (lost ones gave theirs up).
func (f File) FreeShare() int {
	for s := 0; ; s++ {
		if !slices.ContainsFunc(f.Holders, func(h Holder) bool { return h.Share == s && h.State != HolderLost }) {
			return s
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
