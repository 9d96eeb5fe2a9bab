// Package btc holds the Bitcoin pieces of the deal module: networks and
// addresses, standard signed messages, and the 2-of-3 escrow address of a
// deal.
package btc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Network is a Bitcoin network the module works on.
type Network struct {
	Name   string
	Params *chaincfg.Params
	Unit   string // how sums are labelled: BTC on mainnet, tBTC elsewhere
}

// ParseNetwork maps a --bitcoin-network value onto a network.
func ParseNetwork(name string) (Network, error) {
	switch strings.ToLower(name) {
	case "mainnet", "main", "bitcoin":
		return Network{"mainnet", &chaincfg.MainNetParams, "BTC"}, nil
	case "", "testnet", "testnet3", "test":
		return Network{"testnet", &chaincfg.TestNet3Params, "tBTC"}, nil
	case "signet":
		return Network{"signet", &chaincfg.SigNetParams, "tBTC"}, nil
	case "regtest":
		return Network{"regtest", &chaincfg.RegressionNetParams, "tBTC"}, nil
	}
	return Network{}, fmt.Errorf("unknown Bitcoin network %q: use mainnet, testnet, signet or regtest", name)
}

// DecodeAddress parses a Bitcoin address (an optional "bitcoin:" prefix is
// dropped) and checks it belongs to the network.
func (n Network) DecodeAddress(s string) (btcutil.Address, error) {
	s = strings.TrimSpace(s)
	if len(s) > 8 && strings.EqualFold(s[:8], "bitcoin:") {
		s = s[8:]
	}
	a, err := btcutil.DecodeAddress(s, n.Params)
	if err != nil || !a.IsForNet(n.Params) {
		return nil, fmt.Errorf("invalid Bitcoin address for %s: %q", n.Name, s)
	}
	return a, nil
}

// ParsePublicKey parses a hex public key (compressed or not).
func ParsePublicKey(s string) (*btcec.PublicKey, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || (len(raw) != 33 && len(raw) != 65) {
		return nil, fmt.Errorf("invalid Bitcoin public key: want 33 or 65 bytes in hex")
	}
	pub, err := btcec.ParsePubKey(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid Bitcoin public key: %v", err)
	}
	return pub, nil
}

// KeyMatches tells whether the address is the P2PKH (or P2WPKH, or
// P2SH-wrapped P2WPKH) address of pub, serialised as given by raw length.
func (n Network) KeyMatches(addr btcutil.Address, pub *btcec.PublicKey, compressed bool) bool {
	ser := pub.SerializeUncompressed()
	if compressed {
		ser = pub.SerializeCompressed()
	}
	h := btcutil.Hash160(ser)
	switch a := addr.(type) {
	case *btcutil.AddressPubKeyHash:
		return bytes.Equal(a.Hash160()[:], h)
	case *btcutil.AddressWitnessPubKeyHash:
		return compressed && bytes.Equal(a.WitnessProgram(), h)
	case *btcutil.AddressScriptHash:
		// P2SH-P2WPKH: the redeem script is OP_0 <hash160(pub)>.
		redeem := append([]byte{txscript.OP_0, txscript.OP_DATA_20}, h...)
		return compressed && bytes.Equal(a.Hash160()[:], btcutil.Hash160(redeem))
	}
	return false
}

// messageMagic prefixes every standard Bitcoin signed message.
const messageMagic = "Bitcoin Signed Message:\n"

// MessageHash is the double SHA-256 a Bitcoin signed message signs.
func MessageHash(message string) []byte {
	var buf bytes.Buffer
	_ = wire.WriteVarString(&buf, 0, messageMagic)
	_ = wire.WriteVarString(&buf, 0, message)
	return chainhash.DoubleHashB(buf.Bytes())
}

// SignMessage signs message the way Bitcoin Core's signmessage does and
// returns the base64 compact signature.
func SignMessage(key *btcec.PrivateKey, message string, compressed bool) string {
	sig := ecdsa.SignCompact(key, MessageHash(message), compressed)
	return base64.StdEncoding.EncodeToString(sig)
}

// ErrBadSignature is returned when a signed message does not verify.
var ErrBadSignature = errors.New("the Bitcoin signature does not verify for this address and message")

