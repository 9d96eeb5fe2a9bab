// Package ecies is the elliptic-curve integrated encryption scheme of
// eciespy 0.3.x (the library the Ocean provider uses), so that documents
// encrypted by an Ocean provider or its clients decrypt here and vice versa.
//
// Layout: ephemeral secp256k1 public key (65 bytes, uncompressed) || 16-byte
// nonce || 16-byte GCM tag || AES-256-GCM ciphertext. The AES key is
// HKDF-SHA256(ephemeralPub65 || sharedPoint65) with no salt and no info.
package ecies

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

const (
	pubLen   = 65
	nonceLen = 16
	tagLen   = 16
	// Overhead is how many bytes encryption adds to a plaintext.
	Overhead = pubLen + nonceLen + tagLen
)

// ErrDecrypt is returned for any ciphertext that does not decrypt; it says
// nothing more, on purpose.
var ErrDecrypt = errors.New("ecies: ciphertext does not decrypt with this key")

// Encrypt encrypts plaintext to the holder of pub.
func Encrypt(pub *btcec.PublicKey, plaintext []byte) ([]byte, error) {
	return encrypt(rand.Reader, pub, plaintext)
}

func encrypt(rnd io.Reader, pub *btcec.PublicKey, plaintext []byte) ([]byte, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return nil, err
	}
	eph, _ := btcec.PrivKeyFromBytes(seed[:]) // reduced mod n
	if eph.Key.IsZero() {
		return nil, errors.New("ecies: zero ephemeral key")
	}
	ephPub := eph.PubKey().SerializeUncompressed()
	aead, err := newAEAD(ephPub, shared(eph, pub))
	if err != nil {
		return nil, err
	}
	out := make([]byte, pubLen+nonceLen, Overhead+len(plaintext))
	copy(out, ephPub)
	nonce := out[pubLen : pubLen+nonceLen]
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nil, nonce, plaintext, nil) // ciphertext || tag
	ct, tag := sealed[:len(plaintext)], sealed[len(plaintext):]
	out = append(out, tag...)
	return append(out, ct...), nil
}

// Decrypt decrypts data encrypted to priv's public key.
func Decrypt(priv *btcec.PrivateKey, data []byte) ([]byte, error) {
	if len(data) < Overhead || data[0] != 0x04 {
		return nil, ErrDecrypt
	}
	ephPub, err := btcec.ParsePubKey(data[:pubLen])
	if err != nil {
		return nil, ErrDecrypt
	}
	aead, err := newAEAD(data[:pubLen], shared(priv, ephPub))
	if err != nil {
		return nil, err
	}
	nonce := data[pubLen : pubLen+nonceLen]
	tag := data[pubLen+nonceLen : Overhead]
	ct := data[Overhead:]
	sealed := make([]byte, 0, len(ct)+tagLen)
	sealed = append(append(sealed, ct...), tag...)
	pt, err := aead.Open(sealed[:0], nonce, sealed, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// shared is the uncompressed ECDH point priv·pub (65 bytes), as eciespy
// feeds it to the KDF.
func shared(priv *btcec.PrivateKey, pub *btcec.PublicKey) []byte {
	var p, r btcec.JacobianPoint
	pub.AsJacobian(&p)
	btcec.ScalarMultNonConst(&priv.Key, &p, &r)
	r.ToAffine()
	return btcec.NewPublicKey(&r.X, &r.Y).SerializeUncompressed()
}

func newAEAD(ephPub, sharedPoint []byte) (cipher.AEAD, error) {
	ikm := make([]byte, 0, 2*pubLen)
	ikm = append(append(ikm, ephPub...), sharedPoint...)
	key, err := hkdf.Key(sha256.New, ikm, nil, "", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithNonceSize(block, nonceLen)
}
