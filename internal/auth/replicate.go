package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/store"
)

// Accounts span the network. Every change to a user or payment principal
// (created, token issued, token revoked, password set or cleared) is an event
// in an append-only log, numbered per node that made it (its origin) and
// signed with that node's key. Nodes pull each other's logs (Since, Apply),
// so every node learns every event, also through a third node: a signature
// proves the origin, whoever relays it. Admin principals are never logged:
// each operator administers only its own node.
//
// Trust: a node applies the events of any member of its network, because
// membership already decides who may confirm prices and hold copies. Events
// of one origin are applied in order, each exactly once.

// Event kinds.
const (
	EventPrincipal     = "principal"      // a principal was created
	EventToken         = "token"          // a token was issued
	EventRevoke        = "revoke"         // a token was revoked
	EventPassword      = "password"       // a password was set (argon2id hash)
	EventClearPassword = "clear-password" // a password was removed
)

// Event is one change to the accounts, as signed by its origin node.
type Event struct {
	Origin    string    `json:"origin"` // id of the node that made the change
	Seq       int64     `json:"seq"`    // 1, 2, ... per origin
	Kind      string    `json:"kind"`
	Principal string    `json:"principal"`
	Name      string    `json:"name,omitempty"`       // principal
	Role      Role      `json:"role,omitempty"`       // principal
	Token     string    `json:"token_hash,omitempty"` // token, revoke: hex SHA-256 of the token
	Label     string    `json:"label,omitempty"`      // token
	Password  string    `json:"password,omitempty"`   // password: the argon2id hash, never the password
	Time      time.Time `json:"time"`
	Signature string    `json:"signature,omitempty"` // 0x r||s||v over Digest
}

// Digest is what the origin signs: the event without its signature.
func (e Event) Digest() []byte {
	e.Signature = ""
	b, _ := json.Marshal(e)
	return identity.Keccak256([]byte("dds-account-event-v1\n"), b)
}

// Verify checks that the event is signed by its origin.
func (e Event) Verify() error {
	sig, err := hex.DecodeString(strings.TrimPrefix(e.Signature, "0x"))
	if err != nil {
		return fmt.Errorf("account event %s/%d: signature is not hex", e.Origin, e.Seq)
	}
	addr, err := identity.Recover(e.Digest(), sig)
	if err != nil {
		return fmt.Errorf("account event %s/%d: %w", e.Origin, e.Seq, err)
	}
	if !strings.EqualFold(addr, e.Origin) {
		return fmt.Errorf("account event %s/%d is signed by %s, not its origin", e.Origin, e.Seq, addr)
	}
	return nil
}

// Signer signs account events made on this node: the node key.
type Signer interface {
	ID() string
	SignHash(hash []byte) ([]byte, error)
}

// record appends an event made on this node, in the transaction (ctx) that
// makes the change. Without a signer (a node's accounts opened for a tool
// that has no key) nothing is logged, so nothing is replicated.
func (s *Service) record(ctx context.Context, e Event) error {
	if s.signer == nil {
		return nil
	}
	e.Origin = s.signer.ID()
	head, err := s.store.EventHead(ctx, e.Origin)
	if err != nil {
		return err
	}
	e.Seq = head + 1
	if e.Time.IsZero() {
		e.Time = s.clock.Now().UTC()
	}
	sig, err := s.signer.SignHash(e.Digest())
	if err != nil {
		return err
	}
	e.Signature = "0x" + hex.EncodeToString(sig)
	return s.store.AddEvent(ctx, e)
}

// Heads is how far this node's copy of each origin's log goes.
func (s *Service) Heads(ctx context.Context) (map[string]int64, error) {
	return s.store.Heads(ctx)
}

// MaxEvents bounds one answer of Since; the puller asks again for more.
const MaxEvents = 500

// Since returns the events this node has that are past heads (a puller's
// Heads), oldest first per origin, at most MaxEvents.
func (s *Service) Since(ctx context.Context, heads map[string]int64) ([]Event, error) {
	mine, err := s.Heads(ctx)
	if err != nil {
		return nil, err
	}
	var out []Event
	for origin, head := range mine {
		if head <= heads[origin] {
			continue
		}
		events, err := s.store.Events(ctx, origin, heads[origin], MaxEvents-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, events...)
		if len(out) >= MaxEvents {
			break
		}
	}
	return out, nil
}