// VerifyMessage checks a base64 compact signature of message by the key of
// addr (P2PKH, P2WPKH or P2SH-P2WPKH; BIP-137 header bytes are accepted).
// It returns the signer's public key.
func (n Network) VerifyMessage(addr btcutil.Address, message, signature string) (*btcec.PublicKey, error) {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil || len(sig) != 65 {
		return nil, fmt.Errorf("invalid Bitcoin signature: want 65 bytes in base64")
	}
	// BIP-137 marks segwit signers with headers 35-42; recovery only needs
	// the low bits, so fold them onto the 27-34 range btcec understands.
	switch h := sig[0]; {
	case h >= 35 && h <= 42:
		sig = append([]byte{27 + 4 + (h-27)%4}, sig[1:]...)
	case h < 27 || h > 42:
		return nil, ErrBadSignature
	}
	pub, compressed, err := ecdsa.RecoverCompact(sig, MessageHash(message))
	if err != nil {
		return nil, ErrBadSignature
	}
	if !n.KeyMatches(addr, pub, compressed) {
		return nil, ErrBadSignature
	}
	return pub, nil
}

// Escrow is the 2-of-3 payment address of a deal.
type Escrow struct {
	Address       string // P2SH-wrapped P2WSH
	WitnessScript []byte // the 2-of-3 multisig script
	RedeemScript  []byte // OP_0 <sha256(WitnessScript)>: what the P2SH hash commits to
	ModuleKey     []byte // the module's key tweaked for this deal (compressed)
	Tweak         []byte // the scalar added to the module key
}

// DealTweak is the scalar that binds the module key to a deal:
// t = SHA-256(module public key || SHA-256(deal text)). Hashing the key in
// as well (as pay-to-contract does) stops anyone choosing a deal whose
// tweak cancels a key of their choice.
func DealTweak(module *btcec.PublicKey, dealHash []byte) (*btcec.ModNScalar, error) {
	h := sha256.New()
	h.Write(module.SerializeCompressed())
	h.Write(dealHash)
	var t btcec.ModNScalar
	if overflow := t.SetByteSlice(h.Sum(nil)); overflow || t.IsZero() {
		return nil, errors.New("deal tweak out of range: change any field of the deal")
	}
	return &t, nil
}

// TweakPublic returns P + t·G.
func TweakPublic(p *btcec.PublicKey, t *btcec.ModNScalar) *btcec.PublicKey {
	var tG, pj, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(t, &tG)
	p.AsJacobian(&pj)
	btcec.AddNonConst(&pj, &tG, &sum)
	sum.ToAffine()
	return btcec.NewPublicKey(&sum.X, &sum.Y)
}

// TweakPrivate returns d + t: the private key of TweakPublic(d·G, t), with
// which the module signs its half of an escrow spend.
func TweakPrivate(d *btcec.PrivateKey, t *btcec.ModNScalar) *btcec.PrivateKey {
	var k btcec.ModNScalar
	k.Set(&d.Key).Add(t)
	return btcec.PrivKeyFromScalar(&k)
}

// NewEscrow builds the escrow of a deal: 2 of (seller, customer, module key
// tweaked by the deal hash), keys sorted as BIP-67 says so that every
// wallet derives the same script.
func (n Network) NewEscrow(seller, customer, module *btcec.PublicKey, dealHash []byte) (Escrow, error) {
	t, err := DealTweak(module, dealHash)
	if err != nil {
		return Escrow{}, err
	}
	tweaked := TweakPublic(module, t)
	keys := [][]byte{seller.SerializeCompressed(), customer.SerializeCompressed(), tweaked.SerializeCompressed()}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	b := txscript.NewScriptBuilder().AddOp(txscript.OP_2)
	for _, k := range keys {
		b.AddData(k)
	}
	ws, err := b.AddOp(txscript.OP_3).AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		return Escrow{}, err
	}
	wsHash := sha256.Sum256(ws)
	redeem, err := txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(wsHash[:]).Script()
	if err != nil {
		return Escrow{}, err
	}
	addr, err := btcutil.NewAddressScriptHash(redeem, n.Params)
	if err != nil {
		return Escrow{}, err
	}
	tb := t.Bytes()
	return Escrow{Address: addr.EncodeAddress(), WitnessScript: ws, RedeemScript: redeem,
		ModuleKey: tweaked.SerializeCompressed(), Tweak: tb[:]}, nil
}

// Output is an output of a transaction that pays an address, as a Bitcoin
// node sees it.
type Output struct {
	TxID          string
	Vout          uint32
	Amount        int64 // satoshis
	PkScript      []byte
	Confirmations int64 // 0: in the mempool
}
