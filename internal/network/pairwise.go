package network

// Pairwise keys: once two nodes know each other's public key, their
// requests are authenticated by an HMAC-SHA256 under a key both derive from
// their static keys (ECDH on secp256k1), instead of a signature per request:
// no elliptic-curve work at all per request, one ECDH per pair and process.
//
// A public key is self-authenticating: a node's id is the address of its
// key, so a key is taken for a member only if AddressOf(key) is the
// member's id, wherever it came from (its hello, a header, a signature it
// made). Whoever holds the key of id can derive the pair's key with this
// node; nobody else can, as the signature path allowed only the holder of
// that key to sign. Pairwise keys live in memory only.

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/prometheus-dds/dds/internal/identity"
)

// pairLabel names the derivation of pairwise keys (HKDF's info, with the
// two ids).
const pairLabel = "dds-pairwise-v1"

// pairKey is this node's key with one member.
type pairKey struct {
	pub []byte // the member's compressed public key
	key []byte // HKDF-SHA256 of the ECDH secret, pairLabel and both ids
}

// mac is the HMAC-SHA256 of a request's digest under the pair's key.
func (p *pairKey) mac(digest []byte) []byte {
	h := hmac.New(sha256.New, p.key)
	h.Write(digest)
	return h.Sum(nil)
}

// pairKeys holds the pairwise keys with members, by member id: entries are
// made for known members only, so there are at most as many as members.
type pairKeys struct {
	mu sync.RWMutex
	m  map[string]*pairKey
}

func (p *pairKeys) get(id string) *pairKey {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m[id]
}

func (p *pairKeys) put(id string, k *pairKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*pairKey{}
	}
	p.m[id] = k
}

func (p *pairKeys) drop(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, id)
}

// pairwiseKey derives the key of two nodes from their ECDH secret: HKDF
// with the secret as input key material, and as info the label and both
// ids in sorted order, so both ends derive the same key and a key is bound
// to its pair. (The MAC'd digest also names the sender and the receiver,
// so a request one of them sent cannot be reflected back as the other's.)
func pairwiseKey(secret []byte, a, b string) []byte {
	lo, hi := min(a, b), max(a, b)
	k, err := hkdf.Key(sha256.New, secret, nil, pairLabel+"\n"+lo+"\n"+hi, 32)
	if err != nil {
		panic(err) // only for a length HKDF-SHA256 cannot make
	}
	return k
}

var errPublicKey = errors.New("public key is not the node's")

// pairKeyFor returns the pairwise key with member id, whose compressed
// public key is raw, deriving and keeping it on first use. raw must be the
// key of id (its address is id), and id a member other than this node.
// The ECDH is done once per member; after that raw is only compared with
// the key kept.
func (n *Network) pairKeyFor(id string, raw []byte) (*pairKey, error) {
	if k := n.pairs.get(id); k != nil {
		if !bytes.Equal(k.pub, raw) {
			return nil, errPublicKey // an id has one key: the one that derived this
		}
		return k, nil
	}
	pub, err := identity.ParsePublicKey(raw)
	if err != nil {
		return nil, errPublicKey
	}
	return n.derive(id, pub)
}

// derive makes and keeps the pairwise key with member id of public key pub.
func (n *Network) derive(id string, pub *btcec.PublicKey) (*pairKey, error) {
	if !strings.EqualFold(identity.AddressOf(pub), id) {
		return nil, errPublicKey
	}
	if m, ok := n.Member(id); !ok || m.Self {
		return nil, errors.New("not a member")
	}
	k := &pairKey{pub: pub.SerializeCompressed(), key: pairwiseKey(n.key.SharedSecret(pub), n.ID(), id)}
	n.pairs.put(id, k)
	return k, nil
}

// learn keeps the pairwise key with member id from its public key in hex,
// as its hello or an answer of it tells (X-Dds-Public-Key), if it is not
// kept already. A key that is not id's, or of a node that is not a member,
// is ignored: the node's requests to id stay signed.
func (n *Network) learn(id, pubHex string) {
	if pubHex == "" || n.pairs.get(id) != nil {
		return
	}
	if raw, ok := decodeHex(pubHex, btcec.PubKeyBytesLenCompressed); ok {
		_, _ = n.pairKeyFor(id, raw)
	}
}

// decodeHex decodes a hex header value of want bytes, with or without 0x;
// ok is false for anything else (its length is checked before decoding).
func decodeHex(s string, want int) ([]byte, bool) {
	s = strings.TrimPrefix(s, "0x")
	if len(s) != 2*want {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}
