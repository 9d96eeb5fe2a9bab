package assets

import (
	"cmp"
	"context"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"syscall"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/httpjson"
)

// putContent stores the raw request body as the asset's content.
func (s *Service) putContent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a, err := s.ownAsset(r, p)
	if err != nil {
		return err
	}
	return s.upload(w, r, p, a, nil, r.ContentLength, func(stage func(io.Reader) error) error {
		return stage(r.Body)
	})
}

// postContent stores the multipart/form-data field "file" as the asset's
// content, streaming it: the form is never spooled to memory or disk first.
func (s *Service) postContent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a, err := s.ownAsset(r, p)
	if err != nil {
		return err
	}
	return s.upload(w, r, p, a, nil, -1, func(stage func(io.Reader) error) error {
		return readForm(r, nil, stage)
	})
}

// createAsset registers an asset and stores its content in one request and
// one transaction: a multipart/form-data body with the field "metadata" (the
// document, byte for byte) before the field "file" (the content). An asset
// the caller registered already gets the content, as with PUT.
func (s *Service) createAsset(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var a Asset
	var doc []byte
	return s.upload(w, r, p, a, &doc, -1, func(stage func(io.Reader) error) error {
		return readForm(r, func(part io.Reader) error {
			var err error
			doc, err = io.ReadAll(io.LimitReader(part, MaxMetadata+1))
			if err != nil {
				return err
			}
			if len(doc) > MaxMetadata {
				return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the metadata exceeds %d bytes", MaxMetadata)
			}
			return nil
		}, stage)
	})
}

// ownAsset is the asset in the path, which p must own to upload content.
func (s *Service) ownAsset(r *http.Request, p auth.Principal) (Asset, error) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return Asset{}, err
	}
	a, err := s.readable(r.Context(), p, id) // who may not see it learns nothing more
	if err != nil {
		return Asset{}, err
	}
	if a.Owner != p.ID {
		return Asset{}, apierr.Forbidden("only the principal that registered asset %s may upload its content", id)
	}
	return a, nil
}

// earlyRefusalMin is the size of a request body above which an upload to
// another's asset is refused before the content is read (mayFill).
const earlyRefusalMin = 256 << 10

// mayFill refuses, before its content is read, an upload to an asset
// registered by another principal.
func (s *Service) mayFill(ctx context.Context, p auth.Principal, id string) error {
	owner, err := s.store.Owner(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && owner == p.ID {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.readable(ctx, p, id); err != nil {
		return err
	}
	return apierr.Forbidden("only the principal that registered asset %s may upload its content", id)
}

// readForm reads a multipart/form-data body: the part named "metadata" goes
// to meta (when meta is not nil: then it is required, before "file"), the
// part named "file" to stage. Other parts are skipped; the body must be a
// well-formed form to its closing boundary.
func readForm(r *http.Request, meta, stage func(io.Reader) error) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		if meta != nil {
			return apierr.New(http.StatusUnsupportedMediaType, "not_multipart",
				"POST /api/v1/assets takes multipart/form-data with the field \"metadata\" then the field \"file\"")
		}
		return apierr.New(http.StatusUnsupportedMediaType, "not_multipart",
			"POST uploads are multipart/form-data with the content in the field \"file\"; to send the raw bytes, use PUT")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	found, haveMeta := false, false
	for {
		part, err := mr.NextRawPart() // raw: never decode a Content-Transfer-Encoding the client did not mean
		if err == io.EOF {
			break
		}
		if err != nil {
			return badForm(err)
		}
		switch name := part.FormName(); {
		case name == "metadata" && meta != nil:
			if haveMeta || found {
				return apierr.BadRequest("bad_multipart", "the form has one field \"metadata\", before the field \"file\"")
			}
			haveMeta = true
			if err := meta(part); err != nil {
				return badForm(err)
			}
		case name == "file":
			if found {
				return apierr.BadRequest("bad_multipart", "the form has more than one field \"file\"")
			}
			if meta != nil && !haveMeta {
				return apierr.BadRequest("missing_metadata", "the form's field \"metadata\" must come before the field \"file\"")
			}
			found = true
			if err := stage(part); err != nil {
				return err
			}
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				return badForm(err)
			}
		}
	}
	if !found {
		return apierr.BadRequest("missing_file", "the form has no field \"file\" with the content")
	}
	return nil
}

func badForm(err error) error {
	var mb *http.MaxBytesError
	var e *apierr.Error
	if errors.As(err, &mb) || errors.As(err, &e) {
		return err
	}
	return apierr.BadRequest("bad_multipart", "malformed multipart/form-data body: %v", err)
}

// readErr marks an error that came from reading the request, not from
// writing to disk: the client's fault (or its going away), never a 5xx.
type readErr struct{ err error }

