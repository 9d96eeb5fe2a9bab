package filter

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// Serve answers a GET or HEAD of an object of account through f, so a face
// needs one call: if handled is false, no storlet applies and the face
// serves content as usual (with its length, ETag and Range); if err is not
// nil, nothing was written and the face renders err in its own convention.
// The face sets Content-Type and Content-Disposition before calling. skip
// lists query keys the face uses itself (such as access_token), which are
// not storlet parameters.
//
// The output is streamed with no Content-Length or ETag, and Range is
// refused (400): the output's length is unknown. A filter that fails after
// the answer started aborts the response (the client sees a cut transfer,
// never a short success).
func Serve(w http.ResponseWriter, r *http.Request, f Filter, account string, content io.Reader, log *slog.Logger, skip ...string) (handled bool, err error) {
	req, err := FromHTTP(r, false, skip...)
	if err != nil {
		return false, err
	}
	if f == nil {
		if req.Explicit() {
			return false, apierr.BadRequest("storlets_unavailable", "this node runs no storlets; drop %s", RunHeader)
		}
		return false, nil
	}
	if req.Explicit() && req.Ranged {
		return false, ErrRange
	}
	out, applied, err := f.Apply(r.Context(), account, req, content)
	if err != nil || !applied {
		if e, ok := apierr.As(err); ok && e.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		return false, err
	}
	defer out.Close()
	if req.Ranged {
		return false, ErrRange // a filter that did not check
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Accept-Ranges")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true, nil
	}
	// A filter's out may write itself to w (io.WriterTo) with no copy.
	if _, err := io.Copy(w, out); err != nil {
		if r.Context().Err() == nil && log != nil {
			log.Warn("storlet output failed midway; aborting the response", "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return true, nil
}

// ErrRange refuses Range together with a storlet, as OpenStack Storlets does.
var ErrRange = apierr.BadRequest("range_with_storlet", "a Range request cannot be combined with a storlet: the length of its output is unknown; drop the Range header")

// Transform returns what to store of an upload: in itself when req names no
// storlet, or else the named storlet's output. Call done (never nil) once
// the result is read or abandoned; it stops the storlet and waits for it.
func Transform(ctx context.Context, f Filter, account string, req Request, in io.Reader) (out io.Reader, done func(), err error) {
	if !req.Explicit() {
		return in, func() {}, nil
	}
	if f == nil {
		return nil, nil, apierr.BadRequest("storlets_unavailable", "this node runs no storlets; drop %s", RunHeader)
	}
	rc, applied, err := f.Apply(ctx, account, req, in)
	if err != nil {
		return nil, nil, err
	}
	if !applied {
		return in, func() {}, nil
	}
	return rc, func() { rc.Close() }, nil
}
