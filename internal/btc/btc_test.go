package btc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
)

func mustNet(t testing.TB, name string) Network {
	n, err := ParseNetwork(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newKey(t testing.TB) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Published signatures made by other wallets.
func TestVerifyMessagePublishedVectors(t *testing.T) {
	main := mustNet(t, "mainnet")
	for _, v := range []struct{ addr, msg, sig string }{
		// README of shadowy-pycoder/go-bitcoin-message-tool (RFC 6979, compressed key).
		{"16wrm6zJek6REbxbJSLsBHehn3Lj1vo57t", "ECDSA is the most fun I have ever experienced",
			"H3x5bM2MpXK9MyLLbIGWQjZQNTP6lfuIjmPqMrU7YZ5CCm5bS9L+zCtrfIOJaloDb0mf9QBSEDIs4UCd/jou1VI="},
		// DMDcoin/dmdv4migration contracts/api/tests/testVerify.ts.
		{"1BzFQE9RWjNQEuN2pJTFEHN21LureERhKX", "0x70A830C7EffF19c9Dd81Db87107f5Ea5804cbb3F",
			"IHe2FvaAsIbIEvb47prSFg3rXNHlE91p2WYtpxIpPA30W6zgvzwc3wQ90nnA12LbL2aKo3a0jjgbN6xM7EOu/hE="},
	} {
		a, err := main.DecodeAddress(v.addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := main.VerifyMessage(a, v.msg, v.sig); err != nil {
			t.Errorf("%s: %v", v.addr, err)
		}
		if _, err := main.VerifyMessage(a, v.msg+".", v.sig); err == nil {
			t.Errorf("%s: a changed message verified", v.addr)
		}
	}
	// On testnet the same address is refused.
	if _, err := mustNet(t, "testnet").DecodeAddress("16wrm6zJek6REbxbJSLsBHehn3Lj1vo57t"); err == nil {
		t.Error("a mainnet address was accepted on testnet")
	}
}

func TestSignVerifyRealKeys(t *testing.T) {
	n := mustNet(t, "testnet")
	k, other := newKey(t), newKey(t)
	pkh, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), n.Params)
	pkhU, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeUncompressed()), n.Params)
	wpkh, _ := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), n.Params)
	msg := "2026-11-01\nhttps://example.org"
	for _, c := range []struct {
		name       string
		addr       btcutil.Address
		compressed bool
	}{{"p2pkh", pkh, true}, {"p2pkh uncompressed", pkhU, false}, {"p2wpkh", wpkh, true}} {
		// Round-trip through the address text, as a client sends it.
		addr, err := n.DecodeAddress(c.addr.EncodeAddress())
		if err != nil {
			t.Fatal(err)
		}
		sig := SignMessage(k, msg, c.compressed)
		pub, err := n.VerifyMessage(addr, msg, sig)
		if err != nil || !pub.IsEqual(k.PubKey()) {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := n.VerifyMessage(addr, msg+"x", sig); err == nil {
			t.Errorf("%s: changed message verified", c.name)
		}
		if _, err := n.VerifyMessage(addr, msg, SignMessage(other, msg, c.compressed)); err == nil {
			t.Errorf("%s: another key's signature verified", c.name)
		}
	}
	if _, err := n.VerifyMessage(pkh, msg, "not base64!"); err == nil {
		t.Error("garbage signature verified")
	}
}

