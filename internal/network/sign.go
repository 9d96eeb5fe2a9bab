package network

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/route"
)

// Prefix is where the node-to-node API lives.
const Prefix = "/internal/v1/"

// MaxBody bounds the body of a signed request: node-to-node messages are
// small; bulk data is pulled with signed GETs instead.
const MaxBody = 1 << 20

// Headers of a signed request. A request is authenticated either by a
// signature (hSignature) or, once the sender knows the receiver's public
// key, by an HMAC under the pair's key (hMAC). Either way it carries the
// sender's public key (hPublicKey), from which a receiver that does not
// keep the pair's key yet derives it; an answer to a signed request carries
// the receiver's, so that the sender MACs its next requests. Nodes older
// than MACs tell no public key: they are sent signed requests only.
const (
	hNode      = "X-Dds-Node"
	hTo        = "X-Dds-To"
	hTime      = "X-Dds-Time"
	hNonce     = "X-Dds-Nonce"
	hBody      = "X-Dds-Body-Sha256"
	hSignature = "X-Dds-Signature"
	hMAC       = "X-Dds-Mac"
	hPublicKey = "X-Dds-Public-Key"
)

// Labels of the digests: a signature's and a MAC's differ, so that one can
// never be taken for the other.
const (
	signLabel = "dds-internal-v1"
	macLabel  = "dds-internal-mac-v1"
)

// digest is what the sender signs or MACs: everything that makes the
// request what it is, including the node it is meant for, so it cannot be
// replayed elsewhere.
func digest(label, method, uri, from, to, ts, nonce, bodyHash string) []byte {
	return identity.Keccak256([]byte(strings.Join([]string{label, method, uri, from, to, ts, nonce, bodyHash}, "\n")))
}

// do sends a signed request to a member. body may be nil.
func (n *Network) do(ctx context.Context, to Member, method, path string, body []byte) (*http.Response, error) {
	req, err := n.NewSigned(ctx, to, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := n.client.Do(req)
	if err == nil {
		n.touch(to.ID)
		n.learn(to.ID, resp.Header.Get(hPublicKey))
		if resp.StatusCode == http.StatusUnauthorized && req.Header.Get(hMAC) != "" {
			// The member does not take MACs (any more: an older version
			// restarted): sign to it until it tells its key again. This
			// request is not retried.
			n.pairs.drop(to.ID)
		}
	}
	return resp, err
}

// NewSigned builds a request to a member, authenticated by this node: MAC'd
// under the pair's key if this node keeps it, signed otherwise.
func (n *Network) NewSigned(ctx context.Context, to Member, method, path string, body []byte) (*http.Request, error) {
	return newRequest(ctx, n.ID(), to, n.clock.Now(), method, path, body, func(req *http.Request, d func(label string) []byte) error {
		req.Header.Set(hPublicKey, n.pubHex)
		if k := n.pairs.get(to.ID); k != nil {
			req.Header.Set(hMAC, hex.EncodeToString(k.mac(d(macLabel))))
			return nil
		}
		sig, err := n.key.SignHash(d(signLabel))
		if err != nil {
			return err
		}
		req.Header.Set(hSignature, "0x"+hex.EncodeToString(sig))
		return nil
	})
}

// newRequest builds a request from node from to member to at now, and has
// authenticate add the headers that authenticate it, given the digest
// under a label.
func newRequest(ctx context.Context, from string, to Member, now time.Time, method, path string, body []byte,
	authenticate func(req *http.Request, digest func(label string) []byte) error) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(to.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	bh := sha256.Sum256(body)
	ts := now.Format(time.RFC3339Nano)
	h, nh := hex.EncodeToString(bh[:]), hex.EncodeToString(nonce)
	uri := req.URL.RequestURI()
	if err := authenticate(req, func(label string) []byte { return digest(label, method, uri, from, to.ID, ts, nh, h) }); err != nil {
		return nil, err
	}
	req.Header.Set(hNode, from)
	req.Header.Set(hTo, to.ID)
	req.Header.Set(hTime, ts)
	req.Header.Set(hNonce, nh)
	req.Header.Set(hBody, h)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

type senderKey struct{}

// sender returns the id of the node that signed the request being served.
func sender(ctx context.Context) string {
	s, _ := ctx.Value(senderKey{}).(string)
	return s
}

// handle registers a node-to-node handler: only requests signed by a known
// member, fresh and never seen before, reach it.
func (n *Network) handle(mux route.Mux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sender, err := n.verify(r)
		if err != nil {
			n.log.Warn("refused internal request", "path", r.URL.Path, "from", r.Header.Get(hNode), "remote", r.RemoteAddr, "reason", err)
			jsonapi.WriteError(w, n.log, err)
			return
		}
		n.touch(sender)
		if r.Header.Get(hMAC) == "" {
			// The sender signed: it does not know this node's key yet.
			w.Header().Set(hPublicKey, n.pubHex)
		}
		h(w, r.WithContext(context.WithValue(r.Context(), senderKey{}, sender)))
	})
}

// authCounts counts the requests accepted, by how they were authenticated.
type authCounts struct {
	signed, maced atomic.Int64
}

