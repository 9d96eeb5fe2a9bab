package ocean_test

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

// Vectors computed with ethers 5 (the library ocean.js signs with), for
// Hardhat's first key 0xac09…ff80 (address 0xf39F…2266):
//
//	h = solidityKeccak256(['bytes'], [toUtf8Bytes(msg)])
//	sig = wallet.signMessage(arrayify(h))
const (
	hardhat0   = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	hardhat0ID = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	vecDID     = "did:op:8f0b7da5e2a8e9e18f7c2ab0e23bbd4e88f8e0d5c4e0b5e53d0a9b36b9a6e3e1"
	vecKeccak  = "8b80a200a0e5c58aad17f8eb157d7ca20472ec540503b10c84a9d22b3bba50ba"
	vecEthHash = "c8cb0b81b94203fb9fb7d91fb65b93f2489aa86360141147f6772d38abe28f1a"
	vecSig     = "0x387ad5b7bb971617449019f2ebbb46bd1266681719e3124f966755537cd707ed201cbc541f77b0c100273d8bad14638f019f55d53738282c841e5dbba5003e151c"

	// solidityKeccak256(['bytes','address','address','uint256','uint256'],
	//   [providerData, 0xf39F…2266, 0x0…0, 0, 1793494800]) and its signature.
	vecFeeData = `{"environment":"","timestamp":1793491200,"dt":"0x0000000000000000000000000000000000000001","id":"access"}`
	vecFeeHash = "594d960e500e7c1aac1f02a4c063bc482fd3f95bbeeaf67968c10a67b7afe352"
	vecFeeR    = "0x8dc88c0de26411ecb4035202503bb9fb197e137ce69c3a2ffb7ca37a520d0dfd"
	vecFeeS    = "0x417383cf9c27059c490aa2b215c597d7057011d2886daa237eed7121264893fc"
	vecFeeV    = 28
)

func TestMessageHashVector(t *testing.T) {
	if got := hex.EncodeToString(identity.Keccak256([]byte(vecDID + "1"))); got != vecKeccak {
		t.Fatalf("keccak %s", got)
	}
	if got := hex.EncodeToString(ocean.MessageHash(vecDID, "1")); got != vecEthHash {
		t.Fatalf("message hash %s", got)
	}
	if err := ocean.VerifySignature(hardhat0ID, vecDID, "1", vecSig); err != nil {
		t.Fatal(err)
	}
	// Addresses compare case-insensitively; v may be 0/1 as well as 27/28.
	sig, _ := ocean.ParseSignature(vecSig)
	sig[64] -= 27
	if err := ocean.VerifySignature("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", vecDID, "1", "0x"+hex.EncodeToString(sig)); err != nil {
		t.Fatal(err)
	}
	if err := ocean.VerifySignature(hardhat0ID, vecDID, "2", vecSig); err == nil {
		t.Fatal("signature accepted for another nonce")
	}
	// Our signer produces the same (RFC 6979 deterministic) signature.
	k := mustKey(t, hardhat0)
	if got := sign(t, k, vecDID, "1"); got != vecSig {
		t.Fatalf("sign %s", got)
	}
}

func TestFeeSignatureVector(t *testing.T) {
	k := mustKey(t, hardhat0)
	h, err := ocean.ProviderFeeHash([]byte(vecFeeData), k.Address(), ocean.ZeroAddress, new(big.Int), 1793494800)
	if err != nil || hex.EncodeToString(h) != vecFeeHash {
		t.Fatalf("fee hash %x %v", h, err)
	}
	fee, err := ocean.SignFee(k, []byte(vecFeeData), ocean.ZeroAddress, new(big.Int), 1793494800)
	if err != nil {
		t.Fatal(err)
	}
	if fee.R != vecFeeR || fee.S != vecFeeS || fee.V != vecFeeV || fee.ProviderFeeAmount != "0" ||
		fee.ProviderData != "0x"+hex.EncodeToString([]byte(vecFeeData)) || fee.ProviderFeeAddress != hardhat0ID {
		t.Fatalf("fee %+v", fee)
	}
	// A non-zero amount is a 32-byte big-endian uint256.
	big1, _ := new(big.Int).SetString("1000000000000000000", 10)
	h2, _ := ocean.ProviderFeeHash([]byte(vecFeeData), k.Address(), ocean.ZeroAddress, big1, 1793494800)
	if hex.EncodeToString(h2) == vecFeeHash {
		t.Fatal("amount not hashed")
	}
}

