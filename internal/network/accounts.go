package network

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
)

// Accounts span the network: every node pulls the signed account events
// (principals, tokens, revocations, passwords) of every live peer each
// AccountsEvery, and serves its own and those it relays. A pull carries only
// what the puller lacks, so a revocation reaches every live node within an
// interval or two. The events prove their origin themselves (auth.Event), so
// a relay cannot forge one; see auth's replicate.go for what is applied.

// Accounts is the node's principals and tokens as the network replicates them.
type Accounts interface {
	Heads(ctx context.Context) (map[string]int64, error)
	Since(ctx context.Context, heads map[string]int64) ([]auth.Event, error)
	Apply(ctx context.Context, events []auth.Event) (int, error)
}

const accountsPath = Prefix + "accounts/events"

// serveAccounts answers a peer's heads with the events past them.
func (n *Network) serveAccounts(w http.ResponseWriter, r *http.Request) error {
	var heads map[string]int64
	if err := json.NewDecoder(io.LimitReader(r.Body, MaxBody)).Decode(&heads); err != nil {
		return apierr.BadRequest("bad_heads", "want a JSON object of origin node id to sequence number: %v", err)
	}
	events, err := n.accounts.Since(r.Context(), heads)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(events)
}

// SyncAccounts pulls from every live peer the account events this node
// lacks and applies them. A peer that sends a forged or malformed event is
// logged and skipped: its events are not trusted.
func (n *Network) SyncAccounts(ctx context.Context) {
	for _, m := range n.Alive() {
		if m.Self {
			continue
		}
		for { // more than one answer's worth
			heads, err := n.accounts.Heads(ctx)
			if err != nil {
				n.log.Error("account sync: read heads", "err", err)
				return
			}
			var events []auth.Event
			if err := n.call(ctx, m, http.MethodPost, accountsPath, heads, &events); err != nil {
				if ctx.Err() == nil {
					n.log.Debug("account sync: pull failed", "peer", m.ID, "err", err)
				}
				break
			}
			applied, err := n.accounts.Apply(ctx, events)
			if err != nil {
				n.log.Warn("account sync: refused events from a peer", "peer", m.ID, "err", err)
				break
			}
			if applied > 0 {
				n.log.Debug("account sync: applied events", "peer", m.ID, "count", applied)
			}
			if len(events) < auth.MaxEvents || applied == 0 {
				break
			}
		}
	}
}
