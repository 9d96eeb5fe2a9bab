// Package deals is the deal module face: Bitcoin accounts and escrow deals
// whose answers are clear-signed with the node's OpenPGP key. Here the node
// is both the deal module and the back-office server the original forwarded
// to, so every action is carried out and persisted.
//
// Decisions where the spec is silent:
//   - Every action but ping, time and the public key needs a Bearer token or
//     an HMAC session. An account is a node principal named after its
//     address; account/token (a Bitcoin signed code) gives its owner a
//     token and an HMAC session (id + secret).
//   - A request the module understood but cannot carry out answers the
//     envelope with result.success false, the reason in result.message and
//     its 4xx status (the spec's account/status?address=null); a request it
//     did not understand (no such path or order, an unreadable body) or
//     whose caller failed authentication answers {"error": {"code",
//     "message"}}.
//   - A deal is identified by its canonical text: the same fields make the
//     same deal (create is idempotent), its id is the first 16 bytes of the
//     text's SHA-256 in hex. Orders name it by id, payment.address, or all
//     its fields.
//   - Both parties need an account with a public key: the escrow is 2-of-3
//     of their keys and the module key tweaked by the deal.
//   - Signed deal orders sign DealMessage: "cancel <id>" by the seller,
//     "feedback <id>\n<status>\n<comments>" by the customer.
//   - With a Bitcoin node (Deps.Chain, --bitcoin-rpc) the module watches
//     every open escrow (chain.go): Paying once a payment is seen, Paid at
//     the confirmed sum, Expired when payment.until passes unfunded;
//     complete and cancel release or refund through a PSBT the module
//     co-signs. Without one, pay takes payment.txid; the deal is Paying
//     until the Confirmer (or an admin, POST /api/v1/deal/confirm)
//     confirms it, then Paid. A deal may
//     name a pending DDS file ("file"): it then pays the ledger the file's
//     outstanding quoted price, in the ledger's units, fixed when the deal is
//     created; the BTC sum is the parties' business, not converted.
package deals

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/bitcoin"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/pgp"
	"github.com/prometheus-dds/dds/internal/route"
	"github.com/prometheus-dds/dds/internal/store"
)

// NonceWindow is how far an HMAC nonce (microseconds) may be from now.
const NonceWindow = time.Minute

// PaymentClaim is what a customer says paid a deal.
type PaymentClaim struct {
	DealID  string
	Address string // the escrow address
	TxID    string
	Sum     int64 // satoshis
}

// Confirmer tells whether a payment is confirmed on the Bitcoin network. A
// node-backed implementation comes later; until then Manual leaves every
// payment to an admin (POST /api/v1/deal/confirm).
type Confirmer interface {
	Confirmed(ctx context.Context, c PaymentClaim) (bool, error)
}

// Manual is the Confirmer of a node without a Bitcoin backend: it never
// confirms by itself.
type Manual struct{}

// Confirmed reports false: an admin confirms.
func (Manual) Confirmed(context.Context, PaymentClaim) (bool, error) { return false, nil }

// Config is what the module is built with.
type Config struct {
	Network string // Bitcoin network: mainnet, testnet, signet or regtest
	// Chain is the Bitcoin node that watches escrows (node builds the
	// client from it and passes it as Deps.Chain).
	Chain         bitcoin.Config
	Confirmations int64         // a payment counts once this deep
	FeeRate       int64         // sat/vB of releases and refunds
	Poll          time.Duration // how often the escrows are looked at
}

// DefaultConfig is the module's defaults: Bitcoin testnet, no node; with
// a node, 3 confirmations, 5 sat/vB, a look every 10 seconds.
func DefaultConfig() Config {
	return Config{Network: "testnet", Chain: bitcoin.DefaultConfig(), Confirmations: 3, FeeRate: 5, Poll: 10 * time.Second}
}

