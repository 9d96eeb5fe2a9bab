// Package dds is the DDS external API face: upload a file and get a price
// (402), extend its term, read it and its info. It speaks JSON:API. The file
// records are the registry's (package files); the price is the ledger's,
// confirmed by peers of the network.
package dds

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"hash"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/b64"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/merkle"
	"github.com/prometheus-dds/dds/internal/money"
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
	fs.Int64Var(&c.MaxFileSize, "max-file-size", c.MaxFileSize, "largest file accepted, in bytes")
}

// Files are the records of the files.
type Files interface {
	Get(ctx context.Context, id string) (files.File, error)
	GetTx(tx *store.Tx, id string) (files.File, error)
	Insert(tx *store.Tx, f files.File) error
	Describe(tx *store.Tx, id, name string, additional json.RawMessage) error
}

// Ledger prices and quotes terms.
type Ledger interface {
	Price(size int64, d time.Duration) (money.Amount, error)
	QuoteExpiry() time.Time
	NewQuote(tx *store.Tx, fileID, kind string, size int64, d time.Duration, expires time.Time, confirmations json.RawMessage) (ledger.Quote, error)
	OpenQuote(ctx context.Context, fileID string) (ledger.Quote, error)
	LatestQuote(ctx context.Context, fileID string) (ledger.Quote, error)
}

// Blobs holds the content.
type Blobs interface {
	Stage(r io.Reader, limit int64, extra ...hash.Hash) (*blob.Staged, error)
	Commit(ctx context.Context, st *blob.Staged, fn func(tx *store.Tx) error) error
	Size(hash string) int64
	Open(hash string) (*os.File, error)
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
}

// Deps are the face's dependencies.
type Deps struct {
	DB       *store.DB
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
	db        *store.DB
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
	return &Service{db: deps.DB, files: deps.Files, ledger: deps.Ledger, blobs: deps.Blobs, auth: deps.Auth,
		confirmer: deps.Confirm, replicas: deps.Replicas, filter: deps.Filter, clock: deps.Clock, log: deps.Log,
		maxSize: cfg.MaxFileSize}, nil
}

// Routes adds the face's routes.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /files", s.handle(s.upload))
	mux.HandleFunc("GET /files/{id}", s.handle(s.download))
	mux.HandleFunc("HEAD /files/{id}", s.handle(s.download))
	mux.HandleFunc("PATCH /files/{id}", s.handle(s.extend))
	mux.HandleFunc("GET /files/{id}/info", s.handle(s.info))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.caller(r)
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