func (n *Network) verify(r *http.Request) (string, error) {
	deny := func(format string, args ...any) error {
		return apierr.New(http.StatusUnauthorized, "bad_node_signature", format, args...)
	}
	from, to, ts, nonce, bh := r.Header.Get(hNode), r.Header.Get(hTo), r.Header.Get(hTime), r.Header.Get(hNonce), r.Header.Get(hBody)
	sigHex, macHex := r.Header.Get(hSignature), r.Header.Get(hMAC)
	if from == "" || (sigHex == "" && macHex == "") {
		return "", deny("node-to-node requests must be signed by a member node")
	}
	if nonce == "" || len(nonce) > 64 {
		return "", deny("bad %s header", hNonce)
	}
	if to != n.ID() {
		return "", deny("request is addressed to node %q, not this one", to)
	}
	m, ok := n.Member(from)
	if !ok || m.Self {
		return "", deny("unknown node %q", from)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return "", deny("bad %s header", hTime)
	}
	now := n.clock.Now()
	if d := now.Sub(t); d > n.cfg.MaxSkew || d < -n.cfg.MaxSkew {
		return "", deny("request time %s is too far from this node's %s", ts, now.Format(time.RFC3339))
	}
	var signer *btcec.PublicKey // of a signed request, to derive the pair's key from
	if sigHex != "" {
		// Signed: by a node that does not know this one's key yet, or an
		// older one that MACs nothing.
		sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
		if err != nil {
			return "", deny("signature is not hex")
		}
		signer, err = identity.RecoverPublic(digest(signLabel, r.Method, r.URL.RequestURI(), from, to, ts, nonce, bh), sig)
		if err != nil || !strings.EqualFold(identity.AddressOf(signer), from) {
			return "", deny("signature does not match node %s", from)
		}
	} else {
		// MAC'd: under the key of this node and the one whose public key
		// comes with the request, which must be the key of from. The MAC is
		// compared in constant time.
		pub, ok := decodeHex(r.Header.Get(hPublicKey), btcec.PubKeyBytesLenCompressed)
		if !ok {
			return "", deny("a MAC'd request needs the sender's compressed public key in %s", hPublicKey)
		}
		k, err := n.pairKeyFor(from, pub)
		if err != nil {
			return "", deny("%s is not the public key of node %s", hPublicKey, from)
		}
		mac, ok := decodeHex(macHex, sha256.Size)
		if !ok || !hmac.Equal(mac, k.mac(digest(macLabel, r.Method, r.URL.RequestURI(), from, to, ts, nonce, bh))) {
			return "", deny("MAC does not match node %s", from)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return "", apierr.BadRequest("bad_body", "cannot read body: %v", err)
	}
	if len(body) > MaxBody {
		return "", apierr.New(http.StatusRequestEntityTooLarge, "too_large", "node-to-node bodies are limited to %d bytes", MaxBody)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != bh {
		return "", deny("body does not match the signed hash")
	}
	// A write's nonce is kept in the database until the request is too old
	// anyway, so that a replay is refused by whichever process of this node
	// it reaches.
	fresh := true
	if replaySafe(r) {
		fresh = n.nonces.use(from+"/"+nonce, now)
	} else if fresh, err = n.store.UseNonce(r.Context(), from, nonce, t.Add(2*n.cfg.MaxSkew)); err != nil {
		return "", err
	}
	if !fresh {
		return "", apierr.New(http.StatusConflict, "replayed", "request nonce %s from %s was already used", nonce, from)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if signer != nil {
		n.auths.signed.Add(1)
		if n.pairs.get(from) == nil {
			// The signer's key, recovered anyway: if the signer tells it
			// too, it takes MACs, and this node MACs its own requests to it
			// from now on. One ECDH, once.
			if raw, ok := decodeHex(r.Header.Get(hPublicKey), btcec.PubKeyBytesLenCompressed); ok && bytes.Equal(raw, signer.SerializeCompressed()) {
				_, _ = n.derive(from, signer)
			}
		}
	} else {
		n.auths.maced.Add(1)
	}
	return from, nil
}

// replaySafe tells whether a replay of r would do no harm: it reads, or asks
// for what the first request got again (a quote signature is deterministic,
// an audit proof the same). Their nonces are remembered by the process that
// answered (recentNonces), not written to the database on every confirming
// peer for every quote: a request replayed to another process of the node,
// or after a restart, is answered again until it is too old, MaxSkew after
// it was signed. Writes (a record pushed, a forwarded payment or PATCH) keep
// their nonces in the database.
func replaySafe(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	switch r.URL.Path {
	case Prefix + "confirm", Prefix + "audit", accountsPath:
		return r.Method == http.MethodPost
	}
	return false
}

// serveHello adds the unsigned discovery endpoint.
func (n *Network) serveHello(mux route.Mux) {
	mux.HandleFunc("GET "+Prefix+"hello", func(w http.ResponseWriter, r *http.Request) {
		self := n.Self()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Hello{ID: self.ID, URL: self.URL, Gossip: self.Gossip, PublicKey: n.pubHex})
	})
}

// call sends a signed JSON request and decodes a JSON answer into out.
func (n *Network) call(ctx context.Context, to Member, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := n.do(ctx, to, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var doc jsonapi.ErrorDocument
		if json.Unmarshal(raw, &doc) == nil && len(doc.Errors) > 0 {
			return &RemoteError{Node: to.ID, Status: resp.StatusCode, Code: doc.Errors[0].Code, Detail: doc.Errors[0].Detail}
		}
		return &RemoteError{Node: to.ID, Status: resp.StatusCode, Detail: strings.TrimSpace(string(raw))}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, MaxBody)).Decode(out)
}

// RemoteError is an error answered by another node.
type RemoteError struct {
	Node   string
	Status int
	Code   string
	Detail string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("node %s answered %d %s: %s", e.Node, e.Status, e.Code, e.Detail)
}
