// Package dds is the DDS external API face: upload a file and get a price
// (402), extend its term, read it and its info. It speaks JSON:API. The file
// records are the registry's (package files); the price is the ledger's,
// confirmed by peers of the network.
package dds

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/flagval"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/route"
	"github.com/prometheus-dds/dds/internal/store"
)

// DefaultDuration is the term of an upload that names none: one month.
const DefaultDuration = ledger.Month

// MaxDuration bounds a term, so prices and times stay representable.
const MaxDuration = 100 * 365 * 24 * time.Hour

// Config configures the DDS face.
type Config struct {
	MaxFileSize int64 // largest file accepted, in bytes
}

// DefaultConfig accepts files of up to 16 GiB.
func DefaultConfig() Config { return Config{MaxFileSize: 16 << 30} }

// RegisterFlags registers the face's flags, defaulting to c's values.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(flagval.Bytes(&c.MaxFileSize), "max-file-size", "largest file accepted (bytes, or with a unit: 512MiB, 16GiB)")
}

// Files are the records of the files.
type Files interface {
	Get(ctx context.Context, id string) (files.File, error)
	Insert(ctx context.Context, f files.File) error
	Describe(ctx context.Context, id, name string, additional json.RawMessage) error
	Owned(ctx context.Context, owner string, after files.Cursor, limit int) ([]files.File, error)
	Cancel(ctx context.Context, id string) error
}

// Ledger prices and quotes terms.
type Ledger interface {
	Price(size int64, d time.Duration) (money.Amount, error)
	QuoteExpiry() time.Time
	NewQuote(ctx context.Context, fileID, kind string, size int64, d time.Duration, expires time.Time, confirmations json.RawMessage) (ledger.Quote, error)
	OpenQuote(ctx context.Context, fileID string) (ledger.Quote, error)
	LatestQuote(ctx context.Context, fileID string) (ledger.Quote, error)
}

// Blobs holds the content.
type Blobs interface {
	Begin(r io.Reader, limit int64, extra ...hash.Hash) (*blob.Staged, error)
	Place(ctx context.Context, st *blob.Staged) error
	Commit(ctx context.Context, st *blob.Staged, fn func(ctx context.Context) error) error
	Size(hash string) int64
	Open(hash string) (blob.Object, error)
}

// Auth tells who calls.
type Auth interface {
	Bearer(r *http.Request) (auth.Principal, error)
}

// Confirmer gets a price confirmed by peers before it is quoted. It returns
// the confirmations to keep with the quote.
type Confirmer interface {
	Confirm(ctx context.Context, c ledger.Confirmation) (json.RawMessage, error)
}

// Replicas are a paid file's copies in the network, and the other nodes
// that answer for the files this one holds no copy of.
type Replicas interface {
	ID() string                                   // this node's
	Heal(ctx context.Context, f files.File) error // restore this node's copy from a holder
	Copies(f files.File) any                      // where the copies are, for file info
	// Locate finds the record of a file on another node (store.ErrNotFound:
	// nowhere), preferring the one with an open quote.
	Locate(ctx context.Context, id string, quote bool) (f files.File, node string, err error)
	Keeper(f files.File) string    // the node that carries changes to the file ("": none live)
	Readers(f files.File) []string // other live nodes that keep a copy, in the order to read from
	// Forward has node answer r as principal and relays its answer; an
	// error means nothing was written.
	Forward(w http.ResponseWriter, r *http.Request, node string, p auth.Principal, body []byte) error
	Open(ctx context.Context, node string, p auth.Principal, fileID string) (io.ReadCloser, error) // the whole content, from node
	Forwarded(r *http.Request) (p auth.Principal, ok bool)                                         // r came from another node, acting as p
	// Owned gathers up to limit of an owner's files after the cursor from
	// every live member (missing: the members that did not answer).
	Owned(ctx context.Context, owner string, after files.Cursor, limit int) (list []files.File, missing []string, err error)
}

