package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/safehttp"
)

// What other faces built on the provider (compute-to-data) use: the same
// request parameters, signatures, nonces, orders, documents and file
// fetching, so that there is one implementation of each.

// Advertise lists another route in discovery's serviceEndpoints. Call it
// while the node is being wired, before it serves.
func (s *Service) Advertise(name, method, path string) {
	s.extra = append(s.extra, endpoint{name, method, path})
}

// Handle adapts h, rendering its error in the provider's convention.
func (s *Service) Handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return s.handle(h)
}

// WriteJSON writes v as the JSON answer.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// ReadParams reads a request's parameters: the query string overlaid by the
// fields of a JSON body (POST, PUT, DELETE); nested values come as JSON text.
func ReadParams(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	return readParams(w, r)
}

// Authorize checks that address made this request: its signature of
// original+nonce with a fresh nonce, or its auth token.
func (s *Service) Authorize(r *http.Request, address, original, nonce, signature string) error {
	return s.authorize(r, address, original, nonce, signature)
}

// LoadDDO returns a published document, raw and parsed (apierr 404 when
// there is none).
func (s *Service) LoadDDO(ctx context.Context, did string) ([]byte, *DDO, error) {
	raw, d, _, err := s.loadDDO(ctx, did)
	return raw, d, err
}

// Files decrypts and reads the file list of a document's service.
func (s *Service) Files(d *DDO, svc DDOService) (*FileList, error) { return s.files(d, svc) }

// CheckOrder verifies that payment txID is a paid, unexpired order of
// consumer for the document's service, exactly as download does.
func (s *Service) CheckOrder(r *http.Request, txID, did string, svc DDOService, consumer string) error {
	return s.checkOrder(r, txID, did, svc, consumer)
}

// ValidFile checks a file object (for files that come from a request
// rather than from a published list).
func (s *Service) ValidFile(f FileObject) error { return s.validFile(f) }

// OpenFile opens a file of a list for reading: content stored on this node,
// or a remote file fetched through the SSRF guard. Errors never name the
// file's URL (the publisher's secret); the log has the details.
func (s *Service) OpenFile(ctx context.Context, f FileObject) (io.ReadCloser, error) {
	if src, ok := s.cfg.Local[f.Type]; ok {
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

// FeeToken is the token address named in provider fees.
func (s *Service) FeeToken() string { return s.cfg.FeeToken }
