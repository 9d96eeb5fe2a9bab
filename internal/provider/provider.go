// Package provider is the Ocean provider face: an Ocean Protocol "provider"
// that existing Ocean clients (ocean.js ProviderInstance, ocean.py) can talk
// to. It serves discovery, nonces, ECIES encryption of documents, file info,
// initialize (a signed provider fee) and download of the files of published
// asset documents (DDOs), and the Aquarius-style read paths of those DDOs.
//
// No blockchain is reachable: an order is a payment recorded through the
// Billing face for a document's service, and the payment id stands in for the
// order transaction id (transferTxId). Signatures, nonces, the cipher and the
// fee signature follow the real provider byte for byte (see NOTES §4).
package provider

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/safehttp"
	"github.com/prometheus-dds/dds/internal/store"
)

// Version is the provider API version this face reports.
const Version = "2.0.0"

// ZeroAddress is the Ethereum zero address.
const ZeroAddress = "0x0000000000000000000000000000000000000000"

// Config configures the face. The zero value of each field means its default.
type Config struct {
	ChainID        int64          // default 8996 (Ocean's development chain)
	Decrypters     []string       // addresses allowed to call decrypt; none by default
	AllowNetworks  []netip.Prefix // networks URL fetching may reach although private
	IPFSGateway    string         // default https://ipfs.io
	ArweaveGateway string         // default https://arweave.net
	FeeToken       string         // token address named in provider fees; default the zero address
	// Local names the native file types: content stored on this node,
	// by type name ("dds" for DDS files).
	Local map[string]LocalSource
	// MaxChecksumBytes bounds how much fileinfo reads to checksum a URL;
	// default 1 GiB.
	MaxChecksumBytes int64
}

func (c *Config) defaults() {
	if c.ChainID == 0 {
		c.ChainID = 8996
	}
	if c.IPFSGateway == "" {
		c.IPFSGateway = "https://ipfs.io"
	}
	if c.ArweaveGateway == "" {
		c.ArweaveGateway = "https://arweave.net"
	}
	c.IPFSGateway = strings.TrimRight(c.IPFSGateway, "/")
	c.ArweaveGateway = strings.TrimRight(c.ArweaveGateway, "/")
	if c.FeeToken == "" {
		c.FeeToken = ZeroAddress
	}
	if c.MaxChecksumBytes == 0 {
		c.MaxChecksumBytes = 1 << 30
	}
}

// Service is the Ocean provider face.
type Service struct {
	cfg        Config
	db         *store.DB
	key        *identity.Key
	ledger     *ledger.Ledger
	auth       *auth.Service
	clock      clock.Clock
	log        *slog.Logger
	fetch      *http.Client
	jwtKey     []byte
	decrypters map[string]bool
	extra      []endpoint // routes other faces advertise through discovery
}

var migrations = []string{
	`CREATE TABLE provider_nonces (
		address TEXT PRIMARY KEY, -- lowercase 0x address
		nonce TEXT NOT NULL,      -- the last nonce used, as the client sent it
		updated_at TEXT NOT NULL
	);
	CREATE TABLE provider_ddos (
		did TEXT PRIMARY KEY,
		owner_id TEXT NOT NULL,   -- the principal that published it
		doc TEXT NOT NULL,        -- the DDO as stored (JSON)
		created_at TEXT NOT NULL
	);
	CREATE INDEX provider_ddos_created ON provider_ddos(created_at, did);
	CREATE TABLE provider_revoked_tokens (
		token_hash TEXT PRIMARY KEY, -- hex SHA-256 of the JWT
		expires_at TEXT NOT NULL
	);`,
}

// New returns the face, creating its tables.
func New(ctx context.Context, cfg Config, db *store.DB, key *identity.Key, l *ledger.Ledger, a *auth.Service, c clock.Clock, log *slog.Logger) (*Service, error) {
	cfg.defaults()
	if err := db.Migrate(ctx, "provider", migrations); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, db: db, key: key, ledger: l, auth: a, clock: c, log: log.With("face", "provider"),
		decrypters: map[string]bool{}}
	for _, d := range cfg.Decrypters {
		if !identity.ValidAddress(d) {
			return nil, fmt.Errorf("provider: authorized decrypter %q is not a 0x address", d)
		}
		s.decrypters[strings.ToLower(d)] = true
	}
	if !identity.ValidAddress(cfg.FeeToken) {
		return nil, fmt.Errorf("provider: fee token %q is not a 0x address", cfg.FeeToken)
	}
	guard := &safehttp.Guard{Allow: cfg.AllowNetworks}
	s.fetch = guard.Client(5)
	// Auth tokens are signed with a key derived from the node key, so they
	// survive restarts and need no extra secret file.
	jk, err := hkdf.Key(sha256.New, key.Private().Serialize(), nil, "dds ocean provider auth tokens v1", 32)
	if err != nil {
		return nil, err
	}
	s.jwtKey = jk
	s.log.Info("ocean provider ready", "provider_address", key.Address(), "chain_id", cfg.ChainID,
		"authorized_decrypters", len(s.decrypters), "url_guard_allows", cfg.AllowNetworks)
	return s, nil
}

// ChainID is the chain id the face serves.
func (s *Service) ChainID() int64 { return s.cfg.ChainID }

