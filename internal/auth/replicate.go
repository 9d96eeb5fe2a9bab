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

// nextTokenSeq numbers a new token after the others.
const nextTokenSeq = `(SELECT COALESCE(MAX(seq),0)+1 FROM tokens)`

// record appends an event made on this node, in the transaction that makes
// the change. Without a signer (a node's accounts opened for a tool that has
// no key) nothing is logged, so nothing is replicated.
func (s *Service) record(tx *store.Tx, e Event) error {
	if s.signer == nil {
		return nil
	}
	e.Origin = s.signer.ID()
	if err := tx.QueryRow(`SELECT COALESCE(MAX(seq),0)+1 FROM account_events WHERE origin=?`, e.Origin).Scan(&e.Seq); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = s.clock.Now().UTC()
	}
	sig, err := s.signer.SignHash(e.Digest())
	if err != nil {
		return err
	}
	e.Signature = "0x" + hex.EncodeToString(sig)
	return insertEvent(tx, e)
}

func insertEvent(tx *store.Tx, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO account_events(origin,seq,body) VALUES(?,?,?)`, e.Origin, e.Seq, string(body))
	return err
}

// Heads is how far this node's copy of each origin's log goes.
func (s *Service) Heads(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT origin, MAX(seq) FROM account_events GROUP BY origin`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	heads := map[string]int64{}
	for rows.Next() {
		var o string
		var n int64
		if err := rows.Scan(&o, &n); err != nil {
			return nil, err
		}
		heads[o] = n
	}
	return heads, rows.Err()
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
		rows, err := s.db.QueryContext(ctx, `SELECT body FROM account_events WHERE origin=? AND seq>? ORDER BY seq LIMIT ?`,
			origin, heads[origin], MaxEvents-len(out))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var body string
			var e Event
			if err := rows.Scan(&body); err != nil {
				rows.Close()
				return nil, err
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				rows.Close()
				return nil, fmt.Errorf("auth: stored account event of %s: %w", origin, err)
			}
			out = append(out, e)
		}
		rows.Close()
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
	done := true
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var head int64
		if err := tx.QueryRow(`SELECT COALESCE(MAX(seq),0) FROM account_events WHERE origin=?`, e.Origin).Scan(&head); err != nil {
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
			var role string
			err := tx.QueryRow(`SELECT role FROM principals WHERE id=?`, e.Principal).Scan(&role)
			if errors.Is(store.NotFound(err), store.ErrNotFound) {
				done = false
				return nil
			} else if err != nil {
				return err
			}
			if Role(role) == RoleAdmin {
				return fmt.Errorf("account event %s/%d: touches an admin principal", e.Origin, e.Seq)
			}
		}
		if err := applyChange(tx, e); err != nil {
			return fmt.Errorf("account event %s/%d: %w", e.Origin, e.Seq, err)
		}
		return insertEvent(tx, e)
	})
	return done, err
}

// applyChange makes the change an event describes. Each is idempotent.
func applyChange(tx *store.Tx, e Event) error {
	switch e.Kind {
	case EventPrincipal:
		if _, err := ParseRole(string(e.Role)); err != nil || !nameRE.MatchString(e.Name) {
			return fmt.Errorf("bad principal %q (%s)", e.Name, e.Role)
		}
		name := e.Name
		var taken int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM principals WHERE name=? AND id<>?`, name, e.Principal).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			// Two nodes gave the same name to two principals at once: the
			// one learnt later keeps its id and gets a name of its own here.
			name = e.Name + "~" + e.Principal[:min(8, len(e.Principal))]
		}
		_, err := tx.Exec(`INSERT INTO principals(id,name,role,created_at) VALUES(?,?,?,?) ON CONFLICT(id) DO NOTHING`,
			e.Principal, name, string(e.Role), store.Time(e.Time))
		return err
	case EventToken:
		var revoked int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM revoked_tokens WHERE hash=?`, e.Token).Scan(&revoked); err != nil || revoked > 0 {
			return err
		}
		_, err := tx.Exec(`INSERT INTO tokens(hash,principal_id,label,sealed,created_at,seq) VALUES(?,?,?,?,?,`+nextTokenSeq+`) ON CONFLICT(hash) DO NOTHING`,
			e.Token, e.Principal, e.Label, []byte{}, store.Time(e.Time))
		return err
	case EventRevoke:
		return revokeHash(tx, e.Token, e.Time)
	case EventPassword:
		_, err := tx.Exec(`UPDATE principals SET password_hash=? WHERE id=?`, e.Password, e.Principal)
		return err
	case EventClearPassword:
		_, err := tx.Exec(`UPDATE principals SET password_hash=NULL WHERE id=?`, e.Principal)
		return err
	}
	return fmt.Errorf("unknown kind %q", e.Kind)
}

func revokeHash(tx *store.Tx, hash string, at time.Time) error {
	if _, err := tx.Exec(`DELETE FROM tokens WHERE hash=?`, hash); err != nil {
		return err
	}
	_, err := tx.Exec(`INSERT INTO revoked_tokens(hash,revoked_at) VALUES(?,?) ON CONFLICT(hash) DO NOTHING`, hash, store.Time(at))
	return err
}

// backfill logs the principals that existed before accounts were replicated
// (a data directory written by an earlier version), once.
func (s *Service) backfill(ctx context.Context) error {
	if s.signer == nil {
		return nil
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var logged int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM account_events WHERE origin=?`, s.signer.ID()).Scan(&logged); err != nil || logged > 0 {
			return err
		}
		type tok struct{ hash, principal, label, created string }
		var events []Event
		rows, err := tx.Query(`SELECT id,name,role,COALESCE(password_hash,''),created_at FROM principals WHERE role<>? ORDER BY created_at, id`, string(RoleAdmin))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, name, role, pw, created string
			if err := rows.Scan(&id, &name, &role, &pw, &created); err != nil {
				rows.Close()
				return err
			}
			events = append(events, Event{Kind: EventPrincipal, Principal: id, Name: name, Role: Role(role), Time: store.ParseTime(created)})
			if pw != "" {
				events = append(events, Event{Kind: EventPassword, Principal: id, Password: pw, Time: store.ParseTime(created)})
			}
		}
		rows.Close()
		rows, err = tx.Query(`SELECT t.hash,t.principal_id,t.label,t.created_at FROM tokens t JOIN principals p ON p.id=t.principal_id WHERE p.role<>? ORDER BY t.created_at, t.seq`, string(RoleAdmin))
		if err != nil {
			return err
		}
		for rows.Next() {
			var t tok
			if err := rows.Scan(&t.hash, &t.principal, &t.label, &t.created); err != nil {
				rows.Close()
				return err
			}
			events = append(events, Event{Kind: EventToken, Principal: t.principal, Token: t.hash, Label: t.label, Time: store.ParseTime(t.created)})
		}
		rows.Close()
		for _, e := range events {
			if err := s.record(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}
