package btc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Virtual sizes of a spend of escrow outputs, for its fee: a P2SH-P2WSH
// 2-of-3 input is 76 vB of input and 254 weight units of witness (two
// 72-byte signatures and the 105-byte script), about 140 vB.
const (
	txOverheadVB  = 11
	escrowInputVB = 140
	maxOutputVB   = 43 // a P2TR or P2WSH output: the largest standard one
	// DustLimit is the least output the node pays.
	DustLimit = 546
)

// NewSpend builds the PSBT that spends outs (each paying the escrow of
// witnessScript and redeemScript) to dest, the fee at feeRate sat/vB taken
// from the sum.
func (n Network) NewSpend(outs []Output, witnessScript, redeemScript []byte, dest string, feeRate int64) (*psbt.Packet, error) {
	addr, err := n.DecodeAddress(dest)
	if err != nil {
		return nil, err
	}
	pkScript, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	if len(outs) == 0 {
		return nil, errors.New("the escrow holds no confirmed output to spend")
	}
	tx := wire.NewMsgTx(2)
	var total int64
	for _, o := range outs {
		h, err := chainhash.NewHashFromStr(o.TxID)
		if err != nil {
			return nil, err
		}
		tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(h, o.Vout), nil, nil))
		total += o.Amount
	}
	fee := feeRate * int64(txOverheadVB+escrowInputVB*len(outs)+maxOutputVB)
	if total-fee < DustLimit {
		return nil, fmt.Errorf("the escrow's %d sat do not pay the fee of %d sat at %d sat/vB", total, fee, feeRate)
	}
	tx.AddTxOut(wire.NewTxOut(total-fee, pkScript))
	p, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, err
	}
	u, _ := psbt.NewUpdater(p)
	for i, o := range outs {
		if err := u.AddInWitnessUtxo(wire.NewTxOut(o.Amount, o.PkScript), i); err != nil {
			return nil, err
		}
		if err := u.AddInRedeemScript(redeemScript, i); err != nil {
			return nil, err
		}
		if err := u.AddInWitnessScript(witnessScript, i); err != nil {
			return nil, err
		}
		if err := u.AddInSighashType(txscript.SigHashAll, i); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func sigHashes(p *psbt.Packet) *txscript.TxSigHashes {
	prev := make(map[wire.OutPoint]*wire.TxOut, len(p.Inputs))
	for i, in := range p.Inputs {
		prev[p.UnsignedTx.TxIn[i].PreviousOutPoint] = in.WitnessUtxo
	}
	return txscript.NewTxSigHashes(p.UnsignedTx, txscript.NewMultiPrevOutFetcher(prev))
}

// SignSpend adds key's signature (SIGHASH_ALL) to every input of p.
func SignSpend(p *psbt.Packet, key *btcec.PrivateKey) error {
	hashes := sigHashes(p)
	u, _ := psbt.NewUpdater(p)
	for i, in := range p.Inputs {
		if in.WitnessUtxo == nil || in.WitnessScript == nil {
			return fmt.Errorf("input %d: no witness UTXO or script", i)
		}
		sig, err := txscript.RawTxInWitnessSignature(p.UnsignedTx, hashes, i, in.WitnessUtxo.Value, in.WitnessScript, txscript.SigHashAll, key)
		if err != nil {
			return err
		}
		if _, err := u.Sign(i, sig, key.PubKey().SerializeCompressed(), nil, nil); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
	}
	return nil
}

// PartialSigs returns the signatures of p's input i by keys of signers
// that verify (SIGHASH_ALL over the witness script); a signature by any
// other key, or one that does not verify, is an error.
func PartialSigs(p *psbt.Packet, i int, signers [][]byte) ([]*psbt.PartialSig, error) {
	in := p.Inputs[i]
	hashes := sigHashes(p)
	var ok []*psbt.PartialSig
	for _, ps := range in.PartialSigs {
		known := false
		for _, k := range signers {
			known = known || bytes.Equal(k, ps.PubKey)
		}
		if !known {
			return nil, fmt.Errorf("input %d: signature by %x, which is not a party of the escrow", i, ps.PubKey)
		}
		if len(ps.Signature) < 2 || txscript.SigHashType(ps.Signature[len(ps.Signature)-1]) != txscript.SigHashAll {
			return nil, fmt.Errorf("input %d: the signature by %x is not SIGHASH_ALL", i, ps.PubKey)
		}
		sig, err := ecdsa.ParseDERSignature(ps.Signature[:len(ps.Signature)-1])
		if err != nil {
			return nil, fmt.Errorf("input %d: the signature by %x is not DER: %v", i, ps.PubKey, err)
		}
		pub, err := btcec.ParsePubKey(ps.PubKey)
		if err != nil {
			return nil, err
		}
		h, err := txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll, p.UnsignedTx, i, in.WitnessUtxo.Value)
		if err != nil {
			return nil, err
		}
		if !sig.Verify(h, pub) {
			return nil, fmt.Errorf("input %d: the signature by %x does not verify for this transaction", i, ps.PubKey)
		}
		ok = append(ok, ps)
	}
	return ok, nil
}

// Complete finalizes p and returns the transaction, checked by the script
// engine input by input: it spends only with two valid signatures.
func Complete(p *psbt.Packet) (*wire.MsgTx, error) {
	if err := psbt.MaybeFinalizeAll(p); err != nil {
		return nil, fmt.Errorf("the transaction cannot be finalized: %w", err)
	}
	tx, err := psbt.Extract(p)
	if err != nil {
		return nil, err
	}
	prev := make(map[wire.OutPoint]*wire.TxOut, len(p.Inputs))
	for i, in := range p.Inputs {
		prev[tx.TxIn[i].PreviousOutPoint] = in.WitnessUtxo
	}
	fetch := txscript.NewMultiPrevOutFetcher(prev)
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, in := range p.Inputs {
		vm, err := txscript.NewEngine(in.WitnessUtxo.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, in.WitnessUtxo.Value, fetch)
		if err != nil {
			return nil, err
		}
		if err := vm.Execute(); err != nil {
			return nil, fmt.Errorf("input %d does not verify: %w", i, err)
		}
	}
	return tx, nil
}

// EncodePSBT is p in base64, the form wallets exchange.
func EncodePSBT(p *psbt.Packet) string {
	s, _ := p.B64Encode()
	return s
}

// DecodePSBT reads a base64 (or hex) PSBT.
func DecodePSBT(s string) (*psbt.Packet, error) {
	s = strings.TrimSpace(s)
	if raw, err := hex.DecodeString(s); err == nil {
		return psbt.NewFromRawBytes(bytes.NewReader(raw), false)
	}
	return psbt.NewFromRawBytes(strings.NewReader(s), true)
}
