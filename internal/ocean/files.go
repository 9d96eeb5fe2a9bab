package ocean

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/safehttp"
)

// LocalObject describes content stored on this node.
type LocalObject struct {
	Name        string
	ContentType string
	Size        int64
	Owner       string // principal id
	Checksum    string // hex SHA-256 of the content
	ModTime     time.Time
}

// LocalSource serves one native file type: content stored on this node.
type LocalSource interface {
	// Stat describes the content with this id, or fails (store.ErrNotFound
	// when there is none, or none that can be served).
	Stat(ctx context.Context, id string) (LocalObject, error)
	// Open opens the content for reading.
	Open(ctx context.Context, id string) (io.ReadSeekCloser, LocalObject, error)
}

var (
	cidRe  = regexp.MustCompile(`^[A-Za-z0-9]{10,128}$`)
	arTxRe = regexp.MustCompile(`^[A-Za-z0-9_-]{10,64}$`)
)

func (s *Service) validFile(f api.FileObject) error {
	switch f.Type {
	case "url":
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("malformed file object: url %q is not an http(s) URL", f.URL)
		}
		if m := strings.ToUpper(f.Method); m != "" && m != "GET" {
			return fmt.Errorf("malformed file object: method %q is not supported (GET only)", f.Method)
		}
		for k := range f.Headers {
			if k == "" || strings.ContainsAny(k, "\r\n: ") {
				return fmt.Errorf("malformed file object: bad header name %q", k)
			}
		}
	case "ipfs":
		if !cidRe.MatchString(f.Hash) {
			return fmt.Errorf("malformed file object: ipfs hash %q is not a CID", f.Hash)
		}
	case "arweave":
		if !arTxRe.MatchString(f.TransactionID) {
			return fmt.Errorf("malformed file object: arweave transactionId %q is malformed", f.TransactionID)
		}
	default:
		if _, ok := s.local[f.Type]; !ok {
			return fmt.Errorf("Unsupported type %q", f.Type)
		}
		if f.ID == "" || len(f.ID) > 256 {
			return fmt.Errorf("malformed file object: %s file needs an id", f.Type)
		}
	}
	return nil
}

// remoteURL is where a non-native file is fetched from.
func (s *Service) remoteURL(f api.FileObject) string {
	switch f.Type {
	case "ipfs":
		return s.cfg.IPFSGateway + "/ipfs/" + f.Hash
	case "arweave":
		return s.cfg.ArweaveGateway + "/" + f.TransactionID
	}
	return f.URL
}

// fetchFile GETs a remote file through the SSRF guard, passing the file
// object's headers and extra request headers (Range).
func (s *Service) fetchFile(ctx context.Context, f api.FileObject, extra http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.remoteURL(f), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range f.Headers {
		req.Header.Set(k, v)
	}
	for k, vs := range extra {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := s.fetch.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return nil, fmt.Errorf("the file's server answered %s", resp.Status)
	}
	return resp, nil
}

// info probes a file. An unreachable file is valid:false, never an error.
// A published file's URL is the publisher's secret: with secret set, the
// answer names neither it nor the address it resolved to.
func (s *Service) info(ctx context.Context, f api.FileObject, index int, checksum, secret bool) api.FileInfo {
	fi := s.probe(ctx, f, index, checksum)
	if secret && fi.Error != "" && !strings.HasPrefix(fi.Error, "refused") {
		s.log.Info("file of a published asset is unavailable", "index", index, "type", f.Type, "reason", fi.Error)
		fi.Error = "unavailable"
	}
	return fi
}

