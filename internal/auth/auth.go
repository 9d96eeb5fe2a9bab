// Package auth holds the node's principals (accounts with a role), their
// bearer tokens and optional passwords. Every face maps its own scheme onto
// these principals.
package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/store"
)

// Role is what a principal may do.
type Role string

const (
	RoleUser    Role = "user"    // owns files and assets
	RolePayment Role = "payment" // the payment processor: reports payments
	RoleAdmin   Role = "admin"   // everything, and the statements
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleUser, RolePayment, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use user, payment or admin", s)
}

// Principal is an account of the node.
type Principal struct {
	ID      string
	Name    string
	Role    Role
	Created time.Time
}

// IsAdmin tells whether p has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Service manages principals and tokens.
type Service struct {
	store  Store
	clock  clock.Clock
	aead   cipher.AEAD
	signer Signer
	tokens tokenCache
}

// Config is what auth is opened with.
type Config struct {
	Secret []byte // 32 bytes that seal stored tokens, so their owners can list them
}

// Deps are what auth uses.
type Deps struct {
	Store Store
	Clock clock.Clock
	// Signer signs the account events made here, so that the network accepts
	// them; nil logs no events (the accounts stay on this node).
	Signer Signer
}

// New opens the principals, logging those of an earlier version.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	block, err := aes.NewCipher(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("auth: node secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &Service{store: deps.Store, clock: deps.Clock, aead: aead, signer: deps.Signer}
	if err := s.backfill(ctx); err != nil {
		return nil, fmt.Errorf("auth: log the accounts of an earlier version: %w", err)
	}
	return s, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ErrNoPrincipal is what Principal returns for an unknown id or name.
var ErrNoPrincipal = store.ErrNotFound

// ErrUnauthorized is returned for unknown tokens and wrong passwords.
var ErrUnauthorized = apierr.Unauthorized("missing, unknown or revoked credentials: send a valid token")

// CreatePrincipal adds a principal. An empty name gets a generated one.
func (s *Service) CreatePrincipal(ctx context.Context, name string, role Role) (Principal, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Principal{}, apierr.BadRequest("bad_role", "%v", err)
	}
	id := uuid.NewString()
	if name == "" {
		name = string(role) + "-" + id[:8]
	}
	if !nameRE.MatchString(name) {
		return Principal{}, apierr.BadRequest("bad_name", "name %q: use 1-64 letters, digits, '.', '_', '@' or '-'", name)
	}
	p := Principal{ID: id, Name: name, Role: role, Created: s.clock.Now()}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.AddPrincipal(ctx, p); err != nil {
			return err
		}
		if role == RoleAdmin {
			return nil // admins are per node
		}
		return s.record(ctx, Event{Kind: EventPrincipal, Principal: p.ID, Name: p.Name, Role: p.Role, Time: p.Created})
	})
	if errors.Is(err, ErrNameTaken) {
		return Principal{}, apierr.Conflict("name_taken", "a principal named %q exists already", name)
	}
	return p, err
}

// CountRole counts the principals with a role.
func (s *Service) CountRole(ctx context.Context, role Role) (int, error) {
	return s.store.CountRole(ctx, role)
}

// Principal looks a principal up by id or, failing that, by name.
func (s *Service) Principal(ctx context.Context, idOrName string) (Principal, error) {
	return s.store.Principal(ctx, idOrName)
}

const tokenPrefix = "dds_"

// IssueToken creates a new token for a principal and returns it. The token is
// shown once here; only its hash and a sealed copy are stored.
func (s *Service) IssueToken(ctx context.Context, principalID, label string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := s.aead.Seal(nonce, nonce, []byte(tok), []byte(principalID))
	now := s.clock.Now()
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		t := StoredToken{Hash: tokenHash(tok), Principal: principalID, Label: label, Sealed: sealed, Created: now}
		if err := s.store.AddToken(ctx, t); err != nil {
			return err
		}
		return s.recordFor(ctx, principalID, Event{Kind: EventToken, Principal: principalID, Token: tokenHash(tok), Label: label, Time: now})
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// Authenticate returns the principal a token belongs to.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > 256 {
		return Principal{}, ErrUnauthorized
	}
	h := tokenHash(token)
	p, ok, gen := s.tokens.get(h)
	if ok {
		return p, nil
	}
	p, err := s.store.TokenPrincipal(ctx, h)
	if errors.Is(err, ErrNoPrincipal) {
		return Principal{}, ErrUnauthorized
	}
	if err == nil {
		s.tokens.put(h, p, gen)
	}
	return p, err
}

// Tokens lists the tokens of a principal, oldest first.
func (s *Service) Tokens(ctx context.Context, principalID string) ([]string, error) {
	toks, err := s.store.Tokens(ctx, principalID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range toks {
		sealed := t.Sealed
		n := s.aead.NonceSize()
		if len(sealed) < n {
			continue
		}
		tok, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(principalID))
		if err != nil {
			continue // sealed under another node secret: cannot be shown, still valid
		}
		out = append(out, string(tok))
	}
	return out, nil
}

// Revoke deletes a token, on every node of the network. Only its owner or an
// admin may revoke it.
func (s *Service) Revoke(ctx context.Context, by Principal, token string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		return s.revoke(ctx, by, tokenHash(token))
	})
}

