// Package assets is the Universal Storage face (DEP-7) with what its clients
// need around it: asset registration by metadata (DEP-15's Meta API), tokens
// obtained with a password (the Auth API) and discovery (DEP-11's status and
// DDO). It speaks the de-facto protocol of the reference agent (Surfer) and
// its clients, starfish-py and starfish-java.
//
// An asset is registered by its metadata; its id is the SHA3-256 of the
// metadata's exact bytes. Its content, uploaded by the principal that
// registered it, lives in the node's content-addressed blob store, so
// identical content is stored once whichever face uploaded it.
//
//	POST   /api/v1/meta/data           register metadata (any Content-Type) → 200 "<id>"
//	PUT    /api/v1/meta/data/{id}      the same, 400 unless SHA3-256(body) = id → 201 (200 if known)
//	GET    /api/v1/meta/data/{id}      the metadata, byte for byte
//	GET    /api/v1/meta/data           ["<id>", ...]; GET /api/v1/meta/index: {"<id>": metadata, ...}
//	GET|PUT /api/v1/meta/access/{id}   who may read it: private (default), shared, public (owner)
//	DELETE /api/v1/meta/data/{id}      unregister (owner or admin) → 204
//	POST   /api/v1/assets              multipart "metadata" then "file": register and store in one → 201, Location
//	PUT    /api/v1/assets/{id}         raw content (owner only) → 201, Location
//	POST   /api/v1/assets/{id}         multipart field "file" (owner only) → 201, Location
//	GET    /api/v1/assets/{id}         content: Content-Type, Content-Disposition, ETag, Range
//	DELETE /api/v1/assets/{id}         drop the content, keep the registration → 204
//	GET    /api/v1/auth/token          the caller's tokens (HTTP Basic or a token); POST: a new one
//	DELETE /api/v1/auth/revoke/{token} → true
//	GET    /api/status, /api/ddo       discovery, no authentication
//
// Only who may read an asset sees it (access.go): the lists hold what the
// caller may read, and an asset it may not read is a 404 like a missing one.
// Metadata and content of public assets need no token.
//
// Errors are {"error": "<what is wrong>", "code": "<machine code>", "status": N}
// (api.AssetError); the wire types are in package api (api/assets.go).
package assets

import (
	"context"
	"errors"
	"flag"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/flagval"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/route"
)

// Config is what the face is built with.
type Config struct {
	MaxSize   int64  // largest content accepted, in bytes
	Quota     int64  // most bytes of asset content the node keeps (distinct contents); 0: no limit
	PublicURL string // base URL advertised in the DDO; "" means the URL the request came to
}

// DefaultConfig is the face's defaults: the node's file size limit, no quota.
func DefaultConfig() Config { return Config{MaxSize: 16 << 30} }

// RegisterFlags registers the face's flags, with c's values as defaults.
// The size limit is the node's --max-file-size, shared with the other faces.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(flagval.Bytes(&c.Quota), "asset-quota", "most DEP-7 asset content this node keeps (bytes, or with a unit: 100GiB); uploads beyond it get 507 (0: no limit)")
}

// Auth is the principals and tokens the face authenticates with and hands out.
type Auth interface {
	Authenticate(ctx context.Context, token string) (auth.Principal, error)
	CheckPassword(ctx context.Context, name, password string) (auth.Principal, error)
	Tokens(ctx context.Context, principalID string) ([]string, error)
	IssueToken(ctx context.Context, principalID, label string) (string, error)
	Revoke(ctx context.Context, by auth.Principal, token string) error
}

// Blobs is the content-addressed store that keeps the assets' content.
type Blobs interface {
	Stage(r io.Reader, limit int64, extra ...hash.Hash) (*blob.Staged, error)
	Commit(ctx context.Context, st *blob.Staged, fn func(ctx context.Context) error) error
	Unref(ctx context.Context, hash string) error // in ctx's transaction
	Open(hash string) (blob.Object, error)
}

// Identity is the node's key, shown in the status and the DDO.
type Identity interface {
	Address() string   // the node's address, shown in the status
	PublicKey() []byte // the DDO's DID is derived from it
}

// Deps is what the face uses.
type Deps struct {
	Store Store
	Blobs Blobs
	Auth  Auth
	Key   Identity
	// Filter runs the owner's storlets on reads and, when asked, on uploads;
	// nil: no storlets, content is served as stored.
	Filter filter.Filter
	Clock  clock.Clock
	Log    *slog.Logger
}

// Service is the face.
type Service struct {
	store  Store
	blobs  Blobs
	auth   Auth
	key    Identity
	filter filter.Filter
	clock  clock.Clock
	log    *slog.Logger
	cfg    Config

	// passwords bounds concurrent password checks: each argon2id check takes
	// 19 MiB and tens of milliseconds, and Basic auth is accepted everywhere.
	passwords chan struct{}
}

// New opens the face.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{store: deps.Store, blobs: deps.Blobs, auth: deps.Auth, key: deps.Key, filter: deps.Filter,
		clock: deps.Clock, log: deps.Log, cfg: cfg, passwords: make(chan struct{}, max(2, runtime.NumCPU()))}, nil
}

// Gauges registers the face's gauges.
func (s *Service) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_assets", "DEP-7 assets: registered, and with content uploaded.", "state", s.Counts)
}

