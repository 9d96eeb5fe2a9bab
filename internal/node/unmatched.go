package node

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/route"
)

// unmatched answers what no route takes: 405 with Allow when the path has
// routes for other methods, else 404, each in the error format of the face
// the path belongs to, so a client of one face never meets Go's plain-text
// "404 page not found".
func unmatched(mux route.Mux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		status, msg := http.StatusNotFound, fmt.Sprintf("no endpoint %s: see the README's API tables", r.URL.Path)
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			status, msg = http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, ", "), r.Method)
		}
		code := map[int]string{http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed"}[status]
		p := r.URL.Path
		switch {
		case hasPrefix(p, "/api/v1/meta", "/api/v1/assets", "/api/v1/auth", "/api/status", "/api/ddo"):
			httpjson.Write(w, status, api.AssetError{Error: msg, Code: code, Status: status})
		case hasPrefix(p, "/storlets"):
			httpjson.Write(w, status, api.StorletsError{Error: code, Message: msg})
		case hasPrefix(p, "/api/services", "/api/aquarius"):
			httpjson.Write(w, status, map[string]string{"error": msg})
		case hasPrefix(p, "/api/v1"):
			httpjson.Write(w, status, api.DealError{Error: api.DealErrorDetail{Code: status, Message: msg}})
		default:
			jsonapi.WriteError(w, nil, apierr.New(status, code, "%s", msg))
		}
	})
}

// hasPrefix tells whether path is one of the roots or below one.
func hasPrefix(path string, roots ...string) bool {
	return slices.ContainsFunc(roots, func(root string) bool {
		return path == root || strings.HasPrefix(path, root+"/")
	})
}
