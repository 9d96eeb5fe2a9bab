package storlets

import (
	"net/http"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
)

// writeError answers with the face's error body: the spec asks only for JSON.
func (s *Service) writeError(w http.ResponseWriter, err error) {
	e, ok := apierr.As(err)
	if !ok {
		s.log.Error("storlets request failed", "err", err)
	}
	apierr.RetryAfter(w, e)
	writeJSON(w, e.Status, api.StorletsError{Error: e.Code, Message: e.Detail})
}

// writeJSON answers in the controller's JSON, whose clients expect the charset.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	httpjson.Write(w, status, v)
}