func (s *Service) upload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := jsonapi.CheckContentType(r); err != nil {
		return err
	}
	freq, err := filter.FromHTTP(r, true) // X-Run-Storlet transforms what is stored
	if err != nil {
		return err
	}
	// Base64 inflates by 4/3; allow line breaks and the small attributes.
	limit := s.maxSize/3*4 + s.maxSize/32 + 2*jsonapi.MaxSmall
	body := &bodyReader{http.MaxBytesReader(w, r.Body, limit)}
	var staged *blob.Staged
	defer func() { staged.Discard() }()
	tree := merkle.NewBuilder()
	res, err := jsonapi.Stream(body, "data", func(rd io.Reader) error {
		src, done, err := filter.Transform(r.Context(), s.filter, p.ID, freq, b64.NewDecoder(rd))
		if err != nil {
			return s.stageError(err)
		}
		defer done()
		// The Merkle root is computed as the content streams in; the
		// confirming peers sign it, and holders prove their copies against it.
		st, err := s.blobs.Stage(src, s.maxSize, tree)
		if err != nil {
			return s.stageError(err)
		}
		staged = st
		return nil
	})
	if err != nil {
		var mb *http.MaxBytesError
		var be *bodyError
		switch {
		case errors.As(err, &mb):
			return s.stageError(blob.ErrTooLarge)
		case errors.As(err, &be):
			return apierr.BadRequest("body_unreadable", "%v; send the whole document again", be)
		}
		return err
	}
	if res.Type != "file" {
		return apierr.Conflict("wrong_type", "data.type must be \"file\", not %q", res.Type).At("/data/type")
	}
	if res.ID != "" {
		return apierr.New(http.StatusForbidden, "client_id", "the node assigns file ids; leave data.id out").At("/data/id")
	}
	if staged == nil {
		if _, ok := res.Attributes["data"]; ok {
			return apierr.BadRequest("invalid_attribute", "attribute \"data\" must be a base64 string").At("/data/attributes/data")
		}
		return apierr.BadRequest("missing_attribute", "attribute \"data\" (the base64 file content) is required").At("/data/attributes/data")
	}
	var name string
	if ok, err := res.Attr("name", &name); err != nil {
		return err
	} else if !ok || strings.TrimSpace(name) == "" {
		return apierr.BadRequest("missing_attribute", "attribute \"name\" (the file name) is required").At("/data/attributes/name")
	}
	if err := checkName(name); err != nil {
		return err
	}
	dur, err := duration(res, DefaultDuration, 0)
	if err != nil {
		return err
	}
	additional, err := additionalAttr(res, nil)
	if err != nil {
		return err
	}
	f := files.File{ID: uuid.NewString(), Owner: p.ID, Name: name, Size: staged.Size, Hash: staged.Hash,
		State: files.StatePending, Additional: additional, Created: s.clock.Now()}
	root := tree.Root()
	f.MerkleRoot = hex.EncodeToString(root[:])
	expires := s.ledger.QuoteExpiry()
	conf, err := s.confirm(r.Context(), f, dur, expires)
	if err != nil {
		return err
	}
	var q ledger.Quote
	err = s.blobs.Commit(r.Context(), staged, func(tx *store.Tx) error {
		if err := s.files.Insert(tx, f); err != nil {
			return err
		}
		q, err = s.ledger.NewQuote(tx, f.ID, ledger.KindUpload, f.Size, dur, expires, conf)
		return err
	})
	if err != nil {
		return err
	}
	s.log.Info("file uploaded", "file", f.ID, "owner", p.Name, "size", f.Size, "price", q.Price.String())
	jsonapi.Write(w, http.StatusPaymentRequired, s.doc(r, f, &q))
	return nil
}

func (s *Service) confirm(ctx context.Context, f files.File, d time.Duration, expires time.Time) (json.RawMessage, error) {
	price, err := s.ledger.Price(f.Size, d)
	if err != nil {
		return nil, err
	}
	return s.confirmer.Confirm(ctx, ledger.Confirmation{FileID: f.ID, Size: f.Size, Hash: f.Hash, MerkleRoot: f.MerkleRoot,
		Duration: d, Price: price, ExpiresAt: expires})
}

func (s *Service) stageError(err error) error {
	var be *b64.Error
	switch {
	case errors.As(err, &be):
		return apierr.BadRequest("invalid_base64", "attribute \"data\" is not valid base64: %s", be.Error()).At("/data/attributes/data")
	case errors.Is(err, blob.ErrTooLarge):
		return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the file exceeds this node's limit of %d bytes", s.maxSize).At("/data/attributes/data")
	case errors.Is(err, syscall.ENOSPC):
		return apierr.New(http.StatusInsufficientStorage, "no_space", "the node is out of disk space; try another node")
	}
	return err
}

func checkName(name string) error {
	if len(name) > 255 || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00/\\") {
		return apierr.BadRequest("invalid_attribute", "attribute \"name\" must be a file name of at most 255 bytes without '/', '\\\\' or NUL").At("/data/attributes/name")
	}
	return nil
}

// duration reads the duration attribute (seconds); def when absent.
func duration(res *jsonapi.Resource, def time.Duration, min time.Duration) (time.Duration, error) {
	var secs int64
	ok, err := res.Attr("duration", &secs)
	if err != nil {
		return 0, err
	}
	if !ok {
		return def, nil
	}
	d := time.Duration(secs) * time.Second
	if secs <= 0 || d > MaxDuration || secs > int64(MaxDuration/time.Second) {
		return 0, apierr.BadRequest("invalid_attribute", "attribute \"duration\" must be a whole number of seconds between 1 and %d", int64(MaxDuration/time.Second)).At("/data/attributes/duration")
	}
	return d, nil
}