func (s *Service) probe(ctx context.Context, f api.FileObject, index int, checksum bool) api.FileInfo {
	fi := api.FileInfo{Index: index, Type: f.Type}
	if src, ok := s.local[f.Type]; ok {
		obj, err := src.Stat(ctx, f.ID)
		if err != nil {
			fi.Error = "no such content on this node"
			return fi
		}
		fi.Valid, fi.ContentLength, fi.ContentType, fi.Filename = true, strconv.FormatInt(obj.Size, 10), obj.ContentType, obj.Name
		if checksum && obj.Checksum != "" {
			fi.Checksum, fi.ChecksumType = obj.Checksum, "sha256"
		}
		return fi
	}
	resp, err := s.fetchFile(ctx, f, nil)
	if err != nil {
		fi.Error = describeFetchError(err)
		return fi
	}
	defer resp.Body.Close()
	fi.ContentType = resp.Header.Get("Content-Type")
	if resp.ContentLength >= 0 {
		fi.ContentLength = strconv.FormatInt(resp.ContentLength, 10)
	}
	fi.Filename = filename(resp)
	if checksum {
		h := sha256.New()
		n, err := io.Copy(h, io.LimitReader(resp.Body, s.cfg.MaxChecksumBytes+1))
		switch {
		case err != nil:
			fi.Error = "reading the file failed: " + err.Error()
			return fi
		case n > s.cfg.MaxChecksumBytes:
			fi.Error = fmt.Sprintf("file exceeds %d bytes: no checksum", s.cfg.MaxChecksumBytes)
		default:
			fi.Checksum, fi.ChecksumType = hex.EncodeToString(h.Sum(nil)), "sha256"
			if fi.ContentLength == "" {
				fi.ContentLength = strconv.FormatInt(n, 10)
			}
		}
	}
	fi.Valid = true
	return fi
}

func describeFetchError(err error) string {
	if safehttp.Refused(err) {
		return "refused: the file's address is private, loopback or link-local"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "unreachable: " + ue.Err.Error()
	}
	return "unreachable: " + err.Error()
}

// filename is the file name a response names, or the last segment of its URL.
func filename(resp *http.Response) string {
	if _, p, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && p["filename"] != "" {
		return path.Base(p["filename"])
	}
	if b := path.Base(resp.Request.URL.Path); b != "/" && b != "." {
		return b
	}
	return ""
}

// contentDisposition names a download as ocean.js reads it
// (attachment;filename=NAME), with an RFC 6266 UTF-8 form alongside. The
// ASCII form replaces control characters, quotes, semicolons, backslashes
// and the characters of also.
func contentDisposition(name, also string) string {
	if name == "" {
		name = "file"
	}
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == ';' || r == '\\' || strings.ContainsRune(also, r) {
			return '_'
		}
		return r
	}, name)
	return "attachment;filename=" + ascii + "; filename*=UTF-8''" + url.PathEscape(name)
}

// serveFile streams a file of a list to w, honouring Range.
func (s *Service) serveFile(w http.ResponseWriter, r *http.Request, f api.FileObject) error {
	local, err := s.openLocal(r.Context(), f)
	if err != nil {
		return err
	}
	if local != nil {
		defer local.content.Close()
		serveLocal(w, r, local)
		return nil
	}
	extra := http.Header{}
	for _, h := range []string{"Range", "If-Range"} {
		if v := r.Header.Get(h); v != "" {
			extra.Set(h, v)
		}
	}
	resp, err := s.fetchFile(r.Context(), f, extra)
	if err != nil {
		if safehttp.Refused(err) {
			return apierr.BadRequest("refused_url", "the file's URL is refused: its address is private, loopback or link-local")
		}
		// The URL stays the publisher's secret: the log gets the details.
		s.log.Warn("download: fetching the file failed", "err", err)
		return apierr.New(http.StatusBadGateway, "unreachable", "the file could not be fetched from its origin")
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Content-Disposition", contentDisposition(filename(resp), ""))
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		s.log.Warn("download interrupted", "err", err)
	}
	return nil
}

// localFile is content stored on this node, opened.
type localFile struct {
	content io.ReadSeekCloser
	obj     LocalObject
}

// openLocal opens a file stored on this node; nil for a remote file.
func (s *Service) openLocal(ctx context.Context, f api.FileObject) (*localFile, error) {
	src, ok := s.local[f.Type]
	if !ok {
		return nil, nil
	}
	rc, obj, err := src.Open(ctx, f.ID)
	if err != nil {
		return nil, apierr.NotFound("the file is no longer stored on this node")
	}
	return &localFile{rc, obj}, nil
}

// serveLocal streams an opened local file, honouring Range.
func serveLocal(w http.ResponseWriter, r *http.Request, l *localFile) {
	if l.obj.ContentType != "" {
		w.Header().Set("Content-Type", l.obj.ContentType)
	}
	w.Header().Set("Content-Disposition", contentDisposition(l.obj.Name, ""))
	if l.obj.Checksum != "" {
		w.Header().Set("ETag", `"`+l.obj.Checksum+`"`)
	}
	http.ServeContent(w, r, l.obj.Name, l.obj.ModTime, l.content)
}