// RegisterFlags registers the module's flags, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Network, "bitcoin-network", c.Network, "Bitcoin network of the deal module: mainnet, testnet, signet or regtest")
	c.Chain.RegisterFlags(fs)
	fs.Int64Var(&c.Confirmations, "bitcoin-confirmations", c.Confirmations, "confirmations after which a payment to a deal's escrow counts")
	fs.Int64Var(&c.FeeRate, "bitcoin-fee-rate", c.FeeRate, "fee rate of escrow releases and refunds, in sat/vB")
	fs.DurationVar(&c.Poll, "bitcoin-poll", c.Poll, "how often the Bitcoin node is asked about the escrows of open deals")
}

// Auth is the node's principals and tokens, which the module maps its
// accounts onto.
type Auth interface {
	Bearer(r *http.Request) (auth.Principal, error)
	Principal(ctx context.Context, idOrName string) (auth.Principal, error)
	CreatePrincipal(ctx context.Context, name string, role auth.Role) (auth.Principal, error)
	SetPassword(ctx context.Context, principalID, password string) error
	ClearPassword(ctx context.Context, principalID string) error
	IssueToken(ctx context.Context, principalID, label string) (string, error)
	Tokens(ctx context.Context, principalID string) ([]string, error)
	Revoke(ctx context.Context, by auth.Principal, token string) error
}

// Ledger is where a deal that pays for a DDS file finds its price and
// records its payment.
type Ledger interface {
	OpenQuote(ctx context.Context, fileID string) (ledger.Quote, error)
	RecordPayment(ctx context.Context, in ledger.PaymentIn) (p ledger.Payment, dup bool, err error)
}

// Key is the node key: the module key of the escrows, and the root of the
// key that seals HMAC secrets.
type Key interface {
	Private() *btcec.PrivateKey
}

// Signer is the OpenPGP key that clear-signs the answers.
type Signer interface {
	PublicKey() []byte // armored
	ClearSign(text []byte, now time.Time) ([]byte, error)
	Keyring(armored ...string) openpgp.EntityList // its public key and the ones given
}

// Deps is what the module uses.
type Deps struct {
	Store  Store
	Auth   Auth
	Ledger Ledger
	Key    Key
	PGP    Signer
	// Confirmer confirms Bitcoin payments; nil: an admin does (Manual).
	// Unused when Chain is set.
	Confirmer Confirmer
	// Chain is the Bitcoin node that watches escrows and takes releases
	// and refunds; nil: no chain, an admin confirms payments.
	Chain Chain
	Clock clock.Clock
	Log   *slog.Logger
}

// Service is the deal module.
type Service struct {
	store     Store
	auth      Auth
	ledger    Ledger
	key       Key
	pgp       Signer
	net       btc.Network
	confirmer Confirmer
	chain     Chain
	cfg       Config
	wake      chan struct{}
	clock     clock.Clock
	log       *slog.Logger
}

// New makes the deal module.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	network, err := btc.ParseNetwork(cfg.Network)
	if err != nil {
		return nil, err
	}
	if cfg.Confirmations < 1 || cfg.FeeRate < 1 || cfg.Poll <= 0 {
		return nil, fmt.Errorf("deals: --bitcoin-confirmations and --bitcoin-fee-rate must be at least 1, --bitcoin-poll positive")
	}
	if deps.Confirmer == nil {
		deps.Confirmer = Manual{}
	}
	return &Service{store: deps.Store, auth: deps.Auth, ledger: deps.Ledger, key: deps.Key, pgp: deps.PGP, net: network,
		confirmer: deps.Confirmer, chain: deps.Chain, cfg: cfg, wake: make(chan struct{}, 1), clock: deps.Clock, log: deps.Log}, nil
}