// additionalAttr reads the additional attribute and merges it into base as a
// JSON merge patch (RFC 7396: null deletes a key).
func additionalAttr(res *jsonapi.Resource, base json.RawMessage) (json.RawMessage, error) {
	var patch map[string]any
	ok, err := res.Attr("additional", &patch)
	if err != nil {
		return nil, err
	}
	merged := map[string]any{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &merged); err != nil {
			return nil, err
		}
	}
	if ok {
		mergePatch(merged, patch)
	}
	return json.Marshal(merged)
}

func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			dv, ok := dst[k].(map[string]any)
			if !ok {
				dv = map[string]any{}
			}
			mergePatch(dv, pv)
			dst[k] = dv
		default:
			dst[k] = v
		}
	}
}

func (s *Service) info(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, here, err := s.visible(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !here {
		rec, node, err := s.elsewhere(r, p, r.PathValue("id"))
		if err != nil {
			return err
		}
		// The housekeeper knows of an open quote; any holder knows the rest.
		return s.forward(w, r, p, append([]string{s.keeper(rec, node)}, s.replicas.Readers(rec)...), nil)
	}
	var qp *ledger.Quote
	if q, err := s.ledger.OpenQuote(r.Context(), f.ID); err == nil {
		qp = &q
	} else if f.State == files.StateStored && s.replicas != nil && !s.forwarded(r) && !p.IsAdmin() {
		// An open extension quote is the housekeeper's: ask it, or answer
		// from this copy of the record when it does not answer.
		if k := s.replicas.Keeper(f); k != "" && k != s.replicas.ID() && s.replicas.Forward(w, r, k, p, nil) == nil {
			return nil
		}
	}
	jsonapi.Write(w, http.StatusOK, s.doc(r, f, qp))
	return nil
}

func (s *Service) download(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, here, err := s.visible(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !here {
		return s.proxy(w, r, p)
	}
	now := s.clock.Now()
	switch {
	case f.State == files.StatePending:
		q, err := s.ledger.OpenQuote(r.Context(), f.ID)
		if err != nil || !q.Expires.After(now) {
			return apierr.New(http.StatusGone, "quote_expired", "file %s was never paid and its quote expired; upload it again", f.ID)
		}
		jsonapi.Write(w, http.StatusPaymentRequired, s.doc(r, f, &q))
		return nil
	case f.State == files.StateAbandoned:
		return apierr.New(http.StatusGone, "quote_expired", "file %s was never paid and its quote expired; upload it again", f.ID)
	case f.State == files.StateExpired || !f.Expires.After(now):
		return apierr.New(http.StatusGone, "term_ended", "the storage term of file %s ended at %s", f.ID, f.Expires.Format(time.RFC3339))
	}
	if s.blobs.Size(f.Hash) != f.Size {
		// Missing or damaged here: heal from a replica before serving.
		s.log.Warn("stored file content is missing or damaged", "file", f.ID, "hash", f.Hash)
		if s.replicas == nil {
			return apierr.New(http.StatusServiceUnavailable, "content_unavailable", "the content of file %s is unavailable on this node and it has no replicas", f.ID)
		}
		if err := s.replicas.Heal(r.Context(), f); err != nil {
			s.log.Error("cannot heal file content", "file", f.ID, "err", err)
			return apierr.New(http.StatusServiceUnavailable, "content_unavailable", "the content of file %s is unavailable here and on its replicas; retry later", f.ID)
		}
	}
	content, err := s.blobs.Open(f.Hash)
	if err != nil {
		return err
	}
	defer content.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	// The owner's storlets transform what is read; a node that forwarded
	// the read ran them already.
	if !s.forwarded(r) {
		if handled, err := filter.Serve(w, r, s.filter, f.Owner, content, s.log); handled || err != nil {
			return err
		}
	}
	w.Header().Set("ETag", `"`+f.Hash+`"`)
	http.ServeContent(w, r, "", f.StoredAt, content)
	return nil
}

func (s *Service) extend(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := jsonapi.CheckContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, jsonapi.MaxSmall))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "a PATCH document may not exceed %d bytes", jsonapi.MaxSmall)
		}
		return apierr.BadRequest("body_unreadable", "reading the request body failed: %v", err)
	}
	res, err := jsonapi.Decode(bytes.NewReader(body))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if res.Type != "file" {
		return apierr.Conflict("wrong_type", "data.type must be \"file\", not %q", res.Type).At("/data/type")
	}
	if res.ID != "" && res.ID != id {
		return apierr.Conflict("id_mismatch", "data.id %q does not match the URL's %q", res.ID, id).At("/data/id")
	}
	if _, ok := res.Attributes["data"]; ok {
		return apierr.BadRequest("immutable", "a file's content cannot be changed; upload a new file").At("/data/attributes/data")
	}
	f, here, err := s.visible(r.Context(), p, id)
	if err != nil {
		return err
	}
	// Changes to a paid file are the housekeeper's to make and carry.
	if !here {
		rec, node, err := s.elsewhere(r, p, id)
		if err != nil {
			return err
		}
		// Should the housekeeper not answer (membership has yet to see it
		// gone), the next holder carries the change.
		return s.forward(w, r, p, append([]string{s.keeper(rec, node)}, s.replicas.Readers(rec)...), body)
	}
	if f.State == files.StateStored && s.replicas != nil && !s.forwarded(r) && !p.IsAdmin() {
		if k := s.replicas.Keeper(f); k != "" && k != s.replicas.ID() {
			return s.forward(w, r, p, append([]string{k}, s.replicas.Readers(f)...), body)
		}
	}
	now := s.clock.Now()
	if f.State == files.StateExpired || f.State == files.StateAbandoned || (f.State == files.StateStored && !f.Expires.After(now)) {
		return apierr.New(http.StatusGone, "gone", "file %s is no longer stored; upload it again", f.ID)
	}
	var name string
	if ok, err := res.Attr("name", &name); err != nil {
		return err
	} else if ok {
		if err := checkName(name); err != nil {
			return err
		}
	}
	// The requested total term; for a pending file, the quoted one.
	current := f.Term
	var open *ledger.Quote
	if q, err := s.ledger.OpenQuote(r.Context(), f.ID); err == nil {
		open = &q
	}
	if f.State == files.StatePending && open != nil {
		current = open.Duration
	}
	total, err := duration(res, current, 0)
	if err != nil {
		return err
	}
	var quoteDur time.Duration
	kind := ledger.KindExtension
	switch {
	case f.State == files.StatePending && (total != current || open == nil):
		kind, quoteDur = ledger.KindUpload, total
	case f.State == files.StateStored && total > f.Term:
		quoteDur = total - f.Term
	case f.State == files.StateStored && total < f.Term:
		return apierr.Conflict("term_shrink", "a paid term cannot be shortened: file %s is paid for %d s, asked %d s", f.ID, int64(f.Term/time.Second), int64(total/time.Second)).At("/data/attributes/duration")
	}
	var conf json.RawMessage
	expires := s.ledger.QuoteExpiry()
	if quoteDur > 0 {
		if conf, err = s.confirm(r.Context(), f, quoteDur, expires); err != nil {
			return err
		}
	}
	var q *ledger.Quote
	err = s.db.Tx(r.Context(), func(tx *store.Tx) error {
		cur, err := s.files.GetTx(tx, f.ID)
		if err != nil {
			return err
		}
		if cur.State != f.State || cur.Term != f.Term {
			return apierr.Conflict("concurrent_change", "file %s changed while this request ran; retry it", f.ID)
		}
		add, err := additionalAttr(res, cur.Additional)
		if err != nil {
			return err
		}
		if name == "" {
			name = cur.Name
		}
		if err := s.files.Describe(tx, f.ID, name, add); err != nil {
			return err
		}
		f.Additional, f.Name = add, name
		if quoteDur > 0 {
			nq, err := s.ledger.NewQuote(tx, f.ID, kind, f.Size, quoteDur, expires, conf)
			if err != nil {
				return err
			}
			q = &nq
		}
		return nil
	})
	if err != nil {
		return err
	}
	if q != nil {
		jsonapi.Write(w, http.StatusPaymentRequired, s.doc(r, f, q))
		return nil
	}
	if f.State == files.StatePending {
		q = open
	}
	jsonapi.Write(w, http.StatusOK, s.doc(r, f, q))
	return nil
}