// Deps are the face's dependencies.
type Deps struct {
	Store    Store
	Files    Files
	Ledger   Ledger
	Blobs    Blobs
	Auth     Auth
	Confirm  Confirmer
	Replicas Replicas      // nil: no copies elsewhere, the only copy is here
	Filter   filter.Filter // storlets; nil: files are served as stored
	Clock    clock.Clock
	Log      *slog.Logger
}

// Service is the DDS face.
type Service struct {
	store     Store
	files     Files
	ledger    Ledger
	blobs     Blobs
	auth      Auth
	confirmer Confirmer
	replicas  Replicas
	filter    filter.Filter
	clock     clock.Clock
	log       *slog.Logger
	maxSize   int64
}

// New returns the DDS face.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{store: deps.Store, files: deps.Files, ledger: deps.Ledger, blobs: deps.Blobs, auth: deps.Auth,
		confirmer: deps.Confirm, replicas: deps.Replicas, filter: deps.Filter, clock: deps.Clock, log: deps.Log,
		maxSize: cfg.MaxFileSize}, nil
}

// Routes adds the face's routes.
func (s *Service) Routes(mux route.Mux) {
	mux.HandleFunc("POST /files", s.handle(s.upload))
	mux.HandleFunc("GET /files/{id}", s.handle(s.download))
	mux.HandleFunc("HEAD /files/{id}", s.handle(s.download))
	mux.HandleFunc("PATCH /files/{id}", s.handle(s.extend))
	mux.HandleFunc("GET /files/{id}/info", s.handle(s.info))
	mux.HandleFunc("GET /files", s.handle(s.list))
	mux.HandleFunc("DELETE /files/{id}", s.handle(s.cancel))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := jsonapi.CheckAccept(r)
		var p auth.Principal
		if err == nil {
			p, err = s.caller(r)
		}
		if err == nil && p.Role == auth.RolePayment {
			err = apierr.Forbidden("the payment role reports payments; files need a user or admin token")
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			jsonapi.WriteError(w, s.log, err)
		}
	}
}

// caller is the principal a request acts as: the bearer of its token, or
// the one a peer checked the token of and forwarded the request for.
func (s *Service) caller(r *http.Request) (auth.Principal, error) {
	if s.replicas != nil {
		if p, ok := s.replicas.Forwarded(r); ok {
			return p, nil
		}
	}
	return s.auth.Bearer(r)
}

func (s *Service) forwarded(r *http.Request) bool {
	if s.replicas == nil {
		return false
	}
	_, ok := s.replicas.Forwarded(r)
	return ok
}

// visible returns a file its caller may see: its owner's or any to an
// admin. here tells whether this node answers for it itself (it keeps a copy
// or took the upload); otherwise f is this node's stale record, if any.
func (s *Service) visible(ctx context.Context, p auth.Principal, id string) (f files.File, here bool, err error) {
	f, err = s.files.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return files.File{}, false, nil
	case err != nil:
		return files.File{}, false, err
	case f.Owner != p.ID && !p.IsAdmin():
		return files.File{}, false, apierr.NotFound("no file %q", id)
	}
	return f, f.State != files.StateReleased, nil
}

// elsewhere finds a file this node does not answer for on another node:
// its record there and the node that answered.
func (s *Service) elsewhere(r *http.Request, p auth.Principal, id string) (files.File, string, error) {
	if s.replicas == nil || s.forwarded(r) || p.IsAdmin() {
		return files.File{}, "", apierr.NotFound("no file %q", id)
	}
	f, node, err := s.replicas.Locate(r.Context(), id, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.Owner != p.ID) {
		return files.File{}, "", apierr.NotFound("no file %q", id)
	}
	return f, node, err
}

// keeper is the node that answers for changes to a file: its housekeeper,
// or the node that has its record.
func (s *Service) keeper(f files.File, node string) string {
	if k := s.replicas.Keeper(f); k != "" {
		return k
	}
	return node
}