// endpoints are the routes clients discover: name → method and path.
type endpoint struct{ name, method, path string }

var endpoints = []endpoint{
	{"nonce", "GET", "/api/services/nonce"},
	{"encrypt", "POST", "/api/services/encrypt"},
	{"decrypt", "POST", "/api/services/decrypt"},
	{"fileinfo", "POST", "/api/services/fileinfo"},
	{"initialize", "GET", "/api/services/initialize"},
	{"download", "GET", "/api/services/download"},
	{"create_auth_token", "GET", "/api/services/createAuthToken"},
	{"delete_auth_token", "DELETE", "/api/services/deleteAuthToken"},
	// The names ocean.js 4.x looks up for the same two routes.
	{"generateAuthToken", "POST", "/api/services/createAuthToken"},
	{"invalidateAuthToken", "POST", "/api/services/deleteAuthToken"},
}

// Register adds the face's routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.handle(s.discovery))
	mux.HandleFunc("GET /api/services/nonce", s.handle(s.nonce))
	mux.HandleFunc("POST /api/services/encrypt", s.handle(s.encrypt))
	mux.HandleFunc("POST /api/services/decrypt", s.handle(s.decrypt))
	mux.HandleFunc("POST /api/services/fileinfo", s.handle(s.fileinfo))
	mux.HandleFunc("GET /api/services/initialize", s.handle(s.initialize))
	mux.HandleFunc("GET /api/services/download", s.handle(s.download))
	mux.HandleFunc("GET /api/services/createAuthToken", s.handle(s.createAuthToken))
	mux.HandleFunc("POST /api/services/createAuthToken", s.handle(s.createAuthToken))
	mux.HandleFunc("DELETE /api/services/deleteAuthToken", s.handle(s.deleteAuthToken))
	mux.HandleFunc("POST /api/services/deleteAuthToken", s.handle(s.deleteAuthToken))
	mux.HandleFunc("POST /api/aquarius/assets/ddo", s.handle(s.publish))
	mux.HandleFunc("GET /api/aquarius/assets/ddo", s.handle(s.listDDOs))
	mux.HandleFunc("GET /api/aquarius/assets/ddo/{did}", s.handle(s.getDDO))
	mux.HandleFunc("DELETE /api/aquarius/assets/ddo/{did}", s.handle(s.deleteDDO))
	mux.HandleFunc("GET /api/aquarius/assets/metadata/{did}", s.handle(s.getMetadata))
}

func (s *Service) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// writeError renders err in the provider's convention: {"error": "..."}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apierr.As(err)
	if !ok {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (s *Service) discovery(w http.ResponseWriter, r *http.Request) error {
	eps := map[string][2]string{}
	for _, e := range append(endpoints, s.extra...) {
		eps[e.name] = [2]string{e.method, e.path}
	}
	addr := s.key.Address()
	writeJSON(w, http.StatusOK, map[string]any{
		"software":          "Provider",
		"version":           Version,
		"implementation":    "prometheus-dds",
		"chainIds":          []int64{s.cfg.ChainID},
		"providerAddress":   addr,
		"providerAddresses": map[string]string{strconv.FormatInt(s.cfg.ChainID, 10): addr},
		"providerFeeToken":  s.cfg.FeeToken,
		"serviceEndpoints":  eps,
	})
	return nil
}

// maxParams bounds a JSON request body of parameters.
const maxParams = 1 << 20

// params are a request's parameters: the query string, overlaid by the
// fields of a JSON body (ocean.js sends some requests one way, some the
// other).
type params map[string]string

func readParams(w http.ResponseWriter, r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
	if r.Method != http.MethodPost && r.Method != http.MethodDelete && r.Method != http.MethodPut {
		return p, nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxParams))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierr.New(http.StatusRequestEntityTooLarge, "too_large", "request body exceeds %d bytes", maxParams)
		}
		return nil, apierr.BadRequest("invalid_json", "request body is not a JSON object: %v", err)
	}
	for k, v := range body {
		switch v := v.(type) {
		case string:
			p[k] = v
		case json.Number:
			p[k] = v.String()
		case bool:
			p[k] = strconv.FormatBool(v)
		case nil:
		default:
			b, _ := json.Marshal(v)
			p[k] = string(b)
		}
	}
	return p, nil
}

// required returns a parameter or a 400 naming it.
func (p params) required(name string) (string, error) {
	v := p[name]
	if v == "" {
		return "", apierr.BadRequest("missing_parameter", "%s is required", name)
	}
	return v, nil
}

// address returns a required 0x address parameter.
func (p params) address(name string) (string, error) {
	v, err := p.required(name)
	if err != nil {
		return "", err
	}
	if !identity.ValidAddress(v) {
		return "", apierr.BadRequest("invalid_parameter", "%s %q is not a 0x-prefixed Ethereum address", name, v)
	}
	return v, nil
}

// chainID checks the chainId parameter names the chain this node serves.
func (s *Service) chainID(p params) error {
	v, err := p.required("chainId")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return apierr.BadRequest("invalid_parameter", "chainId %q is not an integer", v)
	}
	if id != s.cfg.ChainID {
		return apierr.BadRequest("unsupported_chain", "Unsupported chain ID %d: this provider serves chain %d", id, s.cfg.ChainID)
	}
	return nil
}