// Routes adds the face's routes.
func (s *Service) Routes(mux route.Mux) {
	// Meta API (DEP-15).
	mux.HandleFunc("POST /api/v1/meta/data", s.authed(s.postMetadata))
	mux.HandleFunc("PUT /api/v1/meta/data/{id}", s.authed(s.putMetadata))
	mux.HandleFunc("GET /api/v1/meta/data/{id}", s.reader(s.getMetadata))
	mux.HandleFunc("DELETE /api/v1/meta/data/{id}", s.authed(s.deleteAsset))
	mux.HandleFunc("GET /api/v1/meta/data", s.authed(s.listIDs))
	mux.HandleFunc("GET /api/v1/meta/data/{$}", s.authed(s.listIDs))
	mux.HandleFunc("GET /api/v1/meta/index", s.authed(s.index))
	mux.HandleFunc("GET /api/v1/meta/access/{id}", s.authed(s.getAccess))
	mux.HandleFunc("PUT /api/v1/meta/access/{id}", s.authed(s.putAccess))
	// Storage API (DEP-7).
	mux.HandleFunc("POST /api/v1/assets", s.authed(s.createAsset))
	mux.HandleFunc("PUT /api/v1/assets/{id}", s.authed(s.putContent))
	mux.HandleFunc("POST /api/v1/assets/{id}", s.authed(s.postContent))
	mux.HandleFunc("GET /api/v1/assets/{id}", s.reader(s.download))
	mux.HandleFunc("DELETE /api/v1/assets/{id}", s.authed(s.deleteContent))
	// Auth API.
	mux.HandleFunc("GET /api/v1/auth/token", s.authed(s.listTokens))
	mux.HandleFunc("POST /api/v1/auth/token", s.authed(s.createToken))
	mux.HandleFunc("DELETE /api/v1/auth/revoke/{token}", s.authed(s.revokeToken))
	mux.HandleFunc("POST /api/v1/auth/revoke/{token}", s.authed(s.revokeToken)) // for HTML forms, as Surfer has
	// Discovery (DEP-11): public, so a client can find the other endpoints.
	mux.HandleFunc("GET /api/status", s.status)
	mux.HandleFunc("GET /api/ddo", s.ddo)
	// Anything else under the face's prefixes answers in the face's format.
	for _, p := range []string{"/api/v1/meta/", "/api/v1/assets/", "/api/v1/auth/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			if allow := allowed(mux, r, p); len(allow) > 0 {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				s.writeError(w, r, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "%s does not answer %s; it answers %s", r.URL.Path, r.Method, strings.Join(allow, ", ")))
				return
			}
			s.writeError(w, r, apierr.NotFound("no endpoint %s in this API", r.URL.Path))
		})
	}
}

// allowed lists the methods that have a route for r's path other than the
// catch-all pattern.
func allowed(mux route.Mux, r *http.Request, catchAll string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != catchAll && pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// authed runs h for an authenticated principal.
func (s *Service) authed(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
}

// principal authenticates a request the ways DEP clients do: "Authorization:
// token <t>" (what starfish sends), "Bearer <t>", HTTP Basic with a
// principal's password, or ?access_token=<t>.
func (s *Service) principal(r *http.Request) (auth.Principal, error) {
	ctx := r.Context()
	if tok := auth.TokenFromHeader(r, "token", "Bearer"); tok != "" {
		return s.auth.Authenticate(ctx, tok)
	}
	if name, password, ok := r.BasicAuth(); ok {
		select {
		case s.passwords <- struct{}{}:
			defer func() { <-s.passwords }()
		case <-ctx.Done():
			return auth.Principal{}, ctx.Err()
		}
		return s.auth.CheckPassword(ctx, name, password)
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return s.auth.Authenticate(ctx, tok)
	}
	return auth.Principal{}, apierr.Unauthorized("authenticate with \"Authorization: token <token>\" (or Bearer), HTTP Basic, or ?access_token=; get a token at /api/v1/auth/token")
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apierr.As(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			return // the client went away: nobody to answer
		}
		s.log.Error("assets: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	apierr.RetryAfter(w, e)
	if e.Status == http.StatusUnauthorized {
		// Apache HttpClient (starfish-java) sends Basic credentials only when
		// challenged.
		w.Header().Add("WWW-Authenticate", `Basic realm="dds", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="dds"`)
	}
	httpjson.Write(w, e.Status, api.AssetError{Error: e.Detail, Code: e.Code, Status: e.Status})
}

// Asset is a registered asset.
type Asset struct {
	ID       string
	Owner    string
	Metadata []byte
	Meta     Metadata
	Created  time.Time
	BlobHash string // "" until content is uploaded; hex SHA-256 of the content
	Size     int64
	// SHA3 is the content's SHA3-256 when the metadata declares a
	// contentHash (checked against it), else "": hashing every upload twice
	// would cost large ones a third of their speed for nothing asked.
	SHA3       string
	UploadedAt time.Time
	Access     string // Private, Shared or Public
}

// asset returns a registered asset; 404 when there is none.
func (s *Service) asset(ctx context.Context, id string) (Asset, error) {
	a, err := s.store.Asset(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Asset{}, apierr.NotFound("no asset %s is registered here", id)
	}
	return a, err
}

// baseURL is the URL clients reach this node at.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Counts returns how many assets are registered and how many have content.
func (s *Service) Counts(ctx context.Context) (map[string]int64, error) {
	all, withContent, err := s.store.Counts(ctx)
	return map[string]int64{"registered": all, "with_content": withContent}, err
}

// Lookup returns a registered asset, for other parts of the node (the data
// provider serves assets as its native "dep7" file type).
func (s *Service) Lookup(ctx context.Context, id string) (Asset, error) { return s.asset(ctx, id) }
