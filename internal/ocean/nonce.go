package ocean

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/identity"
)

// MessageHash is what a client signs for a request: keccak256 of the UTF-8
// message original+nonce, wrapped in the EIP-191 personal-message prefix
// for its 32 bytes.
func MessageHash(original, nonce string) []byte {
	return identity.EthMessageHash(identity.Keccak256([]byte(original + nonce)))
}

// ParseSignature reads a 0x-hex 65-byte r||s||v signature.
func ParseSignature(s string) ([]byte, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(raw) != 65 {
		return nil, errors.New("signature must be 65 bytes, 0x-hex encoded")
	}
	return raw, nil
}

// VerifySignature checks that address signed original+nonce.
func VerifySignature(address, original, nonce, signature string) error {
	sig, err := ParseSignature(signature)
	if err != nil {
		return apierr.Unauthorized("Invalid signature: %v", err)
	}
	signer, err := identity.Recover(MessageHash(original, nonce), sig)
	if err != nil {
		return apierr.Unauthorized("Invalid signature: %v", err)
	}
	if !strings.EqualFold(signer, address) {
		return apierr.Unauthorized("Invalid signature: the request was signed by %s, not %s", signer, address)
	}
	return nil
}

// ParseNonce reads a nonce: a non-negative decimal integer or fraction
// (clients send millisecond timestamps, counters or "1644315615.24195").
func ParseNonce(s string) (*big.Rat, error) {
	if s == "" || len(s) > 78 || strings.Trim(s, "0123456789.") != "" || strings.Count(s, ".") > 1 || s == "." {
		return nil, apierr.BadRequest("invalid_nonce", "nonce %q is not a non-negative decimal number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, apierr.BadRequest("invalid_nonce", "nonce %q is not a non-negative decimal number", s)
	}
	return r, nil
}

// currentNonce is the last nonce address used ("0" for a new address).
func (s *Service) currentNonce(r *http.Request, address string) (string, error) {
	n, ok, err := s.provStore.Nonce(r.Context(), strings.ToLower(address))
	if err == nil && !ok {
		return "0", nil
	}
	return n, err
}

// useNonce records nonce as address's latest, refusing one that is not
// greater than the last (a replay). Where the store's writes run one at a
// time, once the nonce is written in the transaction (later requests of
// address will see it) it sends nil on fresh, before the commit makes it
// durable; otherwise, and on a refusal, it sends nothing.
func (s *Service) useNonce(ctx context.Context, address, nonce string, fresh chan<- error) error {
	next, err := ParseNonce(nonce)
	if err != nil {
		return err
	}
	addr := strings.ToLower(address)
	return s.provStore.InTx(ctx, func(ctx context.Context) error {
		last, ok, err := s.provStore.Nonce(ctx, addr)
		if err != nil {
			return err
		}
		if ok {
			prev, perr := ParseNonce(last)
			if perr == nil && next.Cmp(prev) <= 0 {
				return apierr.BadRequest("invalid_nonce", "Invalid nonce %s: it must be greater than the last nonce used by %s, %s (a replayed request?)", nonce, address, last)
			}
		}
		if err := s.provStore.SetNonce(ctx, addr, nonce, s.clock.Now()); err != nil {
			return err
		}
		if s.provStore.SerialWrites() {
			select { // a retried transaction sends once
			case fresh <- nil:
			default:
			}
		}
		return nil
	})
}

// A nonceUse is a signed request's nonce being recorded in the background.
// Fresh waits for its verdict: nil once it is recorded (later requests see
// it; with SQLite before it is durable, with PostgreSQL once committed), or
// why it was refused. Written waits until it is durable. A download starts streaming on the verdict and holds its last
// bytes back until the write, so a complete answer always follows a
// durable nonce.
type nonceUse struct{ Fresh, Written func() error }

// byToken is a request authorized by a token: no nonce to wait for.
var byToken = nonceUse{Fresh: func() error { return nil }, Written: func() error { return nil }}

// absent tells whether a signature parameter is missing; ocean.js sends
// "null" when it authenticates with a token instead.
func absent(sig string) bool { return sig == "" || sig == "null" || sig == "undefined" }

// authorize checks that address made this request: by its signature of
// original+nonce with a fresh nonce, or, when no signature is given, by an
// auth token of that address in the AuthToken (or Authorization) header.
func (s *Service) authorize(r *http.Request, address, original string, sig signed) error {
	use, err := s.beginAuthorize(r, address, original, sig)
	if err != nil {
		return err
	}
	return use.Written()
}

// beginAuthorize is authorize in steps: it checks the token or the
// signature, then records the nonce in the background. A download overlaps
// that with its own lookups and its streaming (see nonceUse).
func (s *Service) beginAuthorize(r *http.Request, address, original string, sig signed) (nonceUse, error) {
	nonce, signature := sig.Nonce, sig.Signature
	if absent(signature) {
		tok := r.Header.Get("AuthToken")
		if tok == "" {
			tok = strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}
		if tok == "" {
			return nonceUse{}, apierr.BadRequest("missing_parameter", "signature is required (or an AuthToken header)")
		}
		holder, err := s.checkToken(r, tok)
		if err != nil {
			return nonceUse{}, err
		}
		if !strings.EqualFold(holder, address) {
			return nonceUse{}, apierr.Unauthorized("the auth token belongs to %s, not %s", holder, address)
		}
		return byToken, nil
	}
	if nonce == "" {
		return nonceUse{}, apierr.BadRequest("missing_parameter", "nonce is required")
	}
	if _, err := ParseNonce(nonce); err != nil {
		return nonceUse{}, err
	}
	// The signature first: an unsigned request must not burn a nonce.
	if err := VerifySignature(address, original, nonce, signature); err != nil {
		return nonceUse{}, err
	}
	fresh, written := make(chan error, 1), make(chan error, 1)
	go func() {
		err := s.useNonce(r.Context(), address, nonce, fresh)
		select { // refused, or failed before its verdict
		case fresh <- err:
		default:
		}
		written <- err
	}()
	return nonceUse{
		Fresh:   sync.OnceValue(func() error { return <-fresh }),
		Written: sync.OnceValue(func() error { return <-written }),
	}, nil
}

type nonceRequest struct {
	UserAddress string `param:"userAddress"`
}

func (s *Service) nonce(w http.ResponseWriter, r *http.Request) error {
	var q nonceRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	if err := address("userAddress", q.UserAddress); err != nil {
		return err
	}
	n, err := s.currentNonce(r, q.UserAddress)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, api.OceanNonce{Nonce: n})
	return nil
}