func (e readErr) Error() string { return e.err.Error() }
func (e readErr) Unwrap() error { return e.err }

type clientReader struct{ r io.Reader }

func (c clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = readErr{err}
	}
	return n, err
}

// filler makes each Read fill p unless the stream ends or fails, so that
// the small reads a multipart part or a chunked body yields (4 KiB or less)
// become large writes to disk.
type filler struct{ r io.Reader }

func (f filler) Read(p []byte) (n int, err error) {
	for n < len(p) && err == nil {
		var m int
		m, err = f.r.Read(p[n:])
		n += m
	}
	return n, err
}

// upload stages what body passes to its stage function as asset a's content
// (hashing it with SHA3-256 on the way when the metadata declares a
// contentHash), checks the hash against the metadata and commits it. With
// doc not nil, body reads the metadata first into *doc, and the asset is
// registered (unless p registered it already) in the transaction that
// stores the content. Whatever fails leaves nothing behind. size is the
// content's length when known (a raw PUT's Content-Length), else -1.
func (s *Service) upload(w http.ResponseWriter, r *http.Request, p auth.Principal, a Asset, doc *[]byte, size int64, body func(stage func(io.Reader) error) error) error {
	ctx := r.Context()
	limit, byQuota, err := s.room(r, a)
	if err != nil {
		return err
	}
	// X-Run-Storlet transforms the upload before it is stored; the content
	// hash is then checked on what is stored, since that is what the asset's
	// metadata describes and what downloads serve.
	freq, err := filter.FromHTTP(r, true, "access_token")
	if err != nil {
		return err
	}
	// Multipart framing adds a little around the content.
	slack := int64(64 << 10)
	if doc != nil {
		slack += MaxMetadata
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+slack)

	var staged *blob.Staged
	defer func() { staged.Discard() }()
	var h hash.Hash // SHA3-256, when the metadata declares a content hash to check
	err = body(func(rd io.Reader) error {
		if doc != nil {
			// The metadata has been read: it names the asset.
			md, err := ParseMetadata(*doc)
			if err != nil {
				return err
			}
			a = Asset{ID: AssetID(*doc), Owner: p.ID, Metadata: *doc, Meta: md}
			// Refusing before the content is read spares reading a large
			// body; a small one costs less to read than the lookup (the
			// transaction checks the owner again either way).
			if r.ContentLength < 0 || r.ContentLength > earlyRefusalMin {
				if err := s.mayFill(ctx, p, a.ID); err != nil {
					return err
				}
			}
		}
		src, done, err := filter.Transform(ctx, s.filter, p.ID, freq, clientReader{filler{rd}})
		if err != nil {
			return err
		}
		defer done()
		if !freq.Explicit() { // stored as sent: its length is known
			src = blob.Sized(src, size)
		}
		var extra []hash.Hash
		if a.Meta.ContentHash != "" {
			h = sha3.New256()
			extra = append(extra, h)
		}
		st, err := s.blobs.Stage(src, limit, extra...)
		if err != nil {
			return err
		}
		staged = st
		return nil
	})
	if err != nil {
		return s.stageError(err, byQuota)
	}
	id := a.ID
	var sum string
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	if sum != a.Meta.ContentHash {
		if doc != nil { // who may not fill the asset learns that first, as from a large upload
			if err := s.mayFill(ctx, p, a.ID); err != nil {
				return err
			}
		}
		return apierr.BadRequest("content_hash_mismatch", "the SHA3-256 of the upload is %s; the asset's metadata says contentHash %s", sum, a.Meta.ContentHash)
	}
	now := s.clock.Now()
	registered := false
	content := Asset{ID: id, BlobHash: staged.Hash, Size: staged.Size, SHA3: sum, UploadedAt: now}
	err = s.blobs.Commit(ctx, staged, func(ctx context.Context) error {
		if doc != nil {
			a.Created = now
			a.BlobHash, a.Size, a.SHA3, a.UploadedAt = content.BlobHash, content.Size, content.SHA3, content.UploadedAt
			var err error
			if registered, err = s.store.Register(ctx, a); err != nil {
				return err
			}
			if registered { // with its content, in one statement
				return s.overQuota(ctx)
			}
		}
		cur, err := s.owned(ctx, p, id) // it may have been deleted meanwhile
		if err != nil {
			return err
		}
		if cur.Owner != p.ID { // an admin may delete others' assets, not fill them
			return apierr.Forbidden("only the principal that registered asset %s may upload its content", id)
		}
		if err := s.store.SetContent(ctx, content); err != nil {
			return err
		}
		if cur.BlobHash != "" {
			if err := s.blobs.Unref(ctx, cur.BlobHash); err != nil {
				return err
			}
		}
		return s.overQuota(ctx)
	})
	if err != nil {
		return err
	}
	if registered {
		s.log.Info("asset registered", "asset", id, "owner", p.Name, "type", a.Meta.Type)
	}
	s.log.Info("asset content stored", "asset", id, "owner", p.Name, "size", staged.Size)
	w.Header().Set("Location", "/api/v1/assets/"+id)
	httpjson.Write(w, http.StatusCreated, id)
	return nil
}

