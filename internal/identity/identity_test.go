package identity

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// The well-known Hardhat/Anvil account 0 key and its address.
const (
	knownKey  = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	knownAddr = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
)

func TestKnownAddress(t *testing.T) {
	k, err := FromHex(knownKey)
	if err != nil {
		t.Fatal(err)
	}
	if k.Address() != knownAddr {
		t.Fatalf("address %s, want %s", k.Address(), knownAddr)
	}
}

func TestKeccakVector(t *testing.T) {
	// keccak256("") is a published constant.
	if got := hex.EncodeToString(Keccak256(nil)); got != "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470" {
		t.Fatal(got)
	}
}

func TestSignRecover(t *testing.T) {
	k, _ := FromHex(knownKey)
	h := EthMessageHash(Keccak256([]byte("hello")))
	sig, err := k.SignHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if sig[64] != 27 && sig[64] != 28 {
		t.Fatalf("v = %d", sig[64])
	}
	addr, err := Recover(h, sig)
	if err != nil || addr != knownAddr {
		t.Fatalf("recovered %s, %v", addr, err)
	}
	sig[64] -= 27 // v as 0/1 is accepted too
	if addr, _ := Recover(h, sig); addr != knownAddr {
		t.Fatal("v in {0,1} not accepted")
	}
	sig[3] ^= 1
	if addr, _ := Recover(h, sig); addr == knownAddr {
		t.Fatal("tampered signature recovered to the signer")
	}
}

// TestSignsAsBtcec: the signatures are btcec's (deterministic, low S), so
// that nothing signed changes with the library.
func TestSignsAsBtcec(t *testing.T) {
	k, _ := FromHex(knownKey)
	for i := range 20 {
		h := Keccak256([]byte{byte(i)})
		sig, err := k.SignHash(h)
		if err != nil {
			t.Fatal(err)
		}
		c := becdsa.SignCompact(k.Private(), h, false)
		want := append(append([]byte{}, c[1:]...), c[0])
		if !bytes.Equal(sig, want) {
			t.Fatalf("hash %d: signature %x, btcec %x", i, sig, want)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.key")
	a, created, err := LoadOrCreate(p)
	if err != nil || !created {
		t.Fatal(err, created)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	b, created, err := LoadOrCreate(p)
	if err != nil || created || b.Address() != a.Address() {
		t.Fatal("reload gave another key")
	}
}

func TestRecoverPublic(t *testing.T) {
	k, _ := FromHex(knownKey)
	h := Keccak256([]byte("hello"))
	sig, _ := k.SignHash(h)
	pub, err := RecoverPublic(h, sig)
	if err != nil || !bytes.Equal(pub.SerializeCompressed(), k.PublicKey()) || AddressOf(pub) != knownAddr {
		t.Fatalf("recovered %v, %v", pub, err)
	}
	if _, err := RecoverPublic(h, sig[:64]); err == nil {
		t.Fatal("short signature recovered")
	}
}

// Both ends of a pair compute the same ECDH secret, and a third key
// another.
func TestSharedSecret(t *testing.T) {
	a, _ := FromHex(knownKey)
	b, _ := FromHex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
	c, _ := FromHex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
	pa, _ := ParsePublicKey(a.PublicKey())
	pb, err := ParsePublicKey(b.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ab, ba := a.SharedSecret(pb), b.SharedSecret(pa)
	if len(ab) != 32 || !bytes.Equal(ab, ba) {
		t.Fatalf("secrets %x and %x", ab, ba)
	}
	if bytes.Equal(c.SharedSecret(pb), ab) {
		t.Fatal("a third key shares the pair's secret")
	}
}

func TestParsePublicKey(t *testing.T) {
	k, _ := FromHex(knownKey)
	pub, err := ParsePublicKey(k.PublicKey())
	if err != nil || AddressOf(pub) != knownAddr {
		t.Fatalf("%v %v", pub, err)
	}
	notOnCurve := append([]byte{2}, bytes.Repeat([]byte{0xff}, 32)...) // x ≥ p
	uncompressed := k.Private().PubKey().SerializeUncompressed()
	for _, b := range [][]byte{nil, {2}, k.PublicKey()[:32], append(k.PublicKey(), 0), notOnCurve, uncompressed,
		append([]byte{5}, k.PublicKey()[1:]...)} {
		if _, err := ParsePublicKey(b); err == nil {
			t.Fatalf("%x parsed", b)
		}
	}
}
