package network

// A price is confirmed by peers before the node quotes it: each peer
// recomputes the price from the file's size, content hash and duration under
// its own price schedule and, if it agrees, signs the quote with its node
// key. A quote stands only with Confirmations such signatures.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/merkle"
	"github.com/prometheus-dds/dds/internal/money"
)

// Quote is what a peer is asked to confirm, and what it signs.
type Quote struct {
	FileID      string    `json:"file_id"`
	ContentHash string    `json:"content_hash"`
	MerkleRoot  string    `json:"merkle_root,omitempty"` // hex root over merkle.LeafSize leaves
	Size        int64     `json:"size"`
	Duration    int64     `json:"duration"` // seconds
	Price       string    `json:"price"`    // exact decimal tokens
	Schedule    string    `json:"schedule"` // the price schedule's version
	ExpiresAt   time.Time `json:"expires_at"`
}

// Digest is the hash a confirming node signs. A quote with a Merkle root
// signs it too (v2); quotes made before roots existed keep their v1 digest,
// so their signatures still verify.
func (q Quote) Digest() []byte {
	fields := []string{"dds-quote-v1", q.FileID, q.ContentHash,
		strconv.FormatInt(q.Size, 10), strconv.FormatInt(q.Duration, 10), q.Price, q.Schedule,
		q.ExpiresAt.UTC().Format(time.RFC3339)}
	if q.MerkleRoot != "" {
		fields[0] = "dds-quote-v2"
		fields = append(fields, q.MerkleRoot, strconv.Itoa(merkle.LeafSize))
	}
	return identity.Keccak256([]byte(strings.Join(fields, "\n")))
}

// Signature is one peer's confirmation.
type Signature struct {
	Node      string `json:"node"` // the signer's address
	URL       string `json:"url,omitempty"`
	Signature string `json:"signature"` // 0x r||s||v over Quote.Digest()
}

// Record is what the node keeps with a quote and shows in file info.
type Record struct {
	Quote      Quote       `json:"quote"`
	Signatures []Signature `json:"signatures"`
}

// Verify checks that every signature recovers to the node it names and that
// there are at least n distinct signers.
func (r Record) Verify(n int) error {
	seen := map[string]bool{}
	d := r.Quote.Digest()
	for _, s := range r.Signatures {
		sig, err := hex.DecodeString(strings.TrimPrefix(s.Signature, "0x"))
		if err != nil {
			return fmt.Errorf("signature of %s is not hex", s.Node)
		}
		addr, err := identity.Recover(d, sig)
		if err != nil || !strings.EqualFold(addr, s.Node) {
			return fmt.Errorf("signature of %s does not verify", s.Node)
		}
		seen[strings.ToLower(s.Node)] = true
	}
	if len(seen) < n {
		return fmt.Errorf("%d distinct signers, %d needed", len(seen), n)
	}
	return nil
}

// Confirm gets a price confirmed and signed by Confirmations peers, asked in
// the rendezvous order of the file. It returns the Record to keep with the
// quote.
func (n *Network) Confirm(ctx context.Context, c ledger.Confirmation) (json.RawMessage, error) {
	q := Quote{FileID: c.FileID, ContentHash: c.Hash, MerkleRoot: c.MerkleRoot, Size: c.Size, Duration: int64(c.Duration / time.Second),
		Price: c.Price.String(), Schedule: n.ledger.Version(), ExpiresAt: c.ExpiresAt}
	rec := Record{Quote: q, Signatures: []Signature{}}
	need := n.cfg.Confirmations
	if need == 0 || n.Standalone() {
		return json.Marshal(rec)
	}
	candidates := n.Peers(c.FileID)
	var (
		mu      sync.Mutex
		reasons []string
	)
	next := 0
	for len(rec.Signatures) < need && next < len(candidates) {
		// Ask as many of the next candidates, in rank order, as are missing.
		batch := candidates[next:min(next+need-len(rec.Signatures), len(candidates))]
		next += len(batch)
		var wg sync.WaitGroup
		for _, m := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sig, err := n.ask(ctx, m, q)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					reasons = append(reasons, err.Error())
					return
				}
				rec.Signatures = append(rec.Signatures, sig)
			}()
		}
		wg.Wait()
	}
	if len(candidates) < need {
		reasons = append(reasons, fmt.Sprintf("this node knows only %d live peers", len(candidates)))
	}
	if len(rec.Signatures) < need {
		n.log.Warn("price not confirmed", "file", c.FileID, "have", len(rec.Signatures), "need", need, "reasons", reasons)
		return nil, apierr.New(http.StatusServiceUnavailable, "confirmation_unavailable",
			"the price needs confirmation by %d peers but only %d of %d live peers confirmed (%s); retry later, or run the node with fewer --confirmations",
			need, len(rec.Signatures), len(candidates), strings.Join(reasons, "; "))
	}
	return json.Marshal(rec)
}

