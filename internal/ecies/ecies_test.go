package ecies

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Hardhat's first development key.
const testKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

func key(t testing.TB) *btcec.PrivateKey {
	raw, _ := hex.DecodeString(testKey)
	k, _ := btcec.PrivKeyFromBytes(raw)
	return k
}

// A ciphertext made by eciesjs 0.3.21 (the JavaScript twin of eciespy
// 0.3.x, same layout and KDF): encrypt(pubOf(testKey), plaintext).
const eciesjsVector = "04eb0ff7c122381ca921be5516f79bb88dd032d0c9bf948ba7c92f0dd97f82a5df01a8eb64bc0cba5d9d4306205f55b580118af22e63f5e3bf2711b56f714a7e534dfb6f3866f097b6d9e7ea406995f46cd661cdacacc2ef1e57f37698dcfa4462e8d0c4903f6568e33cbd515405eb68681d8487578ed7b8166ea0ec1a4e4606f0c61154a1a40663ff1b50da7bc45ab55fd60cd7090ca6bf2993561294281f31790f9e3dc157adc89429ee7b"

const vectorPlain = `{"files":[{"type":"url","url":"https://example.com/a.csv","method":"GET"}]}`

func TestDecryptEciesjsVector(t *testing.T) {
	ct, _ := hex.DecodeString(eciesjsVector)
	pt, err := Decrypt(key(t), ct)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != vectorPlain {
		t.Fatalf("got %q", pt)
	}
}

func TestRoundTripAndLayout(t *testing.T) {
	k := key(t)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 1 << 16} {
		pt := make([]byte, n)
		rand.Read(pt)
		ct, err := Encrypt(k.PubKey(), pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != Overhead+n || ct[0] != 0x04 {
			t.Fatalf("len %d: ciphertext is %d bytes starting %x", n, len(ct), ct[0])
		}
		got, err := Decrypt(k, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("len %d: round trip failed: %v", n, err)
		}
	}
}

func TestDeterministicVector(t *testing.T) {
	// Fixed ephemeral key and nonce: the output is a regression vector for
	// the layout pub65 || nonce16 || tag16 || ciphertext.
	seed := bytes.Repeat([]byte{7}, 32+16)
	ct, err := encrypt(bytes.NewReader(seed), key(t).PubKey(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	eph, _ := btcec.PrivKeyFromBytes(seed[:32])
	if !bytes.Equal(ct[:65], eph.PubKey().SerializeUncompressed()) || !bytes.Equal(ct[65:81], seed[32:]) {
		t.Fatal("ephemeral key or nonce not where eciespy puts them")
	}
	if got, err := Decrypt(key(t), ct); err != nil || string(got) != "hello" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestRefusals(t *testing.T) {
	k := key(t)
	ct, _ := Encrypt(k.PubKey(), []byte("secret"))
	other, _ := btcec.NewPrivateKey()
	if _, err := Decrypt(other, ct); err != ErrDecrypt {
		t.Fatalf("wrong key: %v", err)
	}
	for _, i := range []int{1, 70, 85, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[i] ^= 1
		if _, err := Decrypt(k, bad); err == nil {
			t.Fatalf("tampered byte %d decrypted", i)
		}
	}
	if _, err := Decrypt(k, ct[:Overhead-1]); err != ErrDecrypt {
		t.Fatal("short ciphertext accepted")
	}
}

func FuzzDecrypt(f *testing.F) {
	ct, _ := hex.DecodeString(eciesjsVector)
	f.Add(ct)
	f.Add([]byte{4})
	f.Add(bytes.Repeat([]byte{4}, Overhead))
	k := key(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Decrypt(k, data) // must not panic
	})
}

func BenchmarkEncrypt1MiB(b *testing.B) {
	k := key(b)
	pt := make([]byte, 1<<20)
	b.SetBytes(int64(len(pt)))
	for i := 0; i < b.N; i++ {
		if _, err := Encrypt(k.PubKey(), pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt1MiB(b *testing.B) {
	k := key(b)
	ct, _ := Encrypt(k.PubKey(), make([]byte, 1<<20))
	b.SetBytes(1 << 20)
	for i := 0; i < b.N; i++ {
		if _, err := Decrypt(k, ct); err != nil {
			b.Fatal(err)
		}
	}
}