// doc renders a file. With a quote, price and duration are the quote's (the
// duration being the total term asked for); otherwise the paid ones.
func (s *Service) doc(r *http.Request, f files.File, q *ledger.Quote) jsonapi.Document {
	ctx := r.Context()
	a := api.File{Name: f.Name, Duration: int64(f.Term / time.Second), Additional: f.Additional, State: f.State,
		Size: f.Size, ContentHash: f.Hash, MerkleRoot: f.MerkleRoot, CreatedAt: f.Created}
	if !f.StoredAt.IsZero() {
		a.StoredAt = &f.StoredAt
	}
	if !f.Expires.IsZero() {
		a.ExpiresAt = &f.Expires
	}
	var meta any // absent unless there is a quote: JSON:API forbids a null meta
	price := money.Amount(0)
	if q != nil {
		price = q.Price
		a.Duration += int64(q.Duration / time.Second)
		meta = map[string]any{"quote": api.Quote{ID: q.ID, Kind: q.Kind, Price: q.Price.String(), Paid: q.Paid.String(),
			Duration: int64(q.Duration / time.Second), ExpiresAt: q.Expires, Confirmations: q.Confirmations}}
	} else {
		price = f.Price
		m := map[string]any{}
		if len(f.Confirmations) > 0 {
			m["confirmations"] = f.Confirmations
		} else if lq, err := s.ledger.LatestQuote(ctx, f.ID); err == nil {
			m["confirmations"] = lq.Confirmations
		}
		if s.replicas != nil && f.State == files.StateStored {
			m["copies"] = s.replicas.Copies(f)
		}
		if len(m) > 0 {
			meta = m
		}
	}
	a.Price, a.PriceExact = price.Float64(), price.String()
	self := jsonapi.BaseURL(r) + "/files/" + f.ID
	return jsonapi.Document{Data: jsonapi.Out{Type: "file", ID: f.ID, Attributes: a, Links: map[string]string{"self": self}, Meta: meta}}
}

