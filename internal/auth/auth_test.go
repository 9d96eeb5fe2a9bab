package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func open(t *testing.T, secret byte) (*auth.Service, *store.DB) {
	t.Helper()
	db, err := store.OpenSchema(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, 32)
	key[0] = secret
	s, err := auth.New(context.Background(), auth.Config{Secret: key}, auth.Deps{Store: persist.NewAuth(db), Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestTokensAndPasswords(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, 1)
	alice, err := s.CreatePrincipal(ctx, "alice", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePrincipal(ctx, "alice", auth.RoleUser); err == nil {
		t.Fatal("duplicate name accepted")
	}
	if _, err := s.CreatePrincipal(ctx, "bad name!", auth.RoleUser); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, err := s.CreatePrincipal(ctx, "x", "root"); err == nil {
		t.Fatal("bad role accepted")
	}
	tok, err := s.IssueToken(ctx, alice.ID, "cli")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, tok)
	if err != nil || p.ID != alice.ID || p.Role != auth.RoleUser {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	if _, err := s.Authenticate(ctx, tok+"x"); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	list, err := s.Tokens(ctx, alice.ID)
	if err != nil || len(list) != 1 || list[0] != tok {
		t.Fatalf("tokens: %v %v", list, err)
	}
	bob, _ := s.CreatePrincipal(ctx, "bob", auth.RoleUser)
	if err := s.Revoke(ctx, bob, tok); err == nil {
		t.Fatal("bob revoked alice's token")
	}
	if err := s.Revoke(ctx, alice, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok); err == nil {
		t.Fatal("revoked token still works")
	}

	if _, err := s.CheckPassword(ctx, "alice", "whatever1"); err == nil {
		t.Fatal("password check passed with no password set")
	}
	if err := s.SetPassword(ctx, alice.ID, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := s.SetPassword(ctx, alice.ID, "correct horse"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.CheckPassword(ctx, "alice", "correct horse"); err != nil || p.ID != alice.ID {
		t.Fatalf("check: %v %v", p, err)
	}
	if _, err := s.CheckPassword(ctx, "alice", "wrong horse"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

// Authenticate keeps what it looked up for a moment: a revocation holds at
// once on the process that made it, and within a second on another process
// sharing the database.
func TestRevocationReachesCachedTokens(t *testing.T) {
	ctx := context.Background()
	s1, db := open(t, 1)
	key := make([]byte, 32)
	key[0] = 1
	s2, err := auth.New(ctx, auth.Config{Secret: key}, auth.Deps{Store: persist.NewAuth(db), Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s1.CreatePrincipal(ctx, "alice", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s1.IssueToken(ctx, alice.ID, "cli")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*auth.Service{s1, s2} {
		if p, err := s.Authenticate(ctx, tok); err != nil || p.ID != alice.ID {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
	}
	if err := s1.Revoke(ctx, alice, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("the revoking process still accepts the token: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := s2.Authenticate(ctx, tok)
		if errors.Is(err, auth.ErrUnauthorized) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another process still accepts a revoked token after 3 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
