package dds

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/b64"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/merkle"
	"github.com/prometheus-dds/dds/internal/store"
)

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
		st, err := s.blobs.Begin(src, s.maxSize, tree)
		if err != nil {
			return s.stageError(err)
		}
		staged = st
		return nil
	})
	if err != nil {
		var mb *http.MaxBytesError
		var be *bodyError
		var guard *apierr.Error
		switch {
		case errors.As(err, &mb):
			return s.stageError(blob.ErrTooLarge)
		case errors.As(err, &be) && errors.As(be.err, &guard):
			return guard // the body guard's 408/429/503
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
	f := files.File{ID: store.NewID(), Owner: p.ID, Name: name, Size: staged.Size, Hash: staged.Hash,
		State: files.StatePending, Additional: additional, Created: s.clock.Now()}
	root := tree.Root()
	f.MerkleRoot = hex.EncodeToString(root[:])
	expires := s.ledger.QuoteExpiry()
	// The peers confirm the price while the content is made durable (its
	// fsyncs): both before the answer, neither waiting for the other.
	placed := make(chan error, 1)
	go func() { placed <- s.blobs.Place(r.Context(), staged) }()
	conf, err := s.confirm(r.Context(), f, dur, expires)
	if perr := <-placed; perr != nil {
		return s.stageError(perr)
	}
	if err != nil {
		return err
	}
	var q ledger.Quote
	err = s.blobs.Commit(r.Context(), staged, func(ctx context.Context) error {
		if err := s.files.Insert(ctx, f); err != nil {
			return err
		}
		q, err = s.ledger.NewQuote(ctx, f.ID, ledger.KindUpload, f.Size, dur, expires, conf)
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
