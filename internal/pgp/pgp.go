// Package pgp holds the node's OpenPGP key, with which the deal module
// clear-signs its answers, and the verification of clear-signed texts.
package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/prometheus-dds/dds/internal/identity"
)

// Key is the node's OpenPGP key.
type Key struct {
	entity *openpgp.Entity
	public []byte // armored public key
}

// config pins what the signatures use: SHA-512 (as the original module
// does) and Ed25519 v4 keys, which every OpenPGP implementation in use reads.
func config(now func() time.Time) *packet.Config {
	return &packet.Config{DefaultHash: crypto.SHA512, Algorithm: packet.PubKeyAlgoEdDSA, Time: now}
}

// LoadOrCreate reads the armored private key at path or, the first time,
// creates one for name, dated now, and writes it (mode 0600).
func LoadOrCreate(path, name string, now time.Time) (k *Key, created bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		e, err := openpgp.NewEntity(name, "deal module", "", config(func() time.Time { return now }))
		if err != nil {
			return nil, false, fmt.Errorf("pgp: create key: %w", err)
		}
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
		if err != nil {
			return nil, false, err
		}
		if err := e.SerializePrivate(w, nil); err != nil {
			return nil, false, fmt.Errorf("pgp: serialise key: %w", err)
		}
		w.Close()
		buf.WriteByte('\n')
		if err := identity.WriteSecret(path, buf.Bytes()); err != nil {
			return nil, false, err
		}
		raw, created = buf.Bytes(), true
	} else if err != nil {
		return nil, false, err
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(raw))
	if err != nil || len(ring) != 1 || ring[0].PrivateKey == nil {
		return nil, false, fmt.Errorf("pgp: %s does not hold one OpenPGP private key", path)
	}
	k = &Key{entity: ring[0]}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, false, err
	}
	if err := k.entity.Serialize(w); err != nil {
		return nil, false, err
	}
	w.Close()
	pub.WriteByte('\n')
	k.public = pub.Bytes()
	return k, created, nil
}

// PublicKey is the armored public key.
func (k *Key) PublicKey() []byte { return k.public }

// Fingerprint is the key's fingerprint in upper-case hex.
func (k *Key) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", k.entity.PrimaryKey.Fingerprint))
}

// ClearSign returns text clear-signed with SHA-512, signed at now.
func (k *Key) ClearSign(text []byte, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, k.entity.PrivateKey, config(func() time.Time { return now }))
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(text); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return withChecksum(buf.Bytes())
}

// withChecksum re-armors the signature block with the CRC-24 line that
// go-crypto leaves out (RFC 9580 makes it optional) but GnuPG 2.2, still the
// most deployed verifier, needs to find the end of the block.
func withChecksum(signed []byte) ([]byte, error) {
	const begin = "-----BEGIN PGP SIGNATURE-----"
	i := bytes.LastIndex(signed, []byte(begin))
	if i < 0 {
		return nil, errors.New("pgp: clear-signed output without a signature block")
	}
	blk, err := armor.Decode(bytes.NewReader(signed[i:]))
	if err != nil {
		return nil, err
	}
	sig, err := io.ReadAll(blk.Body)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(append([]byte(nil), signed[:i]...))
	w, err := armor.EncodeWithChecksumOption(out, blk.Type, nil, true)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(sig); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Keyring returns the node key's public part as a keyring, plus any
// further armored public keys.
func (k *Key) Keyring(armored ...string) openpgp.EntityList {
	ring := openpgp.EntityList{k.entity}
	for _, a := range armored {
		if l, err := openpgp.ReadArmoredKeyRing(strings.NewReader(a)); err == nil {
			ring = append(ring, l...)
		}
	}
	return ring
}

// Verified is a clear-signed text whose signature checked out.
type Verified struct {
	Text        []byte // the signed text
	Fingerprint string // of the signing key
	Signer      string // its first user id
}

// ErrNotSigned is returned when data holds no clear-signed block.
var ErrNotSigned = errors.New("no OpenPGP clear-signed message found")

// Verify checks the clear-signed text in data against ring.
func Verify(data []byte, ring openpgp.EntityList, now time.Time) (Verified, error) {
	b, _ := clearsign.Decode(data)
	if b == nil {
		return Verified{}, ErrNotSigned
	}
	signer, err := b.VerifySignature(ring, &packet.Config{Time: func() time.Time { return now }})
	if err != nil {
		return Verified{}, fmt.Errorf("the signature does not verify: %v", err)
	}
	v := Verified{Text: b.Plaintext, Fingerprint: strings.ToUpper(fmt.Sprintf("%x", signer.PrimaryKey.Fingerprint))}
	for name := range signer.Identities {
		v.Signer = name
		break
	}
	return v, nil
}

// ParsePublicKey checks an armored OpenPGP public key.
func ParsePublicKey(armored string) error {
	l, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil || len(l) == 0 {
		return fmt.Errorf("invalid PGP public key: %v", err)
	}
	return nil
}
