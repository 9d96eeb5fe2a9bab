package persist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

var authT0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestAuthPrincipals(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s auth.Store = persist.NewAuth(db)
		alice := auth.Principal{ID: "id-a", Name: "alice", Role: auth.RoleUser, Created: authT0}
		root := auth.Principal{ID: "id-r", Name: "root", Role: auth.RoleAdmin, Created: authT0.Add(-time.Hour)}
		for _, p := range []auth.Principal{alice, root} {
			if err := s.AddPrincipal(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddPrincipal(ctx, alice); err != nil {
			t.Fatalf("a known id again: %v", err)
		}
		if err := s.AddPrincipal(ctx, auth.Principal{ID: "id-b", Name: "alice", Role: auth.RoleUser, Created: authT0}); !errors.Is(err, auth.ErrNameTaken) {
			t.Fatalf("a taken name: %v", err)
		}
		// A principal named like another's id: the id wins.
		if err := s.AddPrincipal(ctx, auth.Principal{ID: "id-x", Name: "id-a", Role: auth.RolePayment, Created: authT0}); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"id-a", "alice"} {
			if p, err := s.Principal(ctx, key); err != nil || p != alice {
				t.Fatalf("principal %q: %+v %v, want %+v", key, p, err, alice)
			}
		}
		if _, err := s.Principal(ctx, "nobody"); !errors.Is(err, auth.ErrNoPrincipal) {
			t.Fatalf("unknown principal: %v", err)
		}
		if r, err := s.PrincipalRole(ctx, "id-r"); err != nil || r != auth.RoleAdmin {
			t.Fatalf("role: %q %v", r, err)
		}
		if _, err := s.PrincipalRole(ctx, "alice"); !errors.Is(err, auth.ErrNoPrincipal) {
			t.Fatalf("role by name: %v", err)
		}
		all, err := s.Principals(ctx)
		if err != nil || len(all) != 3 || all[0].ID != "id-r" || all[1].ID != "id-a" || all[2].ID != "id-x" {
			t.Fatalf("principals (oldest first, then by id): %+v %v", all, err)
		}
		if n, err := s.CountRole(ctx, auth.RoleUser); err != nil || n != 1 {
			t.Fatalf("count users: %d %v", n, err)
		}
		if taken, err := s.NameTaken(ctx, "alice", "id-a"); err != nil || taken {
			t.Fatalf("alice's own name taken: %v %v", taken, err)
		}
		if taken, err := s.NameTaken(ctx, "alice", "id-z"); err != nil || !taken {
			t.Fatalf("alice's name free: %v %v", taken, err)
		}

		if _, h, err := s.PasswordHash(ctx, "alice"); err != nil || h != "" {
			t.Fatalf("no password: %q %v", h, err)
		}
		if ok, err := s.SetPasswordHash(ctx, "id-a", "$argon2id$x"); err != nil || !ok {
			t.Fatalf("set password: %v %v", ok, err)
		}
		if id, h, err := s.PasswordHash(ctx, "alice"); err != nil || id != "id-a" || h != "$argon2id$x" {
			t.Fatalf("password: %q %q %v", id, h, err)
		}
		if ok, err := s.SetPasswordHash(ctx, "id-a", ""); err != nil || !ok {
			t.Fatalf("clear password: %v %v", ok, err)
		}
		if _, h, err := s.PasswordHash(ctx, "alice"); err != nil || h != "" {
			t.Fatalf("cleared password: %q %v", h, err)
		}
		if ok, err := s.SetPasswordHash(ctx, "nobody", "h"); err != nil || ok {
			t.Fatalf("password of nobody: %v %v", ok, err)
		}
		if _, _, err := s.PasswordHash(ctx, "nobody"); !errors.Is(err, auth.ErrNoPrincipal) {
			t.Fatalf("password of nobody: %v", err)
		}
	})
}

func TestAuthTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s auth.Store = persist.NewAuth(db)
		alice := auth.Principal{ID: "id-a", Name: "alice", Role: auth.RoleUser, Created: authT0}
		if err := s.AddPrincipal(ctx, alice); err != nil {
			t.Fatal(err)
		}
		// Two tokens of one time are listed in the order they were issued.
		toks := []auth.StoredToken{
			{Hash: "ffff", Principal: "id-a", Label: "first", Sealed: []byte{1, 2}, Created: authT0},
			{Hash: "0000", Principal: "id-a", Label: "second", Sealed: []byte{}, Created: authT0},
		}
		for _, tok := range toks {
			if err := s.AddToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddToken(ctx, auth.StoredToken{Hash: "ffff", Principal: "id-a", Label: "again", Sealed: []byte{}, Created: authT0}); err != nil {
			t.Fatalf("a known token again: %v", err)
		}
		list, err := s.Tokens(ctx, "id-a")
		if err != nil || len(list) != 2 || list[0].Hash != "ffff" || list[0].Label != "first" || string(list[0].Sealed) != "\x01\x02" ||
			list[1].Hash != "0000" || !list[1].Created.Equal(authT0) {
			t.Fatalf("tokens: %+v %v", list, err)
		}
		if p, err := s.TokenPrincipal(ctx, "0000"); err != nil || p != alice {
			t.Fatalf("token principal: %+v %v", p, err)
		}
		if _, err := s.TokenPrincipal(ctx, "1234"); !errors.Is(err, auth.ErrNoPrincipal) {
			t.Fatalf("unknown token: %v", err)
		}
		if owner, err := s.TokenOwner(ctx, "ffff"); err != nil || owner != "id-a" {
			t.Fatalf("owner: %q %v", owner, err)
		}
		if err := s.RevokeToken(ctx, "ffff", authT0); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, "ffff", authT0); err != nil {
			t.Fatalf("revoked twice: %v", err)
		}
		if _, err := s.TokenOwner(ctx, "ffff"); !errors.Is(err, auth.ErrNoToken) {
			t.Fatalf("owner of a revoked token: %v", err)
		}
		for hash, want := range map[string]bool{"ffff": true, "0000": false} {
			if r, err := s.Revoked(ctx, hash); err != nil || r != want {
				t.Fatalf("revoked %s: %v %v", hash, r, err)
			}
		}
		if list, err := s.Tokens(ctx, "id-a"); err != nil || len(list) != 1 || list[0].Hash != "0000" {
			t.Fatalf("tokens after revoke: %+v %v", list, err)
		}
	})
}

func TestAuthEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s auth.Store = persist.NewAuth(db)
		if h, err := s.EventHead(ctx, "0xa"); err != nil || h != 0 {
			t.Fatalf("head of none: %d %v", h, err)
		}
		for i := int64(1); i <= 3; i++ {
			e := auth.Event{Origin: "0xa", Seq: i, Kind: auth.EventToken, Principal: "p", Token: "h", Time: authT0, Signature: "0x01"}
			if err := s.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddEvent(ctx, auth.Event{Origin: "0xb", Seq: 1, Kind: auth.EventPrincipal, Principal: "p", Name: "n", Role: auth.RoleUser, Time: authT0}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEvent(ctx, auth.Event{Origin: "0xb", Seq: 1, Kind: auth.EventRevoke}); err == nil {
			t.Fatal("an event logged twice")
		}
		if h, err := s.EventHead(ctx, "0xa"); err != nil || h != 3 {
			t.Fatalf("head: %d %v", h, err)
		}
		if heads, err := s.Heads(ctx); err != nil || len(heads) != 2 || heads["0xa"] != 3 || heads["0xb"] != 1 {
			t.Fatalf("heads: %v %v", heads, err)
		}
		events, err := s.Events(ctx, "0xa", 1, 1)
		if err != nil || len(events) != 1 || events[0].Seq != 2 || events[0].Signature != "0x01" || !events[0].Time.Equal(authT0) {
			t.Fatalf("events past 1, at most 1: %+v %v", events, err)
		}
		if events, err := s.Events(ctx, "0xa", 0, 10); err != nil || len(events) != 3 || events[2].Seq != 3 {
			t.Fatalf("events: %+v %v", events, err)
		}
	})
}

func TestAuthInTxRollsBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var s auth.Store = persist.NewAuth(db)
		boom := errors.New("boom")
		err := s.InTx(ctx, func(ctx context.Context) error {
			if err := s.AddPrincipal(ctx, auth.Principal{ID: "id-a", Name: "alice", Role: auth.RoleUser, Created: authT0}); err != nil {
				return err
			}
			if err := s.AddToken(ctx, auth.StoredToken{Hash: "ffff", Principal: "id-a", Sealed: []byte{}, Created: authT0}); err != nil {
				return err
			}
			if err := s.RevokeToken(ctx, "0000", authT0); err != nil {
				return err
			}
			if err := s.AddEvent(ctx, auth.Event{Origin: "0xa", Seq: 1, Kind: auth.EventPrincipal}); err != nil {
				return err
			}
			if p, err := s.Principal(ctx, "alice"); err != nil || p.ID != "id-a" {
				t.Errorf("the transaction does not see its own principal: %+v %v", p, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := s.Principal(ctx, "alice"); !errors.Is(err, auth.ErrNoPrincipal) {
			t.Fatalf("principal after rollback: %v", err)
		}
		if _, err := s.TokenOwner(ctx, "ffff"); !errors.Is(err, auth.ErrNoToken) {
			t.Fatalf("token after rollback: %v", err)
		}
		if r, err := s.Revoked(ctx, "0000"); err != nil || r {
			t.Fatalf("revocation after rollback: %v %v", r, err)
		}
		if h, err := s.EventHead(ctx, "0xa"); err != nil || h != 0 {
			t.Fatalf("event after rollback: %d %v", h, err)
		}
	})
}