// RevokeID revokes the token of a principal whose id (TokenInfo.ID) is given.
func (s *Service) RevokeID(ctx context.Context, by Principal, principalID, tokenID string) error {
	if len(tokenID) != tokenIDLen || strings.Trim(tokenID, "0123456789abcdef") != "" {
		return apierr.NotFound("no such token")
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		toks, err := s.store.Tokens(ctx, principalID)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if strings.HasPrefix(t.Hash, tokenID) {
				return s.revoke(ctx, by, t.Hash)
			}
		}
		return apierr.NotFound("no such token")
	})
}

// revoke revokes the token with hash; ctx carries the transaction.
func (s *Service) revoke(ctx context.Context, by Principal, hash string) error {
	owner, err := s.store.TokenOwner(ctx, hash)
	if errors.Is(err, ErrNoToken) || (err == nil && owner != by.ID && !by.IsAdmin()) {
		return apierr.NotFound("no such token")
	} else if err != nil {
		return err
	}
	now := s.clock.Now()
	if err := s.store.RevokeToken(ctx, hash, now); err != nil {
		return err
	}
	store.AfterCommit(ctx, s.tokens.forget)
	return s.recordFor(ctx, owner, Event{Kind: EventRevoke, Principal: owner, Token: hash, Time: now})
}

// tokenIDLen is the length of a token's id: the first hex digits of its
// SHA-256, enough to name it, useless to guess it.
const tokenIDLen = 16

// TokenInfo describes a token without showing it.
type TokenInfo struct {
	ID      string    // names the token (to revoke it)
	Label   string    // what it was made for
	Created time.Time //
}

// TokenInfos lists a principal's tokens, oldest first.
func (s *Service) TokenInfos(ctx context.Context, principalID string) ([]TokenInfo, error) {
	toks, err := s.store.Tokens(ctx, principalID)
	if err != nil {
		return nil, err
	}
	var out []TokenInfo
	for _, t := range toks {
		out = append(out, TokenInfo{ID: t.Hash[:min(tokenIDLen, len(t.Hash))], Label: t.Label, Created: t.Created})
	}
	return out, nil
}

// TokenID names a token as TokenInfos does.
func TokenID(token string) string { return tokenHash(token)[:tokenIDLen] }

// Principals lists the principals this node knows (the network's users and
// payment processors, and this node's admins), oldest first.
func (s *Service) Principals(ctx context.Context) ([]Principal, error) {
	return s.store.Principals(ctx)
}

// recordFor logs e unless its principal is an admin (admins are per node).
func (s *Service) recordFor(ctx context.Context, principalID string, e Event) error {
	role, err := s.store.PrincipalRole(ctx, principalID)
	if err != nil {
		return err
	}
	if role == RoleAdmin {
		return nil
	}
	return s.record(ctx, e)
}

// SetPassword gives a principal a password (stored as an argon2id hash).
func (s *Service) SetPassword(ctx context.Context, principalID, password string) error {
	if len(password) < 8 || len(password) > 1024 {
		return apierr.BadRequest("weak_password", "a password needs 8 to 1024 characters")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	h := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, 32)
	enc := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h))
	return s.store.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.SetPasswordHash(ctx, principalID, enc)
		if err != nil {
			return err
		}
		if !ok {
			return apierr.NotFound("no such principal")
		}
		return s.recordFor(ctx, principalID, Event{Kind: EventPassword, Principal: principalID, Password: enc})
	})
}

// ClearPassword removes a principal's password, so it no longer logs in
// with one.
func (s *Service) ClearPassword(ctx context.Context, principalID string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.SetPasswordHash(ctx, principalID, "")
		if err != nil || !ok {
			return err
		}
		return s.recordFor(ctx, principalID, Event{Kind: EventClearPassword, Principal: principalID})
	})
}

// OWASP's recommended argon2id settings (19 MiB, 2 passes).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
)

// CheckPassword returns the principal named name if password is right.
func (s *Service) CheckPassword(ctx context.Context, name, password string) (Principal, error) {
	id, enc, err := s.store.PasswordHash(ctx, name)
	if err != nil || enc == "" {
		// Spend the same time as a real check, so names cannot be probed.
		argon2.IDKey([]byte(password), make([]byte, 16), argonTime, argonMemory, argonThreads, 32)
		return Principal{}, ErrUnauthorized
	}
	var m, t uint32
	var p uint8
	var salt64, hash64 string
	parts := strings.Split(enc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Principal{}, ErrUnauthorized
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return Principal{}, ErrUnauthorized
	}
	salt64, hash64 = parts[4], parts[5]
	salt, err1 := base64.RawStdEncoding.DecodeString(salt64)
	want, err2 := base64.RawStdEncoding.DecodeString(hash64)
	if err1 != nil || err2 != nil {
		return Principal{}, ErrUnauthorized
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return Principal{}, ErrUnauthorized
	}
	return s.Principal(ctx, id)
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// TokenFromHeader returns the credential of an "Authorization: <scheme> <t>"
// header if its scheme is one of schemes (compared case-insensitively).
func TokenFromHeader(r *http.Request, schemes ...string) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok {
		return ""
	}
	for _, s := range schemes {
		if strings.EqualFold(scheme, s) {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal in ctx, if any.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Bearer authenticates a request by its "Authorization: Bearer" token.
func (s *Service) Bearer(r *http.Request) (Principal, error) {
	tok := TokenFromHeader(r, "Bearer")
	if tok == "" {
		return Principal{}, apierr.Unauthorized("send \"Authorization: Bearer <token>\"; create a token with 'dds token create'")
	}
	return s.Authenticate(r.Context(), tok)
}