// openFile opens a file of a list for reading: content stored on this node,
// or a remote file fetched through the SSRF guard. Errors never name the
// file's URL (the publisher's secret); the log has the details.
func (s *Service) openFile(ctx context.Context, f api.FileObject) (io.ReadCloser, error) {
	if src, ok := s.local[f.Type]; ok {
		rc, _, err := src.Open(ctx, f.ID)
		if err != nil {
			return nil, apierr.NotFound("the %s file is no longer stored on this node", f.Type)
		}
		return rc, nil
	}
	if err := s.validFile(f); err != nil {
		return nil, apierr.BadRequest("invalid_files", "%v", err)
	}
	resp, err := s.fetchFile(ctx, f, nil)
	if err != nil {
		s.log.Warn("fetching a file failed", "type", f.Type, "err", err)
		if safehttp.Refused(err) {
			return nil, fmt.Errorf("the %s file is refused: its address is private, loopback or link-local", f.Type)
		}
		return nil, fmt.Errorf("the %s file could not be fetched from its origin", f.Type)
	}
	return resp.Body, nil
}

// fileinfo reports on the files of a published service ({did, serviceId,
// fileIndex?, checksum?}) or on one file object ({type, url, ...}).
func (s *Service) fileinfo(w http.ResponseWriter, r *http.Request) error {
	raw, err := limits.ReadAll(w, r, maxParams, "a request body")
	if err != nil {
		return err
	}
	var req api.FileInfoRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return apierr.BadRequest("invalid_json", "request body is not a JSON file info request: %v", err)
	}
	var out []api.FileInfo
	switch {
	case req.DID != "":
		_, d, _, err := s.loadDDO(r.Context(), req.DID)
		if err != nil {
			return err
		}
		svc := d.Services[0]
		if req.ServiceID != "" {
			var ok bool
			if svc, ok = d.Service(req.ServiceID); !ok {
				return apierr.BadRequest("invalid_parameter", "Invalid serviceId %q for %s", req.ServiceID, req.DID)
			}
		}
		fl, err := s.files(d, svc)
		if err != nil {
			return err
		}
		for i, f := range fl.Files {
			if req.FileIndex != nil && *req.FileIndex != i {
				continue
			}
			out = append(out, s.info(r.Context(), f, i, req.Checksum, true))
		}
		if req.FileIndex != nil && len(out) == 0 {
			return apierr.BadRequest("invalid_parameter", "fileIndex %d is out of range: the service has %d files", *req.FileIndex, len(fl.Files))
		}
	case req.Type != "":
		if _, ok := s.local[req.Type]; ok {
			return apierr.BadRequest("invalid_parameter", "%s files are described only through a published asset: send did and serviceId", req.Type)
		}
		if err := s.validFile(req.FileObject); err != nil {
			return apierr.BadRequest("invalid_parameter", "%v", err)
		}
		out = append(out, s.info(r.Context(), req.FileObject, 0, req.Checksum, false))
	default:
		return apierr.BadRequest("missing_parameter", "send a file object (type, url, ...) or did and serviceId")
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// heldTailBytes is how much of a streamed body waits for wait.
const heldTailBytes = 64 << 10

// heldTail is a ResponseWriter that sends a body but its last
// heldTailBytes before wait has returned, and nothing written through Write
// (small bodies): the client cannot have the whole answer before wait's
// work is done. A failed wait cuts the answer short (see release).
type heldTail struct {
	http.ResponseWriter
	wait     func() error
	released bool
	err      error
}

// release waits once; an error means the answer must not be completed.
func (h *heldTail) release() error {
	if !h.released {
		h.released, h.err = true, h.wait()
	}
	return h.err
}

func (h *heldTail) Write(p []byte) (int, error) {
	if err := h.release(); err != nil {
		return 0, err
	}
	return h.ResponseWriter.Write(p)
}

// ReadFrom keeps sendfile for the body (http.ServeContent copies a
// LimitedReader of the file).
func (h *heldTail) ReadFrom(src io.Reader) (int64, error) {
	var sent int64
	if lr, ok := src.(*io.LimitedReader); ok && !h.released && lr.N > heldTailBytes {
		head := &io.LimitedReader{R: lr.R, N: lr.N - heldTailBytes}
		n, err := io.Copy(h.ResponseWriter, head)
		sent, lr.N = n, lr.N-n
		if err != nil {
			return sent, err
		}
	}
	if err := h.release(); err != nil {
		return sent, err
	}
	n, err := io.Copy(h.ResponseWriter, src)
	return sent + n, err
}

func (h *heldTail) Unwrap() http.ResponseWriter { return h.ResponseWriter }
