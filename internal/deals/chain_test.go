package deals_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// chainNode is a node whose deal module watches b's regtest chain.
func chainNode(t *testing.T, b *btcd) *testnet.Network {
	return testnet.New(t, 1, func(i int, s *testnet.Setup) {
		s.Deals.Network = "regtest"
		s.Deals.Chain = b.cfg
		s.Deals.Confirmations = 2
		s.Deals.Poll = 50 * time.Millisecond
	})
}

// until waits for the deal to reach state and returns it.
func until(t *testing.T, d *client.Deals, id, state string) api.Deal {
	t.Helper()
	var last api.Deal
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(40 * time.Millisecond) {
		last = *ok(t)(d.DealStatus(context.Background(), id)).Doc.Deal
		if last.Order == state {
			return last
		}
	}
	t.Fatalf("deal %s is %s, want %s: %+v", id, last.Order, state, last.Payment.Funding)
	return last
}

// paidTo checks that txid is confirmed and pays address sum minus a fee
// of the configured rate.
func paidTo(t *testing.T, b *btcd, txid, address string, sum int64) {
	t.Helper()
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := b.rpc.GetRawTransactionVerbose(h)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Confirmations < 1 {
		t.Fatalf("%s is not confirmed", txid)
	}
	raw, _ := b.rpc.GetRawTransaction(h)
	a, _ := btcutil.DecodeAddress(address, b.params)
	script, _ := txscript.PayToAddrScript(a)
	out := raw.MsgTx().TxOut
	if len(out) != 1 || !bytes.Equal(out[0].PkScript, script) || out[0].Value >= sum || out[0].Value < sum-10_000 {
		t.Fatalf("%s pays %+v, want about %d sat to %s", txid, out, sum, address)
	}
}