// tokenClaims are an auth token's claims, as the real provider issues them.
type tokenClaims struct {
	Address string `json:"address"`
	jwt.RegisteredClaims
}

// defaultTokenLife is used when the client names no expiration
// (ocean.js 4.x does not).
const defaultTokenLife = time.Hour

// maxTokenLife bounds how far ahead a token may expire.
const maxTokenLife = 30 * 24 * time.Hour

// tokenRequest asks for an auth token, or to revoke one (Token).
type tokenRequest struct {
	Address    string `param:"address"`
	Token      string `param:"token"`
	Expiration string `param:"expiration"`
	signed
}

func (s *Service) createAuthToken(w http.ResponseWriter, r *http.Request) error {
	var q tokenRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	if err := first(address("address", q.Address), required("signature", q.Signature), required("nonce", q.Nonce)); err != nil {
		return err
	}
	addr := q.Address
	now := s.clock.Now()
	exp := now.Add(defaultTokenLife)
	if v := q.Expiration; v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs > 1e12 {
			return apierr.BadRequest("invalid_parameter", "expiration %q is not a UTC timestamp in seconds", v)
		}
		exp = time.Unix(int64(secs), 0)
		if !exp.After(now) {
			return apierr.BadRequest("invalid_parameter", "expiration %s is not in the future", v)
		}
		if exp.Sub(now) > maxTokenLife {
			return apierr.BadRequest("invalid_parameter", "expiration may be at most %s ahead", maxTokenLife)
		}
	}
	if err := s.authorizeSigned(r, addr, addr, q.signed); err != nil {
		return err
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{Address: addr,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)}}).SignedString(s.jwtKey)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, api.OceanAuthToken{Token: tok})
	return nil
}

func (s *Service) deleteAuthToken(w http.ResponseWriter, r *http.Request) error {
	var q tokenRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	if err := first(address("address", q.Address), required("token", q.Token), required("signature", q.Signature), required("nonce", q.Nonce)); err != nil {
		return err
	}
	addr, tok := q.Address, q.Token
	if err := s.authorizeSigned(r, addr, addr, q.signed); err != nil {
		return err
	}
	holder, claims, err := s.parseToken(tok)
	if err != nil {
		return apierr.BadRequest("invalid_token", "Token is invalid or expired: %v", err)
	}
	if !strings.EqualFold(holder, addr) {
		return apierr.Unauthorized("the token belongs to %s, not %s", holder, addr)
	}
	revoked, err := s.provStore.RevokeToken(r.Context(), tokenHash(tok), claims.ExpiresAt.Time, s.clock.Now())
	if err != nil {
		return err
	}
	if !revoked {
		return apierr.BadRequest("invalid_token", "Token is already deactivated")
	}
	httpjson.Write(w, http.StatusOK, api.OceanTokenDeleted{Success: "Token has been deactivated."})
	return nil
}

// authorizeSigned is authorize without the token alternative (the auth
// token routes themselves must be signed).
func (s *Service) authorizeSigned(r *http.Request, address, original string, sig signed) error {
	if absent(sig.Signature) {
		return apierr.BadRequest("missing_parameter", "signature is required")
	}
	return s.authorize(r, address, original, sig)
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func (s *Service) parseToken(tok string) (string, *tokenClaims, error) {
	var c tokenClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.clock.Now))
	if err != nil {
		return "", nil, err
	}
	if !identity.ValidAddress(c.Address) {
		return "", nil, errors.New("token names no address")
	}
	return c.Address, &c, nil
}

// checkToken returns the address an unrevoked, unexpired auth token is for.
func (s *Service) checkToken(r *http.Request, tok string) (string, error) {
	holder, _, err := s.parseToken(tok)
	if err != nil {
		return "", apierr.Unauthorized("Token is invalid or expired: %v", err)
	}
	revoked, err := s.provStore.TokenRevoked(r.Context(), tokenHash(tok))
	if err != nil {
		return "", err
	}
	if revoked {
		return "", apierr.Unauthorized("Token has been deactivated")
	}
	return holder, nil
}
