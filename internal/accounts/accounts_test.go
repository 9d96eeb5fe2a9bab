package accounts_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

func status(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func TestAccountsAPI(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 2)
	a, b := nw.Nodes[0], nw.Nodes[1]
	admin := a.Admin()

	// The operator makes an account and a token for it from anywhere.
	alice, err := admin.CreateAccount(ctx, "alice", "user")
	if err != nil || alice.Name != "alice" || alice.Role != "user" {
		t.Fatalf("create: %+v %v", alice, err)
	}
	tok, err := admin.CreateToken(ctx, "alice", "laptop")
	if err != nil || !strings.HasPrefix(tok.Token, "dds_") || tok.Label != "laptop" {
		t.Fatalf("token: %+v %v", tok, err)
	}
	list, err := admin.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, acc := range list {
		found = found || acc.ID == alice.ID
	}
	if !found {
		t.Fatalf("alice is not listed: %+v", list)
	}

	// Alice reads who she is and manages her own tokens; lists never show them.
	me := a.Client(tok.Token)
	if who, err := me.Account(ctx, "me"); err != nil || who.ID != alice.ID {
		t.Fatalf("whoami: %+v %v", who, err)
	}
	second, err := me.CreateToken(ctx, "me", "phone")
	if err != nil {
		t.Fatal(err)
	}
	infos, err := me.Tokens(ctx, "me")
	if err != nil || len(infos) != 2 || infos[0].Token != "" || infos[1].ID != second.ID {
		t.Fatalf("tokens: %+v %v", infos, err)
	}

	// Her account and tokens work on the other node too; a revocation there
	// reaches this one.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := b.Client(second.Token).Account(ctx, "me"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node b refuses alice's token: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Client(second.Token).RevokeToken(ctx, "me", second.ID); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := a.Client(second.Token).Account(ctx, "me")
		if status(err) == http.StatusUnauthorized {
			break
		} else if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("node a still takes a token revoked on b: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Refusals, each a clear 4xx.
	bob := a.User()
	for _, c := range []struct {
		what string
		err  error
		want int
	}{
		{"a user lists accounts", func() error { _, err := bob.Accounts(ctx); return err }(), 403},
		{"a user creates an account", func() error { _, err := bob.CreateAccount(ctx, "x", "admin"); return err }(), 403},
		{"a user reads another's tokens", func() error { _, err := bob.Tokens(ctx, alice.ID); return err }(), 404},
		{"a user revokes another's token", bob.RevokeToken(ctx, alice.ID, tok.ID), 404},
		{"a bad role", func() error { _, err := admin.CreateAccount(ctx, "y", "root"); return err }(), 400},
		{"a taken name", func() error { _, err := admin.CreateAccount(ctx, "alice", "user"); return err }(), 409},
		{"an unknown token id", admin.RevokeToken(ctx, alice.ID, "0123456789abcdef"), 404},
		{"a malformed token id", admin.RevokeToken(ctx, alice.ID, "zz"), 404},
		{"no token", func() error { _, err := a.Client("").Account(ctx, "me"); return err }(), 401},
		{"another node's admin", func() error { _, err := b.Client(a.AdminToken).Accounts(ctx); return err }(), 401},
		{"a long label", func() error { _, err := admin.CreateToken(ctx, "alice", strings.Repeat("x", 201)); return err }(), 400},
	} {
		if got := status(c.err); got != c.want {
			t.Errorf("%s: %v, want %d", c.what, c.err, c.want)
		}
	}
	// The operator revokes alice's first token.
	if err := admin.RevokeToken(ctx, alice.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := me.Account(ctx, "me"); status(err) != http.StatusUnauthorized {
		t.Fatalf("a revoked token still works: %v", err)
	}

	// Revoking an account's access takes every token, on every node; the
	// account stays and can be given a token again. Only an admin may do
	// it to another's account.
	third, err := admin.CreateToken(ctx, "alice", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Auth.SetPassword(ctx, alice.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.RevokeAccess(ctx, alice.ID); status(err) != http.StatusNotFound {
		t.Fatalf("a user revokes another's access: %v", err)
	}
	if n, err := admin.RevokeAccess(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("revoke access: %d %v", n, err)
	}
	if _, err := a.Client(third.Token).Account(ctx, "me"); status(err) != http.StatusUnauthorized {
		t.Fatalf("a token of a revoked account still works: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := b.Client(third.Token).Account(ctx, "me")
		if status(err) == http.StatusUnauthorized {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node b still takes a token of a revoked account: %v", err)
		}
	}
	if _, err := a.Auth.CheckPassword(ctx, "alice", "correct horse battery"); err == nil {
		t.Fatal("the password of a revoked account still signs in")
	}
	if infos, err := admin.Tokens(ctx, "alice"); err != nil || len(infos) != 0 {
		t.Fatalf("tokens left: %+v %v", infos, err)
	}
	if _, err := admin.CreateToken(ctx, "alice", "again"); err != nil {
		t.Fatalf("a token for the account again: %v", err)
	}
}