// A real btcd in regtest: deals are funded on chain and become Paid after
// the confirmations, survive a restart and a reorg, are released to the
// seller or refunded to the customer through PSBTs the module co-signs,
// and expire unfunded.
func TestDealsOnChain(t *testing.T) {
	b := startBTCD(t)
	ctx := context.Background()
	nw := chainNode(t, b)
	nd := nw.Nodes[0]
	user := module(t, nd, nd.UserToken)
	seller, customer, stranger := newParty(t), newParty(t), newParty(t)
	register(t, user, seller)
	register(t, user, customer)
	create := func(sum string) api.Deal {
		return *ok(t)(user.CreateDeal(ctx, dealReq("Prepaid", nw.Clock.Now(), seller, customer, sum))).Doc.Deal
	}

	// Release: funded, Paid after 2 confirmations (across a restart),
	// completed with the seller's signature, the seller's output confirmed.
	a := create("0.5")
	b.pay(t, a.Payment.Address, 50_000_000)
	a = until(t, user, a.ID, "Paying")
	if a.Payment.Funding == nil || a.Payment.Funding.Pending != "0.5 tBTC" || len(a.Payment.Funding.Outputs) != 1 {
		t.Fatalf("funding %+v", a.Payment.Funding)
	}
	fails(t, 409)(user.CompleteDeal(ctx, a.ID)) // not Paid yet
	nd.Restart(t)
	user = module(t, nd, nd.UserToken)
	b.mine(t, 2)
	a = until(t, user, a.ID, "Paid")
	admin := module(t, nd, nd.AdminToken)
	fails(t, 409)(admin.ConfirmDeal(ctx, a.ID)) // the chain confirms, not an admin
	a = *ok(t)(user.CompleteDeal(ctx, a.ID)).Doc.Deal
	if a.Payment.Spend == nil || a.Payment.Spend.Kind != "release" || a.Order != "Paid" {
		t.Fatalf("complete: %+v", a.Payment.Spend)
	}
	unsigned := a.Payment.Spend.PSBT
	// bad PSBTs: not one, someone else's transaction, only the module's
	// signature, a stranger's signature
	consent := customer.sign(deals.DealMessage("complete", a.ID))
	fails(t, 400)(user.ReleaseDeal(ctx, a.ID, "cHNidP8BAAAA", consent))
	fails(t, 400)(user.ReleaseDeal(ctx, a.ID, "not a psbt", consent))
	fails(t, 403)(user.ReleaseDeal(ctx, a.ID, unsigned, consent))
	fails(t, 403)(user.ReleaseDeal(ctx, a.ID, signPSBT(t, unsigned, stranger), consent))
	// the seller's signature alone does not pay the seller: the customer consents
	if msg := fails(t, 403)(user.ReleaseDeal(ctx, a.ID, signPSBT(t, unsigned, seller), "")); !strings.Contains(msg, "consent") {
		t.Errorf("release without consent: %q", msg)
	}
	fails(t, 403)(user.ReleaseDeal(ctx, a.ID, signPSBT(t, unsigned, seller), seller.sign(deals.DealMessage("complete", a.ID))))
	other := mustPSBT(t, unsigned)
	other.UnsignedTx.TxOut[0].Value -= 1000 // a bigger fee: not the module's transaction
	if err := btc.SignSpend(other, seller.key); err != nil {
		t.Fatal(err)
	}
	fails(t, 400)(user.ReleaseDeal(ctx, a.ID, btc.EncodePSBT(other), consent))
	a = *ok(t)(user.ReleaseDeal(ctx, a.ID, signPSBT(t, unsigned, seller), consent)).Doc.Deal
	if a.Order != "Completed" || a.Payment.Spend.TxID == "" {
		t.Fatalf("release: %+v", a)
	}
	msg := fails(t, 409)(user.ReleaseDeal(ctx, a.ID, signPSBT(t, unsigned, customer), "")) // double completion
	if !strings.Contains(msg, "spent already") {
		t.Errorf("double completion: %q", msg)
	}
	b.mine(t, 1)
	paidTo(t, b, a.Payment.Spend.TxID, seller.addr, 50_000_000)

	// Refund: a funded deal cancelled by the seller goes back to the
	// customer, signed by the customer.
	r := create("0.3")
	b.pay(t, r.Payment.Address, 30_000_000)
	b.mine(t, 2)
	r = until(t, user, r.ID, "Paid")
	cancel := seller.sign(deals.DealMessage("cancel", r.ID))
	r = *ok(t)(user.CancelDeal(ctx, r.ID, cancel)).Doc.Deal
	if r.Payment.Spend == nil || r.Payment.Spend.Kind != "refund" {
		t.Fatalf("cancel: %+v", r.Payment)
	}
	fails(t, 409)(user.CompleteDeal(ctx, r.ID)) // a refund is under way
	r = *ok(t)(user.RefundDeal(ctx, r.ID, cancel, signPSBT(t, r.Payment.Spend.PSBT, customer))).Doc.Deal
	if r.Order != "Cancelled" {
		t.Fatalf("refund: %+v", r)
	}
	b.mine(t, 1)
	paidTo(t, b, r.Payment.Spend.TxID, customer.addr, 30_000_000)

	// A DDS file paid through a deal is stored only once the escrow is
	// funded on chain: a claimed payment or one in the mempool is not enough.
	content := bytes.Repeat([]byte("funded on chain "), 4096)
	fl, err := nd.User().Upload(ctx, "on-chain.txt", bytes.NewReader(content), client.UploadOptions{})
	if err != nil || !fl.PaymentRequired {
		t.Fatalf("upload: %+v %v", fl, err)
	}
	fr := dealReq("Prepaid", nw.Clock.Now(), seller, customer, "0.04")
	fr.File = fl.ID
	fd := *ok(t)(user.CreateDeal(ctx, fr)).Doc.Deal
	ok(t)(user.PayDeal(ctx, api.DealRequest{ID: fd.ID, Payment: &api.DealPayIn{TxID: strings.Repeat("cd", 32)}}))
	b.pay(t, fd.Payment.Address, 4_000_000)
	until(t, user, fd.ID, "Paying")
	if _, err := nd.User().Download(ctx, fl.ID, io.Discard); err == nil {
		t.Fatal("a file paid by an unconfirmed deal downloaded")
	}
	b.mine(t, 2)
	until(t, user, fd.ID, "Paid")
	var got bytes.Buffer
	if _, err := nd.User().Download(ctx, fl.ID, &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("download after funding: %v", err)
	}
	if info, err := nd.User().Info(ctx, fl.ID); err != nil || info.State != "stored" {
		t.Fatalf("file state %v %v", info, err)
	}

	// Reorg: the block that confirmed a payment leaves the chain; the
	// payment is taken back until it is mined again.
	g := create("0.1")
	b.pay(t, g.Payment.Address, 10_000_000)
	blocks := b.mine(t, 2)
	g = until(t, user, g.ID, "Paid")
	if err := b.rpc.InvalidateBlock(blocks[0]); err != nil {
		t.Fatal(err)
	}
	g = until(t, user, g.ID, "Paying")
	if g.Payment.Funding.Confirmed != "0 tBTC" {
		t.Fatalf("after the reorg: %+v", g.Payment.Funding)
	}
	b.mine(t, 3)
	until(t, user, g.ID, "Paid")
	// the customer's own signature is its consent
	g = *ok(t)(user.CompleteDeal(ctx, g.ID)).Doc.Deal
	g = *ok(t)(user.ReleaseDeal(ctx, g.ID, signPSBT(t, g.Payment.Spend.PSBT, customer), "")).Doc.Deal
	b.mine(t, 1)
	paidTo(t, b, g.Payment.Spend.TxID, seller.addr, 10_000_000)

	// Expiry: no payment by payment.until; a payment after it is refused
	// as payment, and the customer may take it back.
	e := create("0.2")
	nw.Clock.Advance(61 * time.Minute)
	e = until(t, user, e.ID, "Expired")
	fails(t, 409)(user.PayDeal(ctx, api.DealRequest{ID: e.ID}))
	b.pay(t, e.Payment.Address, 20_000_000)
	b.mine(t, 2)
	for start := time.Now(); e.Payment.Funding.Late == ""; time.Sleep(40 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("late payment not seen: %+v", e.Payment.Funding)
		}
		e = *ok(t)(user.DealStatus(ctx, e.ID)).Doc.Deal
	}
	st := ok(t)(user.DealStatus(ctx, e.ID))
	if st.Doc.Deal.Order != "Expired" || !strings.Contains(st.Result.Message, "refused as payment") {
		t.Fatalf("late funding: %s %+v", st.Result.Message, st.Doc.Deal.Payment.Funding)
	}
	byCustomer := customer.sign(deals.DealMessage("cancel", e.ID))
	e = *ok(t)(user.Deal(ctx, "cancel", api.DealRequest{ID: e.ID, Customer: &api.DealPartyIn{Signature: byCustomer}})).Doc.Deal
	e = *ok(t)(user.Deal(ctx, "cancel", api.DealRequest{ID: e.ID, Customer: &api.DealPartyIn{Signature: byCustomer},
		PSBT: signPSBT(t, e.Payment.Spend.PSBT, customer)})).Doc.Deal
	b.mine(t, 1)
	paidTo(t, b, e.Payment.Spend.TxID, customer.addr, 20_000_000)
}

func mustPSBT(t *testing.T, s string) *psbt.Packet {
	t.Helper()
	p, err := btc.DecodePSBT(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signPSBT signs a PSBT as a party's wallet would.
func signPSBT(t *testing.T, s string, p party) string {
	t.Helper()
	pkt := mustPSBT(t, s)
	if err := btc.SignSpend(pkt, p.key); err != nil {
		t.Fatal(err)
	}
	return btc.EncodePSBT(pkt)
}
