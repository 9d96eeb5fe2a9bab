package auth_test

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func openSigned(t *testing.T, dir string, secret byte, key *identity.Key) *auth.Service {
	t.Helper()
	db, err := store.OpenSchema(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sec := make([]byte, 32)
	sec[0] = secret
	deps := auth.Deps{Store: persist.NewAuth(db), Clock: clock.Real{}}
	if key != nil {
		deps.Signer = key
	}
	s, err := auth.New(context.Background(), auth.Config{Secret: sec}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, _, err := identity.LoadOrCreate(filepath.Join(t.TempDir(), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pull applies what from has that to lacks, as the network's sync does.
func pull(t *testing.T, to, from *auth.Service) int {
	t.Helper()
	ctx := context.Background()
	heads, err := to.Heads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events, err := from.Since(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	n, err := to.Apply(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAccountsReplicate(t *testing.T) {
	ctx := context.Background()
	a := openSigned(t, t.TempDir(), 1, newKey(t))
	b := openSigned(t, t.TempDir(), 2, newKey(t))
	c := openSigned(t, t.TempDir(), 3, newKey(t))

	alice, err := a.CreatePrincipal(ctx, "alice", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := a.IssueToken(ctx, alice.ID, "cli")
	if err := a.SetPassword(ctx, alice.ID, "correct horse"); err != nil {
		t.Fatal(err)
	}
	admin, _ := a.CreatePrincipal(ctx, "root", auth.RoleAdmin)
	adminTok, _ := a.IssueToken(ctx, admin.ID, "")

	// b learns from a; c learns a's events only through b (relayed, still signed by a).
	if n := pull(t, b, a); n != 3 {
		t.Fatalf("b applied %d events, want 3 (principal, token, password; no admin)", n)
	}
	if n := pull(t, c, b); n != 3 {
		t.Fatalf("c applied %d relayed events, want 3", n)
	}
	for i, s := range []*auth.Service{b, c} {
		p, err := s.Authenticate(ctx, tok)
		if err != nil || p.ID != alice.ID || p.Role != auth.RoleUser || p.Name != "alice" {
			t.Fatalf("node %d: token of alice: %+v %v", i+1, p, err)
		}
		if _, err := s.CheckPassword(ctx, "alice", "correct horse"); err != nil {
			t.Fatalf("node %d: password: %v", i+1, err)
		}
		if _, err := s.Authenticate(ctx, adminTok); !errors.Is(err, auth.ErrUnauthorized) {
			t.Fatalf("node %d: an admin token of another node works: %v", i+1, err)
		}
		if list, _ := s.Tokens(ctx, alice.ID); len(list) != 0 {
			t.Fatalf("node %d lists tokens it cannot unseal: %v", i+1, list)
		}
	}
	if n := pull(t, b, a); n != 0 {
		t.Fatalf("a second pull applied %d events", n)
	}

	// A token issued on c for alice, then revoked on b, is refused everywhere.
	tok2, err := c.IssueToken(ctx, alice.ID, "from c")
	if err != nil {
		t.Fatal(err)
	}
	pull(t, a, c)
	if _, err := a.Authenticate(ctx, tok2); err != nil {
		t.Fatalf("a refuses a token issued on c: %v", err)
	}
	pull(t, b, c)
	if err := b.Revoke(ctx, alice, tok2); err != nil {
		t.Fatal(err)
	}
	pull(t, a, b)
	pull(t, c, b)
	for i, s := range []*auth.Service{a, b, c} {
		if _, err := s.Authenticate(ctx, tok2); !errors.Is(err, auth.ErrUnauthorized) {
			t.Fatalf("node %d accepts a revoked token: %v", i, err)
		}
		if _, err := s.Authenticate(ctx, tok); err != nil {
			t.Fatalf("node %d: the other token went too: %v", i, err)
		}
	}
	// A node that learns the revocation before the issue never accepts it.
	d := openSigned(t, t.TempDir(), 4, newKey(t))
	heads, _ := d.Heads(ctx)
	events, _ := b.Since(ctx, heads)
	var reversed []auth.Event
	for i := len(events) - 1; i >= 0; i-- {
		reversed = append(reversed, events[i])
	}
	if _, err := d.Apply(ctx, reversed); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, tok2); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("late joiner accepts a revoked token: %v", err)
	}
	if _, err := d.Authenticate(ctx, tok); err != nil {
		t.Fatalf("late joiner refuses a live token: %v", err)
	}
}

func TestAccountEventsForgedRefused(t *testing.T) {
	ctx := context.Background()
	a := openSigned(t, t.TempDir(), 1, newKey(t))
	b := openSigned(t, t.TempDir(), 2, newKey(t))
	alice, _ := a.CreatePrincipal(ctx, "alice", auth.RoleUser)
	events, _ := a.Since(ctx, nil)

	forged := events[0]
	forged.Role = auth.RoleAdmin // a relay tries to make alice an admin
	if _, err := b.Apply(ctx, []auth.Event{forged}); err == nil {
		t.Fatal("a tampered event was applied")
	}
	other := newKey(t)
	impostor := events[0]
	impostor.Origin = other.ID() // signed by a, claims another origin
	if _, err := b.Apply(ctx, []auth.Event{impostor}); err == nil || !strings.Contains(err.Error(), "not its origin") {
		t.Fatalf("an event with a false origin: %v", err)
	}
	// An admin principal signed by a real node is still refused.
	adminEvent := auth.Event{Origin: other.ID(), Seq: 1, Kind: auth.EventPrincipal, Principal: "x", Name: "evil", Role: auth.RoleAdmin}
	sig, _ := other.SignHash(adminEvent.Digest())
	adminEvent.Signature = "0x" + hex.EncodeToString(sig)
	if _, err := b.Apply(ctx, []auth.Event{adminEvent}); err == nil {
		t.Fatal("an admin principal was replicated")
	}
	if _, err := b.Principal(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alice exists on b after refused events: %v", err)
	}
}

func TestBackfillLogsEarlierAccounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Written by a version without events: no signer, nothing logged.
	old := openSigned(t, dir, 1, nil)
	bob, _ := old.CreatePrincipal(ctx, "bob", auth.RoleUser)
	tok, _ := old.IssueToken(ctx, bob.ID, "")
	if ev, _ := old.Since(ctx, nil); len(ev) != 0 {
		t.Fatalf("events without a signer: %v", ev)
	}
	a := openSigned(t, dir, 1, newKey(t))
	b := openSigned(t, t.TempDir(), 2, newKey(t))
	if n := pull(t, b, a); n != 2 {
		t.Fatalf("applied %d backfilled events, want 2", n)
	}
	if p, err := b.Authenticate(ctx, tok); err != nil || p.ID != bob.ID {
		t.Fatalf("backfilled token: %+v %v", p, err)
	}
}
