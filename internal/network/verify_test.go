package network

import (
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
)

// pairOfNetworks is two nodes that know each other as members, with no
// gossip and no listener: enough for NewSigned and verify of requests whose
// nonces are kept in memory.
func pairOfNetworks(t testing.TB) (a, b *Network) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	mk := func(hexKey string) *Network {
		k, err := identity.FromHex(hexKey)
		if err != nil {
			t.Fatal(err)
		}
		return &Network{cfg: Config{MaxSkew: time.Minute}, key: k, clock: clk, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			members: map[string]*Member{k.ID(): {ID: k.ID(), URL: "http://" + k.ID(), State: Alive, Self: true}},
			nonces:  newRecentNonces(2 * time.Minute), pubHex: hex.EncodeToString(k.PublicKey())}
	}
	a = mk("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	b = mk("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
	a.members[b.ID()] = &Member{ID: b.ID(), URL: "http://" + b.ID(), State: Alive}
	b.members[a.ID()] = &Member{ID: a.ID(), URL: "http://" + a.ID(), State: Alive}
	return a, b
}

// header names of the request, as fuzzed.
var fuzzed = []string{hNode, hTo, hTime, hNonce, hBody, hSignature, hMAC, hPublicKey}

// FuzzVerify: whatever the headers of a node-to-node request, verify
// answers 401 (or 409 for a nonce already used), never panics, and accepts
// only a request whose MAC or signature is right.
func FuzzVerify(f *testing.F) {
	a, b := pairOfNetworks(f)
	if _, err := b.derive(a.ID(), a.key.(*identity.Key).Private().PubKey()); err != nil {
		f.Fatal(err)
	}
	bm, _ := a.Member(b.ID())
	seed := func(mac bool) []string {
		if mac {
			a.learn(b.ID(), b.pubHex)
		} else {
			a.pairs.drop(b.ID())
		}
		req, err := a.NewSigned(f.Context(), bm, http.MethodGet, Prefix+"records/x", nil)
		if err != nil {
			f.Fatal(err)
		}
		var out []string
		for _, h := range fuzzed {
			out = append(out, req.Header.Get(h))
		}
		return out
	}
	for _, mac := range []bool{true, false} {
		s := seed(mac)
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
	}
	s := seed(true)
	f.Add(s[0], s[1], s[2], s[3], s[4], "", s[6], "02"+strings.Repeat("ff", 32))
	f.Add(s[0], s[1], s[2], s[3], s[4], "", "0x"+s[6], "0x"+s[7])
	f.Add(s[0], s[1], s[2], s[3], s[4], "", s[6][:63], s[7][:65])
	f.Add(s[0], s[1], s[2], s[3], s[4], "0x", "", "")
	f.Fuzz(func(t *testing.T, node, to, ts, nonce, body, sig, mac, pub string) {
		r := httptest.NewRequest(http.MethodGet, Prefix+"records/x", nil)
		for i, v := range []string{node, to, ts, nonce, body, sig, mac, pub} {
			r.Header[fuzzed[i]] = []string{v} // as received: not canonicalized or checked by Set
		}
		from, err := b.verify(r)
		var e *apierr.Error
		switch {
		case err == nil:
			if from != a.ID() {
				t.Fatalf("accepted as %q", from)
			}
		case !errors.As(err, &e) || (e.Status != http.StatusUnauthorized && e.Status != http.StatusConflict):
			t.Fatalf("refused with %v", err)
		}
		if b.pairs.get(a.ID()) == nil || len(b.pairs.m) != 1 {
			t.Fatal("the pair's key was dropped, or another one kept")
		}
	})
}

// A node keeps a pairwise key only with a member, from a public key whose
// address is the member's id; both ends derive the same key.
func TestPairKeys(t *testing.T) {
	a, b := pairOfNetworks(t)
	a.learn(b.ID(), hex.EncodeToString(a.key.(*identity.Key).PublicKey())) // not B's
	a.learn(b.ID(), "02"+strings.Repeat("ff", 32))
	a.learn(b.ID(), "zz")
	x, _ := identity.FromHex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
	a.learn(x.ID(), hex.EncodeToString(x.PublicKey())) // not a member
	a.learn(a.ID(), a.pubHex)                          // itself
	if len(a.pairs.m) != 0 {
		t.Fatalf("keys kept: %v", a.pairs.m)
	}
	a.learn(b.ID(), b.pubHex)
	b.learn(a.ID(), a.pubHex)
	ka, kb := a.pairs.get(b.ID()), b.pairs.get(a.ID())
	if ka == nil || kb == nil || hex.EncodeToString(ka.key) != hex.EncodeToString(kb.key) || len(ka.key) != 32 {
		t.Fatalf("keys %v %v", ka, kb)
	}
	// Another pair, another key.
	x2, _ := identity.ParsePublicKey(x.PublicKey())
	if k := pairwiseKey(a.key.SharedSecret(x2), a.ID(), x.ID()); hex.EncodeToString(k) == hex.EncodeToString(ka.key) {
		t.Fatal("two pairs share a key")
	}
	// A MAC'd request from A verifies at B, with no signature.
	bm, _ := a.Member(b.ID())
	req, _ := a.NewSigned(t.Context(), bm, http.MethodGet, Prefix+"records/x", nil)
	if req.Header.Get(hSignature) != "" {
		t.Fatal("signed though the key is known")
	}
	r := httptest.NewRequest(http.MethodGet, Prefix+"records/x", nil)
	r.Header = req.Header
	if from, err := b.verify(r); err != nil || from != a.ID() {
		t.Fatalf("verify: %q %v", from, err)
	}
	if s, m := b.auths.signed.Load(), b.auths.maced.Load(); s != 0 || m != 1 {
		t.Fatalf("%d signed, %d MAC'd", s, m)
	}
}