// bodyReader marks errors of reading the request body, so that a client that
// goes away mid-upload is told (and logged) as a client error, not a fault of
// the node.
type bodyReader struct{ r io.Reader }

type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the request body failed: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
}

// proxy answers a read of a file this node keeps no copy of from a node
// that does, streamed, with its status and headers. The reader's storlets
// run here, on the node that was asked.
func (s *Service) proxy(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, node, err := s.elsewhere(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	targets := s.replicas.Readers(f)
	if len(targets) == 0 {
		targets = []string{node} // unpaid: the node that took the upload answers
	}
	if s.filter != nil && r.Method == http.MethodGet {
		content := &lazyReader{open: func() (io.ReadCloser, error) { return s.replicas.Open(r.Context(), targets[0], p, f.ID) }}
		defer content.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
		if handled, err := filter.Serve(w, r, s.filter, f.Owner, content, s.log); handled || err != nil {
			return err
		}
		w.Header().Del("Content-Type")
		w.Header().Del("Content-Disposition")
	}
	return s.forward(w, r, p, targets, nil)
}

// forward has the first of nodes that answers answer r.
func (s *Service) forward(w http.ResponseWriter, r *http.Request, p auth.Principal, nodes []string, body []byte) error {
	var err error
	for _, node := range slices.Compact(nodes) {
		if err = s.replicas.Forward(w, r, node, p, body); err == nil {
			return nil
		}
		s.log.Warn("cannot forward a request", "path", r.URL.Path, "node", node, "err", err)
	}
	return err
}

// lazyReader opens its source on the first read: a storlet that does not
// apply never reads, so nothing is fetched for it.
type lazyReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.rc == nil && l.err == nil {
		l.rc, l.err = l.open()
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.rc.Read(p)
}

func (l *lazyReader) Close() error {
	if l.rc != nil {
		return l.rc.Close()
	}
	return nil
}