func TestEscrowCommitsToDeal(t *testing.T) {
	n := mustNet(t, "testnet")
	seller, customer, module := newKey(t), newKey(t), newKey(t)
	deal := sha256.Sum256([]byte("deal:\n  type: Prepaid\n"))
	other := sha256.Sum256([]byte("deal:\n  type: Postpaid\n"))
	e1, err := n.NewEscrow(seller.PubKey(), customer.PubKey(), module.PubKey(), deal[:])
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := n.NewEscrow(customer.PubKey(), seller.PubKey(), module.PubKey(), deal[:])
	if e1.Address != e2.Address {
		t.Error("the same deal gave two addresses (key order must not matter)")
	}
	e3, _ := n.NewEscrow(seller.PubKey(), customer.PubKey(), module.PubKey(), other[:])
	if e3.Address == e1.Address {
		t.Error("a changed deal gave the same address")
	}
	if e1.Address[0] != '2' {
		t.Errorf("testnet P2SH address should start with 2: %s", e1.Address)
	}
	// The redeem script hashes to the address; it wraps the witness script.
	a, err := n.DecodeAddress(e1.Address)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.ScriptAddress(), btcutil.Hash160(e1.RedeemScript)) {
		t.Error("the redeem script does not hash to the address")
	}
	wsHash := sha256.Sum256(e1.WitnessScript)
	if !bytes.Equal(e1.RedeemScript, append([]byte{txscript.OP_0, txscript.OP_DATA_32}, wsHash[:]...)) {
		t.Error("the redeem script is not OP_0 <sha256(witness script)>")
	}
	class, addrs, req, err := txscript.ExtractPkScriptAddrs(e1.WitnessScript, n.Params)
	if err != nil || class != txscript.MultiSigTy || req != 2 || len(addrs) != 3 {
		t.Fatalf("witness script is not 2-of-3 multisig: %v %d %d %v", class, req, len(addrs), err)
	}
	// The module can sign with d + t.
	tw, err := DealTweak(module.PubKey(), deal[:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(TweakPrivate(module, tw).PubKey().SerializeCompressed(), e1.ModuleKey) {
		t.Error("the tweaked private key does not match the tweaked public key")
	}
	found := false
	for _, a := range addrs {
		found = found || bytes.Equal(a.ScriptAddress(), e1.ModuleKey)
	}
	if !found {
		t.Error("the tweaked module key is not in the script")
	}
	mainnet, _ := mustNet(t, "mainnet").NewEscrow(seller.PubKey(), customer.PubKey(), module.PubKey(), deal[:])
	if mainnet.Address[0] != '3' {
		t.Errorf("mainnet P2SH address should start with 3: %s", mainnet.Address)
	}
}

// A fixed vector: fixed keys and deal give this address for ever (a change
// would strand escrows made by earlier versions).
func TestEscrowVector(t *testing.T) {
	n := mustNet(t, "testnet")
	key := func(b byte) *btcec.PrivateKey {
		k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{b}, 32))
		return k
	}
	deal := sha256.Sum256([]byte("vector"))
	e, err := n.NewEscrow(key(1).PubKey(), key(2).PubKey(), key(3).PubKey(), deal[:])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("address %s tweak %s", e.Address, hex.EncodeToString(e.Tweak))
	if e.Address != "2N9jP6WrUDf53J26SPwuxmgFMhJWZKHbXZL" {
		t.Errorf("address %s, want %s", e.Address, "2N9jP6WrUDf53J26SPwuxmgFMhJWZKHbXZL")
	}
}

func TestKeyMatches(t *testing.T) {
	n := mustNet(t, "regtest")
	k := newKey(t)
	pkh, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), n.Params)
	if !n.KeyMatches(pkh, k.PubKey(), true) || n.KeyMatches(pkh, k.PubKey(), false) || n.KeyMatches(pkh, newKey(t).PubKey(), true) {
		t.Error("KeyMatches is wrong for P2PKH")
	}
	// The address and key of the spec's own account/new example.
	tn := mustNet(t, "testnet")
	addr, err := tn.DecodeAddress("mynFyJJkRhsbB6y1Q5kTgDGckVz2m9NKH8")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey("02ef68c191984433c8a730b8fa48a47ec016a0727e6d26cc0982c8900b39354f61")
	if err != nil || !tn.KeyMatches(addr, pub, true) {
		t.Errorf("the spec's example key does not match its address: %v", err)
	}
	for _, name := range []string{"mainnet", "testnet", "signet", "regtest"} {
		mustNet(t, name)
	}
	if _, err := ParseNetwork("dogecoin"); err == nil {
		t.Error("unknown network accepted")
	}
}

func BenchmarkVerifyMessage(b *testing.B) {
	n := mustNet(b, "testnet")
	k := newKey(b)
	addr, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), n.Params)
	msg := "2026-11-01\n+https://example.org"
	sig := SignMessage(k, msg, true)
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		if _, err := n.VerifyMessage(addr, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewEscrow(b *testing.B) {
	n := mustNet(b, "testnet")
	s, c, m := newKey(b), newKey(b), newKey(b)
	deal := sha256.Sum256([]byte("deal"))
	b.SetBytes(int64(len(deal)))
	for i := 0; i < b.N; i++ {
		if _, err := n.NewEscrow(s.PubKey(), c.PubKey(), m.PubKey(), deal[:]); err != nil {
			b.Fatal(err)
		}
	}
}