// Apply verifies and applies events pulled from a peer. Events this node has
// already are skipped; an event whose principal is not known yet waits for a
// later pull. It returns how many events were applied.
func (s *Service) Apply(ctx context.Context, events []Event) (int, error) {
	applied := 0
	pending := events
	for len(pending) > 0 {
		var later []Event
		for _, e := range pending {
			ok, err := s.apply(ctx, e)
			if err != nil {
				return applied, err
			}
			if ok {
				applied++
			} else {
				later = append(later, e)
			}
		}
		if len(later) == len(pending) {
			break // no progress: the rest waits for events this node does not have yet
		}
		pending = later
	}
	return applied, nil
}

// apply applies one event; false means it must wait (an earlier event of its
// origin, or its principal, is missing).
func (s *Service) apply(ctx context.Context, e Event) (bool, error) {
	if err := e.Verify(); err != nil {
		return false, err
	}
	if s.signer != nil && strings.EqualFold(e.Origin, s.signer.ID()) {
		return true, nil // our own, relayed back
	}
	if e.Role == RoleAdmin {
		return false, fmt.Errorf("account event %s/%d: admin principals are never replicated", e.Origin, e.Seq)
	}
	var done bool
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		done = true // set again: the transaction may run more than once
		head, err := s.store.EventHead(ctx, e.Origin)
		if err != nil {
			return err
		}
		switch {
		case e.Seq <= head:
			return nil // seen already
		case e.Seq > head+1:
			done = false
			return nil
		}
		if e.Kind != EventPrincipal {
			role, err := s.store.PrincipalRole(ctx, e.Principal)
			if errors.Is(err, ErrNoPrincipal) {
				done = false
				return nil
			} else if err != nil {
				return err
			}
			if role == RoleAdmin {
				return fmt.Errorf("account event %s/%d: touches an admin principal", e.Origin, e.Seq)
			}
		}
		if err := s.applyChange(ctx, e); err != nil {
			return fmt.Errorf("account event %s/%d: %w", e.Origin, e.Seq, err)
		}
		return s.store.AddEvent(ctx, e)
	})
	return done, err
}

// applyChange makes the change an event describes, in the transaction
// (ctx) that logs it. Each is idempotent.
func (s *Service) applyChange(ctx context.Context, e Event) error {
	switch e.Kind {
	case EventPrincipal:
		if _, err := ParseRole(string(e.Role)); err != nil || !nameRE.MatchString(e.Name) {
			return fmt.Errorf("bad principal %q (%s)", e.Name, e.Role)
		}
		p := Principal{ID: e.Principal, Name: e.Name, Role: e.Role, Created: e.Time}
		taken, err := s.store.NameTaken(ctx, p.Name, p.ID)
		if err != nil {
			return err
		}
		if taken {
			// Two nodes gave the same name to two principals at once: the
			// one learnt later keeps its id and gets a name of its own here.
			p.Name = e.Name + "~" + e.Principal[:min(8, len(e.Principal))]
		}
		return s.store.AddPrincipal(ctx, p)
	case EventToken:
		revoked, err := s.store.Revoked(ctx, e.Token)
		if err != nil || revoked {
			return err
		}
		return s.store.AddToken(ctx, StoredToken{Hash: e.Token, Principal: e.Principal, Label: e.Label, Sealed: []byte{}, Created: e.Time})
	case EventRevoke:
		store.AfterCommit(ctx, s.tokens.forget)
		return s.store.RevokeToken(ctx, e.Token, e.Time)
	case EventPassword:
		_, err := s.store.SetPasswordHash(ctx, e.Principal, e.Password)
		return err
	case EventClearPassword:
		_, err := s.store.SetPasswordHash(ctx, e.Principal, "")
		return err
	}
	return fmt.Errorf("unknown kind %q", e.Kind)
}

// backfill logs the principals that existed before accounts were replicated
// (a data directory written by an earlier version), once.
func (s *Service) backfill(ctx context.Context) error {
	if s.signer == nil {
		return nil
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if head, err := s.store.EventHead(ctx, s.signer.ID()); err != nil || head > 0 {
			return err
		}
		principals, err := s.store.Principals(ctx)
		if err != nil {
			return err
		}
		for _, p := range principals {
			if p.Role == RoleAdmin {
				continue
			}
			events := []Event{{Kind: EventPrincipal, Principal: p.ID, Name: p.Name, Role: p.Role, Time: p.Created}}
			_, pw, err := s.store.PasswordHash(ctx, p.Name)
			if err != nil {
				return err
			}
			if pw != "" {
				events = append(events, Event{Kind: EventPassword, Principal: p.ID, Password: pw, Time: p.Created})
			}
			toks, err := s.store.Tokens(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, t := range toks {
				events = append(events, Event{Kind: EventToken, Principal: p.ID, Token: t.Hash, Label: t.Label, Time: t.Created})
			}
			for _, e := range events {
				if err := s.record(ctx, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