// overQuota refuses, in the transaction that stores content, a store whose
// content has grown past the quota.
func (s *Service) overQuota(ctx context.Context) error {
	if s.cfg.Quota <= 0 {
		return nil
	}
	used, err := s.store.ContentBytes(ctx)
	if err != nil {
		return err
	}
	if used > s.cfg.Quota {
		return noSpace(s.cfg.Quota)
	}
	return nil
}

// room returns how many bytes the upload may have and whether the quota (not
// the size limit) sets it. A declared Content-Length that cannot fit is
// refused before a byte is read.
func (s *Service) room(r *http.Request, a Asset) (limit int64, byQuota bool, err error) {
	limit = s.cfg.MaxSize
	if s.cfg.Quota > 0 {
		used, err := s.store.ContentBytes(r.Context())
		if err != nil {
			return 0, false, err
		}
		left := s.cfg.Quota - used + a.Size // replacing content frees the old
		if left < limit {
			limit, byQuota = max(left, 0), true
		}
	}
	tooBig := func(n int64) bool {
		return r.ContentLength > n+64<<10 || (r.Method == http.MethodPut && r.ContentLength > n)
	}
	switch {
	case tooBig(s.cfg.MaxSize):
		return 0, false, tooLarge(s.cfg.MaxSize)
	case tooBig(limit):
		return 0, false, noSpace(s.cfg.Quota)
	}
	return limit, byQuota, nil
}

func noSpace(quota int64) error {
	return apierr.New(http.StatusInsufficientStorage, "no_space", "this node has no room for the content: its asset storage is limited to %d bytes", quota)
}

func tooLarge(limit int64) error {
	return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the content exceeds this node's limit of %d bytes", limit)
}

func (s *Service) stageError(err error, byQuota bool) error {
	var mb *http.MaxBytesError
	var re readErr
	var e *apierr.Error
	switch {
	case errors.As(err, &e): // the body guard's 408, 429 or 503
		return e
	case errors.Is(err, blob.ErrTooLarge) || errors.As(err, &mb):
		if byQuota {
			return noSpace(s.cfg.Quota)
		}
		return tooLarge(s.cfg.MaxSize)
	case errors.Is(err, syscall.ENOSPC):
		return apierr.New(http.StatusInsufficientStorage, "no_space", "the node is out of disk space; try another node")
	case errors.As(err, &re):
		return apierr.BadRequest("upload_interrupted", "could not read the upload: %v", re.err)
	}
	return err
}

// download serves the content with the metadata's Content-Type, a file name,
// a strong ETag (its SHA3-256 when the metadata declares one, else its
// SHA-256) and Range support.
func (s *Service) download(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return apierr.NotFound("no asset %q", r.PathValue("id"))
	}
	a, err := s.readable(r.Context(), p, id)
	if err != nil {
		return err
	}
	if a.BlobHash == "" {
		return apierr.NotFound("asset %s is registered but its content has not been uploaded", id)
	}
	f, err := s.blobs.Open(a.BlobHash)
	if err != nil {
		return err
	}
	defer f.Close()
	ct := a.Meta.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition(fileName(id, a.Meta)))
	h.Set("X-Content-Type-Options", "nosniff")
	// The owner's deployed storlets (or one the reader names) transform what
	// is read: then there is no ETag and no Range.
	if handled, err := filter.Serve(w, r, s.filter, a.Owner, f, s.log, "access_token"); handled || err != nil {
		return err
	}
	h.Set("ETag", `"`+cmp.Or(a.SHA3, a.BlobHash)+`"`)
	http.ServeContent(w, r, "", a.UploadedAt, f)
	return nil
}

// deleteContent drops an asset's content and keeps its registration. The
// bytes go when nothing else (another asset, a DDS file) refers to them.
func (s *Service) deleteContent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	err = s.store.InTx(r.Context(), func(ctx context.Context) error {
		a, err := s.owned(ctx, p, id)
		if err != nil {
			return err
		}
		if a.BlobHash == "" {
			return apierr.NotFound("asset %s has no content", id)
		}
		if err := s.store.DropContent(ctx, id); err != nil {
			return err
		}
		return s.blobs.Unref(ctx, a.BlobHash)
	})
	if err != nil {
		return err
	}
	s.log.Info("asset content deleted", "asset", id, "by", p.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