// Routes adds the module's routes.
func (s *Service) Routes(mux route.Mux) {
	mux.HandleFunc("GET /api/v1/ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}\n")
	})
	mux.HandleFunc("GET /api/v1/time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.DealTime{ServerTime: s.clock.Now().UnixMilli()})
	})
	mux.HandleFunc("GET /api/v1/signature/key", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pgp-keys")
		w.Header().Set("Content-Disposition", `attachment; filename="dds-deal-module.asc"`)
		_, _ = w.Write(s.pgp.PublicKey())
	})
	mux.Handle("GET /api/v1/help", s.action("Help", false, s.help))
	mux.Handle("POST /api/v1/help", s.action("Help", false, s.help))
	mux.Handle("GET /api/v1/account/status", s.action("Status", false, s.accountStatus))
	mux.Handle("POST /api/v1/account/status", s.action("Status", false, s.accountStatus))
	for _, a := range []string{"new", "add", "update", "delete", "token"} {
		mux.Handle("POST /api/v1/account/"+a, s.action(strings.ToUpper(a[:1])+a[1:], false, s.accountAction(a)))
	}
	mux.Handle("POST /api/v1/deal", s.action("Deal", true, s.deal("")))
	mux.Handle("POST /api/v1/deal/{order}", s.action("Deal", true, func(ctx context.Context, r *http.Request, p *params) (answer, error) {
		return s.deal(r.PathValue("order"))(ctx, r, p)
	}))
	mux.Handle("POST /api/v1/signature", s.action("Signature", false, s.verifySignature))
	// Wrong methods and unknown paths answer in the module's own convention.
	for _, p := range []string{"/api/v1/ping", "/api/v1/time", "/api/v1/help", "/api/v1/account/status", "/api/v1/deal", "/api/v1/signature"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed: %s %s", r.Method, r.URL.Path))
		})
	}
	for _, p := range []string{"/api/v1/account/", "/api/v1/deal/", "/api/v1/signature/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, apierr.NotFound("Not Found: %s %s", r.Method, r.URL.Path))
		})
	}
}

type handlerFunc func(ctx context.Context, r *http.Request, p *params) (answer, error)

// action reads the body, authenticates the caller, parses the parameters
// and answers in the envelope.
func (s *Service) action(name string, yamlText bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := limits.ReadAll(w, r, maxBody, "the body")
		if err != nil {
			s.writeError(w, err)
			return
		}
		p, err := s.authenticate(r, body)
		if err != nil {
			s.writeError(w, err)
			return
		}
		ctx := auth.WithPrincipal(r.Context(), p)
		params, err := parseParams(r.URL.Query(), r.Header.Get("Content-Type"), body, yamlText)
		if err != nil {
			s.writeError(w, err)
			return
		}
		a, err := h(ctx, r.WithContext(ctx), params)
		if e, ok := apierr.As(err); err != nil && ok && understood(e) {
			a = answer{Failed: e.Status, Message: e.Detail, Payload: doc{{"error", doc{{"code", strconv.Itoa(e.Status)}, {"reason", e.Code}, {"message", e.Detail}}}}}
		} else if err != nil {
			s.writeError(w, err)
			return
		}
		if a.Action == "" {
			a.Action = name
		}
		s.writeAnswer(w, r, requestID(), a)
	})
}

// understood tells a request the module understood but cannot carry out
// (answered in the envelope with result.success false, as the spec's
// account/status?address=null) from one it did not understand or whose
// caller failed authentication (answered {"error": ...}).
func understood(e *apierr.Error) bool {
	switch {
	case e.Status < 400 || e.Status >= 500, e.Status == http.StatusUnauthorized:
		return false
	case e.Code == "unknown_order" || e.Code == "missing_order":
		return false // no action to answer for
	}
	return true
}

// requestID makes an envelope id in the original's shape
// (seven dash-separated groups of hex).
func requestID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	var parts []string
	for i, l := range []byte("APOSTOL") {
		parts = append(parts, string(l)+h[i*5:i*5+4])
	}
	return strings.Join(parts, "-")
}

