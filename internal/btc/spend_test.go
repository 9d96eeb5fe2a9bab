package btc

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
)

// An escrow spend needs two of its three keys: the module's signature
// alone, or with a stranger's, does not complete it; the module's with the
// seller's or the customer's does, as the script engine checks.
func TestSpendNeedsTwoKeys(t *testing.T) {
	n := mustNet(t, "regtest")
	seller, customer, module, stranger := newKey(t), newKey(t), newKey(t), newKey(t)
	h := sha256.Sum256([]byte("deal text"))
	esc, err := n.NewEscrow(seller.PubKey(), customer.PubKey(), module.PubKey(), h[:])
	if err != nil {
		t.Fatal(err)
	}
	tw, _ := DealTweak(module.PubKey(), h[:])
	moduleKey := TweakPrivate(module, tw)
	addr, _ := btcutil.DecodeAddress(esc.Address, n.Params)
	pkScript, _ := txscript.PayToAddrScript(addr)
	outs := []Output{
		{TxID: strings.Repeat("11", 32), Vout: 0, Amount: 40_000, PkScript: pkScript, Confirmations: 3},
		{TxID: strings.Repeat("22", 32), Vout: 1, Amount: 60_000, PkScript: pkScript, Confirmations: 3},
	}
	dest, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(seller.PubKey().SerializeCompressed()), n.Params)
	keys := [][]byte{seller.PubKey().SerializeCompressed(), customer.PubKey().SerializeCompressed(), esc.ModuleKey}
	build := func(signers ...*btcec.PrivateKey) (string, error) {
		p, err := n.NewSpend(outs, esc.WitnessScript, esc.RedeemScript, dest.EncodeAddress(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if fee := 100_000 - p.UnsignedTx.TxOut[0].Value; fee != 2*(11+2*140+43) {
			t.Errorf("fee %d sat", fee)
		}
		for _, k := range signers {
			if err := SignSpend(p, k); err != nil {
				t.Fatal(err)
			}
		}
		for i := range p.Inputs {
			if _, err := PartialSigs(p, i, keys); err != nil {
				return "", err
			}
		}
		tx, err := Complete(p)
		if err != nil {
			return "", err
		}
		return tx.TxHash().String(), nil
	}
	if _, err := build(moduleKey); err == nil {
		t.Error("the module's key alone spent the escrow")
	}
	if _, err := build(moduleKey, stranger); err == nil {
		t.Error("the module's key and a stranger's spent the escrow")
	}
	if _, err := build(moduleKey, module); err == nil {
		t.Error("the untweaked module key counted as a second key")
	}
	for _, party := range []*btcec.PrivateKey{seller, customer} {
		if _, err := build(moduleKey, party); err != nil {
			t.Errorf("module + party: %v", err)
		}
	}
	if _, err := build(seller, customer); err != nil {
		t.Errorf("seller + customer: %v", err)
	}
	if _, err := n.NewSpend(outs[:1], esc.WitnessScript, esc.RedeemScript, dest.EncodeAddress(), 1000); err == nil {
		t.Error("a spend whose fee eats the escrow was built")
	}
	if _, err := DecodePSBT("not a psbt"); err == nil {
		t.Error("garbage decoded as a PSBT")
	}
}
