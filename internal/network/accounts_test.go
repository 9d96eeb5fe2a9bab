package network_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// accepted tells whether a node takes a token: an authenticated request for
// a file that does not exist is a 404; an unknown token is a 401.
func accepted(t *testing.T, nd *testnet.Node, token string) bool {
	t.Helper()
	_, err := nd.Client(token).Info(context.Background(), "no-such-file")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("info: %v", err)
	}
	switch e.Status {
	case http.StatusNotFound:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("info: %v", err)
	return false
}

// within polls until every node in nodes agrees with want about token, or
// fails after limit.
func within(t *testing.T, limit time.Duration, token string, want bool, nodes ...*testnet.Node) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok := true
		for _, nd := range nodes {
			if accepted(t, nd, token) != want {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("after %v, not every node %s the token", limit, map[bool]string{true: "accepts", false: "refuses"}[want])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAccountsSpanTheNetwork(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 5, func(_ int, c *testnet.Setup) { c.Network.Confirmations, c.Network.Replicas = 0, 1 })
	n := nw.Nodes

	// A user and a token created on node 2 (as `dds token create` does) work on every node.
	tok := n[2].NewUser(t)
	took := within(t, 5*time.Second, tok, true, n...)
	t.Logf("a new token was accepted everywhere after %v", took)

	// A DEP-7 token issued over HTTP on node 1 works on node 4.
	alice, err := n[1].Auth.CreatePrincipal(ctx, "alice", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := n[1].Auth.SetPassword(ctx, alice.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, tok, true, n[4]) // let the password travel with the next pulls
	var dep7 string
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Basic auth on node 4 works once alice's password has arrived there.
		if dep7, err = n[4].Client("").CreateAssetToken(ctx, "alice", "correct horse battery"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("basic auth on node 4 with a password set on node 1: %v", err)
	}
	within(t, 5*time.Second, dep7, true, n...)

	// Revoked on node 2 (which did not issue it): refused by every live node within 5 s.
	if err := n[2].Client(dep7).RevokeAssetToken(ctx, dep7); err != nil {
		t.Fatal(err)
	}
	took = within(t, 5*time.Second, dep7, false, n...)
	t.Logf("a revocation reached every node after %v", took)
	if !accepted(t, n[3], tok) {
		t.Fatal("revoking one token took another")
	}

	// Admins stay per node.
	if accepted(t, n[1], n[0].AdminToken) {
		t.Fatal("node 1 accepts node 0's admin token")
	}

	// A node that joins later learns every account, and every revocation.
	late := nw.Add(t)
	within(t, 10*time.Second, tok, true, late)
	within(t, 5*time.Second, dep7, false, late)
	if !accepted(t, n[0], late.UserToken) {
		within(t, 5*time.Second, late.UserToken, true, n...)
	}
}