// authenticate accepts HMAC-SHA256 (Session, Nonce, Signature headers) or
// "Authorization: Bearer".
func (s *Service) authenticate(r *http.Request, body []byte) (auth.Principal, error) {
	session := r.Header.Get("Session")
	if session == "" {
		if auth.TokenFromHeader(r, "Bearer") == "" {
			return auth.Principal{}, apierr.Unauthorized("send \"Authorization: Bearer <token>\" or the Session, Nonce and Signature headers (HMAC-SHA256)")
		}
		return s.auth.Bearer(r)
	}
	nonceText, sig := r.Header.Get("Nonce"), strings.ToLower(strings.TrimSpace(r.Header.Get("Signature")))
	nonce, err := strconv.ParseInt(strings.TrimSpace(nonceText), 10, 64)
	if err != nil || sig == "" {
		return auth.Principal{}, apierr.Unauthorized("HMAC authentication needs the Nonce (microseconds since the epoch) and Signature headers")
	}
	principalID, sealed, err := s.store.Session(r.Context(), session)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Principal{}, apierr.Unauthorized("unknown session")
	} else if err != nil {
		return auth.Principal{}, err
	}
	secret, err := s.open(session, sealed)
	if err != nil {
		return auth.Principal{}, err
	}
	want := api.DealHMAC(secret, r.URL.Path, nonceText, body)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return auth.Principal{}, apierr.Unauthorized("the HMAC signature does not match: sign path (without /api/v1) + nonce + body (or \"null\")")
	}
	now := s.clock.Now()
	at := time.UnixMicro(nonce)
	if at.Before(now.Add(-NonceWindow)) || at.After(now.Add(NonceWindow)) {
		return auth.Principal{}, apierr.Unauthorized("the nonce is outside the %s window around the server time %d (microseconds): check your clock", NonceWindow, now.UnixMicro())
	}
	fresh, err := s.store.UseNonce(r.Context(), session, nonce, now, now.Add(-2*NonceWindow))
	if err != nil {
		return auth.Principal{}, err
	}
	if !fresh {
		return auth.Principal{}, apierr.Unauthorized("this nonce was used already: every request needs a new one")
	}
	return s.auth.Principal(r.Context(), principalID)
}

// newSession makes an HMAC session for a principal and returns its id and
// secret.
func (s *Service) newSession(ctx context.Context, principalID string) (string, string, error) {
	id, secret := make([]byte, 16), make([]byte, 32)
	_, _ = rand.Read(id)
	_, _ = rand.Read(secret)
	sid := hex.EncodeToString(id)
	err := s.store.AddSession(ctx, sid, principalID, s.seal(sid, secret), s.clock.Now())
	return sid, hex.EncodeToString(secret), err
}

// sealer is the AEAD that keeps HMAC secrets unreadable to whoever reads
// only the database: its key is derived from the node key, which lives in
// its own 0600 file.
func (s *Service) sealer() cipher.AEAD {
	k := sha256.Sum256(append([]byte("dds deal module: HMAC session seal\x00"), s.key.Private().Serialize()...))
	block, _ := aes.NewCipher(k[:])
	aead, _ := cipher.NewGCM(block)
	return aead
}

func (s *Service) seal(session string, secret []byte) []byte {
	aead := s.sealer()
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, secret, []byte(session))
}

func (s *Service) open(session string, sealed []byte) ([]byte, error) {
	aead := s.sealer()
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("deals: session %s: sealed secret too short", session)
	}
	secret, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(session))
	if err != nil {
		return nil, fmt.Errorf("deals: session %s: the secret does not unseal (was the node key replaced?): %w", session, err)
	}
	return secret, nil
}

func (s *Service) verifySignature(ctx context.Context, r *http.Request, p *params) (answer, error) {
	data := []byte(p.get("payload"))
	if p.raw {
		data = []byte(p.text)
	}
	if len(data) == 0 {
		return answer{}, apierr.BadRequest("missing_payload", "send the clear-signed text as the text/plain body or as the payload parameter (base64 accepted)")
	}
	if !bytes.Contains(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		if dec, err := decodeBase64(string(data)); err == nil {
			data = dec
		}
	}
	var keys []string
	if addr := p.get("address"); addr != "" {
		if a, err := s.loadAccount(ctx, addr); err == nil && a.PGP != "" {
			keys = append(keys, a.PGP)
		}
	}
	v, err := pgp.Verify(data, s.pgp.Keyring(keys...), s.clock.Now())
	if err != nil {
		return answer{}, apierr.BadRequest("bad_signature", "%v", err)
	}
	return answer{Action: "Verified", Message: fmt.Sprintf("Signature is valid: signed by %s (%s)", v.Fingerprint, v.Signer),
		Payload: doc{{"signature", doc{{"valid", "true"}, {"fingerprint", v.Fingerprint}, {"signer", v.Signer}, {"text", string(v.Text)}}}}}, nil
}
