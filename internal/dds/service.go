package dds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus-dds/dds/client"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/b64"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/replica"
	"github.com/prometheus-dds/dds/internal/store"
)

// DefaultDuration is the term of an upload that names none: one month.
const DefaultDuration = ledger.Month

// MaxDuration bounds a term, so prices and times stay representable.
const MaxDuration = 100 * 365 * 24 * time.Hour

// Confirmer gets a price confirmed by peers before it is quoted. It returns
// the confirmations to keep with the quote (a JSON array).
type Confirmer interface {
	Confirm(ctx context.Context, c Confirmation) (json.RawMessage, error)
}

// Confirmation is what peers are asked to confirm.
type Confirmation struct {
	FileID    string
	Size      int64
	Hash      string
	Duration  time.Duration
	Price     money.Amount
	ExpiresAt time.Time // when the quote lapses
}

// Replicas keeps a paid file's copies in the network.
type Replicas interface {
	Kick()                                                           // a file was paid: place its copies soon
	Heal(ctx context.Context, fileID, hash string, size int64) error // restore this node's copy from a holder
	Copies(ctx context.Context, fileID string) (any, error)          // where the copies are, for file info
}

// Service is the DDS face.
type Service struct {
	db       *store.DB
	blobs    *blob.Store
	ledger   *ledger.Ledger
	auth     *auth.Service
	clock    clock.Clock
	log      *slog.Logger
	MaxSize  int64         // largest file accepted, in bytes
	Confirm  Confirmer     // nil: standalone, no confirmations
	Replicas Replicas      // nil: no network, the only copy is here
	Filter   filter.Filter // storlets; nil: files are served as stored
}

// New opens the DDS face and registers it with the ledger.
func New(ctx context.Context, db *store.DB, blobs *blob.Store, l *ledger.Ledger, a *auth.Service, c clock.Clock, log *slog.Logger, maxSize int64) (*Service, error) {
	if err := db.Migrate(ctx, "dds", migrations); err != nil {
		return nil, err
	}
	s := &Service{db: db, blobs: blobs, ledger: l, auth: a, clock: c, log: log, MaxSize: maxSize}
	l.OnPaid(s.paid)
	return s, nil
}

// Register adds the face's routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /files", s.handle(s.upload))
	mux.HandleFunc("GET /files/{id}", s.handle(s.download))
	mux.HandleFunc("HEAD /files/{id}", s.handle(s.download))
	mux.HandleFunc("PATCH /files/{id}", s.handle(s.extend))
	mux.HandleFunc("GET /files/{id}/info", s.handle(s.info))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Bearer(r)
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

