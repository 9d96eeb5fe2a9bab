package network_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// quiet leaves out the background requests between nodes (account pulls,
// audits): the tests count the requests they send.
func quiet(i int, s *testnet.Setup) {
	s.Network.AccountsEvery = -1
	s.Network.AuditEvery = -1
}

// send sends req with a fresh copy of body and returns the status and the
// error code of the answer.
func send(t *testing.T, req *http.Request, body []byte) (int, string) {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc jsonapi.ErrorDocument
	raw, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(raw, &doc) == nil && len(doc.Errors) > 0 {
		return resp.StatusCode, doc.Errors[0].Code
	}
	return resp.StatusCode, ""
}

func confirmation(t *testing.T, nd *testnet.Node) ledger.Confirmation {
	t.Helper()
	price, err := nd.Ledger.Price(1<<20, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Confirmation{FileID: "f", Size: 1 << 20, Hash: strings.Repeat("ab", 32), Duration: time.Hour, Price: price,
		ExpiresAt: nd.Ledger.QuoteExpiry()}
}

func outsider(t *testing.T) *identity.Key {
	t.Helper()
	var raw [32]byte
	rand.Read(raw[:])
	k, err := identity.FromHex(hex.EncodeToString(raw[:]))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A request MAC'd under the key of the pair is accepted; a wrong MAC, a
// public key that is not the sender's, an unknown sender, a replay, a
// request addressed to another node, a stale or tampered one are refused.
func TestMACRequests(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 2, quiet)
	a, b := nw.Nodes[0], nw.Nodes[1]
	bm, _ := a.Net.Member(b.Key.ID())
	am, _ := b.Net.Member(a.Key.ID())

	// The hello tells the node's public key.
	resp, err := http.Get(b.URL() + network.Prefix + "hello")
	if err != nil {
		t.Fatal(err)
	}
	var h network.Hello
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.PublicKey != hex.EncodeToString(b.Key.PublicKey()) || h.ID != b.Key.ID() {
		t.Fatalf("hello %+v", h)
	}

	// A, which B joined through, never asked B's hello: its first request
	// to B is signed, and B's answer tells A its key.
	if a.Net.HasPairKey(b.Key.ID()) {
		t.Fatal("A keeps a key with B before any exchange")
	}
	if _, err := a.Net.Confirm(ctx, confirmation(t, a)); err != nil {
		t.Fatal(err)
	}
	if !a.Net.HasPairKey(b.Key.ID()) {
		t.Fatal("A learned no key with B from B's answer")
	}

	q := network.Quote{FileID: "f", ContentHash: strings.Repeat("ab", 32), Size: 10, Duration: 60,
		Price: "0.000000001", Schedule: a.Ledger.Schedule.Version(), ExpiresAt: nw.Clock.Now().Add(time.Hour).Truncate(time.Second)}
	body, _ := json.Marshal(q)
	macd := func() *http.Request {
		t.Helper()
		req, err := a.Net.NewSigned(ctx, bm, "POST", network.Prefix+"confirm", body)
		if err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("X-Dds-Mac") == "" || req.Header.Get("X-Dds-Signature") != "" ||
			req.Header.Get("X-Dds-Public-Key") != hex.EncodeToString(a.Key.PublicKey()) {
			t.Fatalf("not a MAC'd request: %v", req.Header)
		}
		return req
	}
	refused := func(what string, req *http.Request, body []byte) {
		t.Helper()
		if code, ecode := send(t, req, body); code != http.StatusUnauthorized || ecode != "bad_node_signature" {
			t.Fatalf("%s: %d %s, want 401 bad_node_signature", what, code, ecode)
		}
	}

	req := macd()
	again := req.Clone(ctx)
	if code, _ := send(t, req, body); code != http.StatusOK {
		t.Fatalf("MAC'd request: %d", code)
	}
	if code, ecode := send(t, again, body); code != http.StatusConflict || ecode != "replayed" {
		t.Fatalf("replayed MAC'd request: %d %s", code, ecode)
	}

	// The MAC itself.
	for _, bad := range []func(string) string{
		func(m string) string { return strings.Repeat("0", len(m)) },
		func(m string) string { return m[:62] },
		func(m string) string { return m + "00" },
		func(m string) string { return "zz" + m[2:] },
		func(m string) string { return "" }, // and no signature
	} {
		req := macd()
		req.Header.Set("X-Dds-Mac", bad(req.Header.Get("X-Dds-Mac")))
		refused("bad MAC "+req.Header.Get("X-Dds-Mac"), req, body)
	}
	req = macd()
	mac := []byte(req.Header.Get("X-Dds-Mac"))
	mac[0] ^= 1 // another hex digit
	req.Header.Set("X-Dds-Mac", string(mac))
	refused("flipped MAC", req, body)
	// A tampered body.
	refused("tampered body", macd(), bytes.Replace(body, []byte(`"size":10`), []byte(`"size":99`), 1))

	// The public key must be the sender's.
	x := outsider(t)
	for what, pub := range map[string]string{
		"the receiver's key":  hex.EncodeToString(b.Key.PublicKey()),
		"another key":         hex.EncodeToString(x.PublicKey()),
		"not on the curve":    "02" + strings.Repeat("ff", 32),
		"uncompressed":        hex.EncodeToString(a.Key.Private().PubKey().SerializeUncompressed()),
		"not hex":             strings.Repeat("z", 66),
		"none":                "",
		"truncated":           hex.EncodeToString(a.Key.PublicKey())[:64],
		"bad prefix":          "05" + hex.EncodeToString(a.Key.PublicKey())[2:],
		"the key with a byte": hex.EncodeToString(a.Key.PublicKey()) + "00",
	} {
		req := macd()
		req.Header.Set("X-Dds-Public-Key", pub)
		refused("public key: "+what, req, body)
	}
	// An outsider MACs correctly under its own key with B, but claims to
	// be A; or tells A's key with its MAC.
	now := nw.Clock.Now()
	forged, _ := network.NewMACed(ctx, x, a.Key.ID(), x.PublicKey(), bm, b.Key.PublicKey(), now, "POST", network.Prefix+"confirm", body)
	refused("outsider claiming to be A", forged, body)
	forged, _ = network.NewMACed(ctx, x, a.Key.ID(), a.Key.PublicKey(), bm, b.Key.PublicKey(), now, "POST", network.Prefix+"confirm", body)
	refused("outsider with A's public key", forged, body)
	// An unknown node, however well it MACs.
	forged, _ = network.NewMACed(ctx, x, x.ID(), x.PublicKey(), bm, b.Key.PublicKey(), now, "POST", network.Prefix+"confirm", body)
	refused("unknown node", forged, body)
	// A's own MAC, computed as A does, is accepted through the same helper.
	own, _ := network.NewMACed(ctx, a.Key, a.Key.ID(), a.Key.PublicKey(), bm, b.Key.PublicKey(), now, "POST", network.Prefix+"confirm", body)
	if code, _ := send(t, own, body); code != http.StatusOK {
		t.Fatalf("A's request built by the test: %d", code)
	}

	// A request B MACs for A, sent to B itself.
	misdirected, _ := b.Net.NewSigned(ctx, am, "POST", network.Prefix+"confirm", body)
	if misdirected.Header.Get("X-Dds-Mac") == "" {
		t.Fatal("B does not MAC to A, whose key it had from A's hello")
	}
	misdirected.URL.Host = strings.TrimPrefix(b.URL(), "http://")
	refused("misdirected", misdirected, body)
	// A stale one.
	stale := macd()
	nw.Clock.Advance(2 * time.Minute)
	refused("stale", stale, body)
}

// After the first request between two nodes, their requests are MAC'd both
// ways: the receiver verifies no signature. The keys are learned from a
// hello (the nodes joined through node 0), from the public key a MAC'd
// request tells (node 0 never asked anyone's hello), and from a signed
// request (nodes 1 and 2 never met).
func TestMACAfterFirstExchange(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 3, quiet)
	ids := make([]string, 3)
	for i, nd := range nw.Nodes {
		ids[i] = nd.Key.ID()
	}
	keys := func() [3][3]bool {
		var out [3][3]bool
		for i, nd := range nw.Nodes {
			for j := range nw.Nodes {
				out[i][j] = i != j && nd.Net.HasPairKey(ids[j])
			}
		}
		return out
	}
	if got := keys(); got != [3][3]bool{{false, false, false}, {true, false, false}, {true, false, false}} {
		t.Fatalf("keys after joining: %v", got)
	}
	counts := func() (signed, maced [3]int64) {
		for i, nd := range nw.Nodes {
			signed[i], maced[i] = nd.Net.Accepted()
		}
		return
	}
	s0, m0 := counts()
	for round := range 4 {
		for _, i := range []int{1, 2, 0} {
			if _, err := nw.Nodes[i].Net.Confirm(ctx, confirmation(t, nw.Nodes[i])); err != nil {
				t.Fatalf("round %d, node %d: %v", round, i, err)
			}
		}
		if round == 0 {
			if got := keys(); got != [3][3]bool{{false, true, true}, {true, false, true}, {true, true, false}} {
				t.Fatalf("keys after the first exchange: %v", got)
			}
		}
	}
	s, m := counts()
	// Node 1 signed its first request to node 2, and only that one.
	if d := [3]int64{s[0] - s0[0], s[1] - s0[1], s[2] - s0[2]}; d != [3]int64{0, 0, 1} {
		t.Fatalf("signed requests accepted by each node: %v, want [0 0 1]", d)
	}
	for i := range m {
		if want := int64(2*4) - (s[i] - s0[i]); m[i]-m0[i] != want {
			t.Fatalf("node %d accepted %d MAC'd requests, want %d", i, m[i]-m0[i], want)
		}
	}
}