func (n *Network) ask(ctx context.Context, m Member, q Quote) (Signature, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var sig Signature
	if err := n.call(ctx, m, http.MethodPost, Prefix+"confirm", q, &sig); err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return Signature{}, fmt.Errorf("%s refused: %s", m.ID, re.Detail)
		}
		return Signature{}, fmt.Errorf("%s unreachable", m.ID)
	}
	rec := Record{Quote: q, Signatures: []Signature{sig}}
	if sig.Node != m.ID || rec.Verify(1) != nil {
		return Signature{}, fmt.Errorf("%s sent an invalid signature", m.ID)
	}
	sig.URL = m.URL
	return sig, nil
}

// confirmFor is the peer side (POST /internal/v1/confirm): it signs a quote
// that this node prices alike.
func (n *Network) confirmFor(w http.ResponseWriter, r *http.Request) error {
	sig, err := n.sign(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sig)
	return nil
}

func (n *Network) sign(r *http.Request) (Signature, error) {
	var q Quote
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		return Signature{}, apierr.BadRequest("bad_quote", "quote is not valid JSON: %v", err)
	}
	if mine := n.ledger.Version(); q.Schedule != mine {
		return Signature{}, apierr.Conflict("schedule_mismatch", "this node prices with schedule %s, the quote uses %s", mine, q.Schedule)
	}
	if q.Size < 0 || q.Duration <= 0 || q.FileID == "" || len(q.ContentHash) != 64 {
		return Signature{}, apierr.BadRequest("bad_quote", "quote lacks a file id, content hash, size or duration")
	}
	if q.MerkleRoot != "" && !isHex32(q.MerkleRoot) {
		return Signature{}, apierr.BadRequest("bad_quote", "merkle_root must be 64 hex digits")
	}
	price, err := n.ledger.Price(q.Size, time.Duration(q.Duration)*time.Second)
	if err != nil {
		return Signature{}, err
	}
	if asked, err := money.Parse(q.Price); err != nil || asked != price {
		return Signature{}, apierr.Conflict("price_mismatch", "this node computes %s tokens, the quote says %s", price, q.Price)
	}
	now := n.clock.Now()
	if !q.ExpiresAt.After(now) || q.ExpiresAt.After(now.Add(n.ledger.QuoteTTL()+time.Minute)) {
		return Signature{}, apierr.Conflict("bad_expiry", "quote expiry %s is outside this node's quote TTL", q.ExpiresAt.Format(time.RFC3339))
	}
	raw, err := n.key.SignHash(q.Digest())
	if err != nil {
		return Signature{}, err
	}
	n.log.Debug("confirmed a quote", "for", sender(r.Context()), "file", q.FileID, "price", q.Price)
	return Signature{Node: n.key.ID(), Signature: "0x" + hex.EncodeToString(raw)}, nil
}

// isHex32 tells whether s is 32 bytes in lower-case hex.
func isHex32(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