// visible returns a file its caller may see: its owner's or any to an admin.
func (s *Service) visible(ctx context.Context, p auth.Principal, id string) (File, error) {
	f, err := s.file(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.Owner != p.ID && !p.IsAdmin()) {
		return File{}, apierr.NotFound("no file %q", id)
	}
	return f, err
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
	limit := s.MaxSize/3*4 + s.MaxSize/32 + 2*jsonapi.MaxSmall
	body := &bodyReader{http.MaxBytesReader(w, r.Body, limit)}
	var staged *blob.Staged
	defer func() { staged.Discard() }()
	res, err := jsonapi.Stream(body, "data", func(rd io.Reader) error {
		src, done, err := filter.Transform(r.Context(), s.Filter, p.ID, freq, b64.NewDecoder(rd))
		if err != nil {
			return s.stageError(err)
		}
		defer done()
		st, err := s.blobs.Stage(src, s.MaxSize)
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
	f := File{ID: uuid.NewString(), Owner: p.ID, Name: name, Size: staged.Size, Hash: staged.Hash,
		State: StatePending, Additional: additional, Created: s.clock.Now()}
	expires := s.ledger.QuoteExpiry()
	conf, err := s.confirm(r.Context(), f, dur, expires)
	if err != nil {
		return err
	}
	var q ledger.Quote
	err = s.blobs.Commit(r.Context(), staged, func(tx *store.Tx) error {
		if err := insertFile(tx, f); err != nil {
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

func (s *Service) confirm(ctx context.Context, f File, d time.Duration, expires time.Time) (json.RawMessage, error) {
	if s.Confirm == nil {
		return nil, nil
	}
	price, err := s.ledger.Schedule.Price(f.Size, d)
	if err != nil {
		return nil, err
	}
	return s.Confirm.Confirm(ctx, Confirmation{FileID: f.ID, Size: f.Size, Hash: f.Hash, Duration: d, Price: price, ExpiresAt: expires})
}

func (s *Service) stageError(err error) error {
	var be *b64.Error
	switch {
	case errors.As(err, &be):
		return apierr.BadRequest("invalid_base64", "attribute \"data\" is not valid base64: %s", be.Error()).At("/data/attributes/data")
	case errors.Is(err, blob.ErrTooLarge):
		return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the file exceeds this node's limit of %d bytes", s.MaxSize).At("/data/attributes/data")
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
	f, err := s.visible(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	var qp *ledger.Quote
	if q, err := s.ledger.OpenQuote(r.Context(), f.ID); err == nil {
		qp = &q
	}
	jsonapi.Write(w, http.StatusOK, s.doc(r, f, qp))
	return nil
}

func (s *Service) download(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := s.visible(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.clock.Now()
	switch {
	case f.State == StatePending:
		q, err := s.ledger.OpenQuote(r.Context(), f.ID)
		if err != nil || !q.Expires.After(now) {
			return apierr.New(http.StatusGone, "quote_expired", "file %s was never paid and its quote expired; upload it again", f.ID)
		}
		jsonapi.Write(w, http.StatusPaymentRequired, s.doc(r, f, &q))
		return nil
	case f.State == StateAbandoned:
		return apierr.New(http.StatusGone, "quote_expired", "file %s was never paid and its quote expired; upload it again", f.ID)
	case f.State == StateExpired || !f.Expires.After(now):
		return apierr.New(http.StatusGone, "term_ended", "the storage term of file %s ended at %s", f.ID, f.Expires.Format(time.RFC3339))
	}
	if s.blobs.Size(f.Hash) != f.Size {
		// Missing or damaged here: heal from a replica before serving.
		s.log.Warn("stored file content is missing or damaged", "file", f.ID, "hash", f.Hash)
		if s.Replicas == nil {
			return apierr.New(http.StatusServiceUnavailable, "content_unavailable", "the content of file %s is unavailable on this node and it has no replicas", f.ID)
		}
		if err := s.Replicas.Heal(r.Context(), f.ID, f.Hash, f.Size); err != nil {
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
	// The owner's storlets transform what is read.
	if handled, err := filter.Serve(w, r, s.Filter, f.Owner, content, s.log); handled || err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+f.Hash+`"`)
	http.ServeContent(w, r, "", f.StoredAt, content)
	return nil
}

func (s *Service) extend(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := jsonapi.CheckContentType(r); err != nil {
		return err
	}
	res, err := jsonapi.Decode(http.MaxBytesReader(w, r.Body, jsonapi.MaxSmall))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "a PATCH document may not exceed %d bytes", jsonapi.MaxSmall)
		}
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
	f, err := s.visible(r.Context(), p, id)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if f.State == StateExpired || f.State == StateAbandoned || (f.State == StateStored && !f.Expires.After(now)) {
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
	if f.State == StatePending && open != nil {
		current = open.Duration
	}
	total, err := duration(res, current, 0)
	if err != nil {
		return err
	}
	var quoteDur time.Duration
	kind := ledger.KindExtension
	switch {
	case f.State == StatePending && (total != current || open == nil):
		kind, quoteDur = ledger.KindUpload, total
	case f.State == StateStored && total > f.Term:
		quoteDur = total - f.Term
	case f.State == StateStored && total < f.Term:
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
		cur, err := fileTx(tx, f.ID)
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
		if _, err := tx.Exec(`UPDATE files SET additional=?, name=? WHERE id=?`, string(add), name, f.ID); err != nil {
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
	if f.State == StatePending {
		q = open
	}
	jsonapi.Write(w, http.StatusOK, s.doc(r, f, q))
	return nil
}

// paid turns a fully paid quote into storage; the ledger calls it inside the
// payment's transaction.
func (s *Service) paid(tx *store.Tx, q ledger.Quote) error {
	f, err := fileTx(tx, q.FileID)
	if err != nil {
		return fmt.Errorf("paid quote %s for unknown file %s: %w", q.ID, q.FileID, err)
	}
	now := s.clock.Now()
	var start time.Time
	switch {
	case q.Kind == ledger.KindUpload && f.State == StatePending:
		start = now
		f.StoredAt = now
	case q.Kind == ledger.KindExtension && f.State == StateStored:
		start = f.Expires
	default:
		return apierr.Conflict("not_payable", "file %s is %s; quote %s can no longer be paid", f.ID, f.State, q.ID)
	}
	end := start.Add(q.Duration)
	f.Term += q.Duration
	if _, err := tx.Exec(`UPDATE files SET state=?, term_s=?, stored_at=?, expires_at=? WHERE id=?`,
		StateStored, int64(f.Term/time.Second), store.Time(f.StoredAt), store.Time(end), f.ID); err != nil {
		return err
	}
	s.log.Info("file paid", "file", f.ID, "quote", q.ID, "kind", q.Kind, "expires", end)
	if s.Replicas != nil {
		tx.AfterCommit(s.Replicas.Kick)
	}
	return s.ledger.AddTerm(tx, ledger.Term{FileID: f.ID, QuoteID: q.ID, Start: start, End: end, Size: f.Size, Price: q.Price})
}

// Sweep deletes the content of files whose quote expired unpaid or whose
// term ended. It returns how many files it closed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		expired, err := s.ledger.ExpireQuotes(tx)
		if err != nil {
			return err
		}
		for _, q := range expired {
			if q.Kind != ledger.KindUpload {
				continue
			}
			res, err := tx.Exec(`UPDATE files SET state=? WHERE id=? AND state=?`, StateAbandoned, q.FileID, StatePending)
			if err != nil {
				return err
			}
			if c, _ := res.RowsAffected(); c == 1 {
				f, err := fileTx(tx, q.FileID)
				if err != nil {
					return err
				}
				if err := s.blobs.Unref(tx, f.Hash); err != nil {
					return err
				}
				n++
			}
		}
		rows, err := tx.Query(`SELECT `+fileCols+` FROM files WHERE state=? AND expires_at<=?`, StateStored, store.Time(s.clock.Now()))
		if err != nil {
			return err
		}
		var ended []File
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ended = append(ended, f)
		}
		rows.Close()
		for _, f := range ended {
			if _, err := tx.Exec(`UPDATE files SET state=? WHERE id=?`, StateExpired, f.ID); err != nil {
				return err
			}
			if err := s.ledger.CloseQuotes(tx, f.ID); err != nil {
				return err
			}
			if err := s.blobs.Unref(tx, f.Hash); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if n > 0 {
		s.log.Info("sweep closed files", "count", n)
	}
	return n, err
}

// Attributes of a file as the API renders them.
type Attributes struct {
	Name        string          `json:"name"`
	Price       float64         `json:"price"`
	PriceExact  string          `json:"price_exact"`
	Duration    int64           `json:"duration"`
	Additional  json.RawMessage `json:"additional"`
	State       string          `json:"state"`
	Size        int64           `json:"size"`
	ContentHash string          `json:"content_hash"`
	CreatedAt   time.Time       `json:"created_at"`
	StoredAt    *time.Time      `json:"stored_at,omitempty"`
	ExpiresAt   *time.Time      `json:"expires_at,omitempty"`
}

// doc renders a file. With a quote, price and duration are the quote's (the
// duration being the total term asked for); otherwise the paid ones.
func (s *Service) doc(r *http.Request, f File, q *ledger.Quote) jsonapi.Document {
	ctx := r.Context()
	a := Attributes{Name: f.Name, Duration: int64(f.Term / time.Second), Additional: f.Additional, State: f.State,
		Size: f.Size, ContentHash: f.Hash, CreatedAt: f.Created}
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
		meta = map[string]any{"quote": client.Quote{ID: q.ID, Kind: q.Kind, Price: q.Price.String(), Paid: q.Paid.String(),
			Duration: int64(q.Duration / time.Second), ExpiresAt: q.Expires, Confirmations: q.Confirmations}}
	} else {
		if paid, err := s.ledger.PaidTotal(ctx, f.ID); err == nil {
			price = paid
		}
		m := map[string]any{}
		if lq, err := s.ledger.LatestQuote(ctx, f.ID); err == nil {
			m["confirmations"] = lq.Confirmations
		}
		if s.Replicas != nil && f.State == StateStored {
			if cs, err := s.Replicas.Copies(ctx, f.ID); err == nil {
				m["copies"] = cs
			}
		}
		if len(m) > 0 {
			meta = m
		}
	}
	a.Price, a.PriceExact = price.Float64(), price.String()
	self := jsonapi.BaseURL(r) + "/files/" + f.ID
	return jsonapi.Document{Data: jsonapi.Out{Type: "file", ID: f.ID, Attributes: a, Links: map[string]string{"self": self}, Meta: meta}}
}

// Stored lists this node's paid files whose term has not ended, for
// replication.
func (s *Service) Stored(ctx context.Context) ([]replica.FileRef, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id,content_hash,name,size,expires_at FROM files WHERE state=? AND expires_at>?`,
		StateStored, store.Time(s.clock.Now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []replica.FileRef
	for rows.Next() {
		var f replica.FileRef
		var exp string
		if err := rows.Scan(&f.ID, &f.Hash, &f.Name, &f.Size, &exp); err != nil {
			return nil, err
		}
		f.Expires = store.ParseTime(exp)
		out = append(out, f)
	}
	return out, rows.Err()
}

// HasContent tells whether a stored file of this node has the content hash.
func (s *Service) HasContent(ctx context.Context, hash string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE content_hash=? AND state=?`, hash, StateStored).Scan(&n)
	return n > 0, err
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

// Exists tells whether a file id names a file, in any state (the Billing face
// asks before recording a payment for it).
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	_, err := s.file(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// StoredFile returns a file whose term runs, for other parts of the node
// (the data provider serves stored files as its native "dds" file type).
func (s *Service) StoredFile(ctx context.Context, id string) (File, error) {
	f, err := s.file(ctx, id)
	if err == nil && (f.State != StateStored || !f.Expires.After(s.clock.Now())) {
		err = store.ErrNotFound
	}
	return f, err
}
