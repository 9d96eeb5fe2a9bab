package deals_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// The spec's own failure example answers in the envelope with its 4xx;
// requests the module did not understand, or whose caller is unknown, keep
// {"error": {"code", "message"}}.
func TestFailureEnvelope(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	get := func(token, path string) (int, []byte) {
		c := nd.Client(token)
		req, err := c.NewRequest(context.Background(), http.MethodGet, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := get(nd.UserToken, "/api/v1/account/status?address=null")
	var env api.DealEnvelope
	if err := json.Unmarshal(body, &env); status != 400 || err != nil {
		t.Fatalf("%d %s", status, body)
	}
	if env.ID == "" || env.Action != "Status" || env.Result.Success || env.Result.Message != "Invalid Bitcoin address: null" {
		t.Fatalf("envelope %+v", env)
	}
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	if !strings.Contains(string(payload), "BEGIN PGP SIGNED MESSAGE") || !strings.Contains(string(payload), "message: 'Invalid Bitcoin address: null'") {
		t.Fatalf("payload:\n%s", payload)
	}
	for _, c := range []struct {
		token, path string
		status      int
	}{
		{"", "/api/v1/account/status?address=null", 401},
		{nd.UserToken, "/api/v1/account/bogus", 404},
	} {
		status, body := get(c.token, c.path)
		var e api.DealError
		if err := json.Unmarshal(body, &e); status != c.status || err != nil || e.Error.Code != c.status || e.Error.Message == "" {
			t.Errorf("%s: %d %s", c.path, status, body)
		}
	}
}

// A client rebuilds a deal's escrow address from the answer alone: the
// canonical text, its hash and the untweaked module key.
func TestEscrowCommitment(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	user := module(t, nd, nd.UserToken)
	seller, customer := newParty(t), newParty(t)
	register(t, user, seller)
	register(t, user, customer)
	dl := ok(t)(user.CreateDeal(ctx, dealReq("Prepaid", nw.Clock.Now(), seller, customer, "0.01"))).Doc.Deal

	want := fmt.Sprintf("deal:\n  type: Prepaid\n  at: %s\n  date: %s\n  seller:\n    address: %s\n  customer:\n    address: %s\n"+
		"  payment:\n    until: %s\n    sum: 0.01\n  feedback:\n    leave-before: %s\n",
		dl.At, dl.Date, dl.Seller.Address, dl.Customer.Address, dl.Payment.Until, dl.Feedback.LeaveBefore)
	if dl.Canonical != want {
		t.Fatalf("canonical text:\n%s\nwant (the README's rule):\n%s", dl.Canonical, want)
	}
	h := sha256.Sum256([]byte(dl.Canonical))
	if dl.Payment.DealHash != hex.EncodeToString(h[:]) || dl.ID != hex.EncodeToString(h[:16]) {
		t.Fatalf("deal-hash %s, id %s", dl.Payment.DealHash, dl.ID)
	}
	raw, _ := hex.DecodeString(dl.Payment.ModulePub)
	module, err := btcec.ParsePubKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	net := btc.Network{Name: "testnet", Params: &chaincfg.TestNet3Params}
	esc, err := net.NewEscrow(seller.key.PubKey(), customer.key.PubKey(), module, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if esc.Address != dl.Payment.Address || hex.EncodeToString(esc.ModuleKey) != dl.Payment.ModuleKey || hex.EncodeToString(esc.WitnessScript) != dl.Payment.Script {
		t.Fatalf("rebuilt %s, answer %s", esc.Address, dl.Payment.Address)
	}
}
