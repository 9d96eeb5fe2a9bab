package network

import (
	"context"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/prometheus-dds/dds/internal/identity"
)

// Test hooks: compiled into this package's tests only.

// HasPairKey tells whether n keeps a pairwise key with member id.
func (n *Network) HasPairKey(id string) bool { return n.pairs.get(id) != nil }

// Accepted counts the node-to-node requests n accepted, signed and MAC'd.
func (n *Network) Accepted() (signed, maced int64) {
	return n.auths.signed.Load(), n.auths.maced.Load()
}

// NewMACed builds a request as node from to member to at now, MAC'd under
// the pairwise key of k and toPub, and telling pub as the sender's public
// key: whatever anyone can forge, member or not.
func NewMACed(ctx context.Context, k *identity.Key, from string, pub []byte, to Member, toPub []byte, now time.Time, method, path string, body []byte) (*http.Request, error) {
	p, err := identity.ParsePublicKey(toPub)
	if err != nil {
		return nil, err
	}
	key := &pairKey{pub: toPub, key: pairwiseKey(k.SharedSecret(p), k.ID(), to.ID)}
	return newRequest(ctx, from, to, now, method, path, body, func(req *http.Request, d func(string) []byte) error {
		req.Header.Set(hMAC, hex.EncodeToString(key.mac(d(macLabel))))
		req.Header.Set(hPublicKey, hex.EncodeToString(pub))
		return nil
	})
}