func TestNonceOrder(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{{"1", "2", true}, {"9", "10", true}, {"1644315615.24195", "1644315615.3", true}, {"1700000000000", "1700000000000.5", true}, {"2", "2", false}, {"10", "9", false}} {
		a, err := ocean.ParseNonce(c.a)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ocean.ParseNonce(c.b)
		if (a.Cmp(b) < 0) != c.less {
			t.Errorf("%s < %s: want %v", c.a, c.b, c.less)
		}
	}
	for _, bad := range []string{"", "-1", "1e5", "0x10", "abc", ".", "1.2.3", "NaN", " 1"} {
		if _, err := ocean.ParseNonce(bad); err == nil {
			t.Errorf("nonce %q accepted", bad)
		}
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add(hardhat0ID, vecDID, "1", vecSig)
	f.Add("0x0", "", "", "0x")
	f.Add(hardhat0ID, "x", "1.5", "0x"+string(make([]byte, 130)))
	f.Fuzz(func(t *testing.T, addr, msg, nonce, sig string) {
		_ = ocean.VerifySignature(addr, msg, nonce, sig) // must not panic
		_, _ = ocean.ParseNonce(nonce)
	})
}

func FuzzParseDDO(f *testing.F) {
	f.Add([]byte(`{"chainId":8996,"nftAddress":"0x00000000000000000000000000000000000000a1","metadata":{"name":"x"},"services":[{"id":"a","type":"access","files":"0x00","timeout":0,"price":"1"}]}`))
	f.Add([]byte(`{"id":"did:op:` + "0000000000000000000000000000000000000000000000000000000000000000" + `","chainId":8996,"metadata":{"name":"x"},"services":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"chainId":8996} {}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, d, err := ocean.ParseDDO(raw, 8996)
		if err != nil {
			return
		}
		// What is accepted re-parses to the same DDO.
		doc2, d2, err := ocean.ParseDDO(doc, 8996)
		if err != nil || string(doc2) != string(doc) || d2.ID != d.ID || len(d2.Services) != len(d.Services) {
			t.Fatalf("accepted DDO does not re-parse: %v", err)
		}
	})
}

// FuzzParseFileList fuzzes the reader of decrypted file lists (written by
// publishers: untrusted).
func FuzzParseFileList(f *testing.F) {
	ctx := f.Context()
	db, err := store.OpenSchema(context.Background(), filepath.Join(f.TempDir(), "meta.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	c := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	l, err := ledger.New(ctx, ledger.Config{QuoteTTL: time.Hour}, ledger.Deps{Store: persist.NewLedger(db), Clock: c})
	if err != nil {
		f.Fatal(err)
	}
	a, err := auth.New(ctx, auth.Config{Secret: make([]byte, 32)}, auth.Deps{Store: persist.NewAuth(db), Clock: c})
	if err != nil {
		f.Fatal(err)
	}
	s, err := ocean.New(ctx, ocean.Config{Dir: f.TempDir()}, ocean.Deps{Store: persist.NewOcean(db), Jobs: persist.NewCompute(db), Key: mustKey(f, hardhat0), Ledger: l, Auth: a,
		Local: map[string]ocean.LocalSource{"dds": nil}, Clock: c, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Add([]byte(`{"files":[{"type":"url","url":"https://example.com/a","method":"GET","headers":{"X":"1"}}]}`))
	f.Add([]byte(`{"files":[{"type":"ipfs","hash":"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"},{"type":"arweave","transactionId":"a4f0c1b2d3e4f5a6b7c8"}]}`))
	f.Add([]byte(`{"files":[{"type":"dds","id":"x"}]}`))
	f.Add([]byte(`{"files":[]}`))
	f.Add([]byte(`nope`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fl, err := s.ParseFileList(raw)
		if err == nil && len(fl.Files) == 0 {
			t.Fatal("an empty file list was accepted")
		}
	})
}
