package auth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// EventsPath is the node-to-node route that serves a node's account events.
const EventsPath = "/internal/v1/accounts/events"

// Peers is the network as the account sync needs it.
type Peers interface {
	// Alive lists the ids of the live members, this node excepted.
	Alive() []string
	// Call makes a signed node-to-node request and decodes the answer.
	Call(ctx context.Context, peer, method, path string, in, out any) error
	// Handle serves a route that only members may call, with signed requests.
	Handle(mux *http.ServeMux, pattern string, h http.HandlerFunc)
}

// Sync keeps this node's accounts in step with the network's: it pulls the
// account events of every live peer each interval. A pull is small (the
// events past this node's heads), so a revocation reaches every live node
// within an interval or two.
type Sync struct {
	accounts *Service
	peers    Peers
	every    time.Duration
	log      *slog.Logger
}

// SyncConfig is how often the sync pulls.
type SyncConfig struct {
	Every time.Duration // default 1s
}

// SyncDeps are what the sync uses.
type SyncDeps struct {
	Accounts *Service
	Peers    Peers
	Log      *slog.Logger
}

// NewSync returns the account sync of a node.
func NewSync(cfg SyncConfig, deps SyncDeps) *Sync {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	return &Sync{accounts: deps.Accounts, peers: deps.Peers, every: cfg.Every, log: deps.Log}
}

// Routes serves this node's events to its peers.
func (s *Sync) Routes(mux *http.ServeMux) {
	s.peers.Handle(mux, "POST "+EventsPath, s.serve)
}

func (s *Sync) serve(w http.ResponseWriter, r *http.Request) {
	var heads map[string]int64
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&heads); err != nil {
		http.Error(w, "want a JSON object of origin: seq", http.StatusBadRequest)
		return
	}
	events, err := s.accounts.Since(r.Context(), heads)
	if err != nil {
		s.log.Error("serve account events", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(events)
}

// Run pulls from every live peer each interval until ctx ends.
func (s *Sync) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Pull(ctx)
	}
}

// Pull asks each live peer for the events this node lacks and applies them.
// A peer that answers with a forged or malformed event is logged and skipped.
func (s *Sync) Pull(ctx context.Context) {
	for _, peer := range s.peers.Alive() {
		for { // a peer may have more than one answer's worth
			heads, err := s.accounts.Heads(ctx)
			if err != nil {
				s.log.Error("account sync: read heads", "err", err)
				return
			}
			var events []Event
			if err := s.peers.Call(ctx, peer, http.MethodPost, EventsPath, heads, &events); err != nil {
				if ctx.Err() == nil {
					s.log.Debug("account sync: pull failed", "peer", peer, "err", err)
				}
				break
			}
			n, err := s.accounts.Apply(ctx, events)
			if err != nil {
				s.log.Warn("account sync: refused events from a peer", "peer", peer, "err", err)
				break
			}
			if n > 0 {
				s.log.Debug("account sync: applied events", "peer", peer, "count", n)
			}
			if len(events) < MaxEvents || n == 0 {
				break
			}
		}
	}
}
