package route_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus-dds/dds/internal/route"
)

type table struct{ http.Handler }

func (table) Patterns() []string { return []string{"GET /{$}", "PUT /{id}"} }

// The recorder lists every pattern once, a mounted table's joined to its
// root, and routes as the ServeMux it wraps.
func TestRecorder(t *testing.T) {
	m := route.NewRecorder()
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }
	m.HandleFunc("GET /files/{id}", ok)
	m.Handle("/kinds/", table{http.HandlerFunc(ok)})
	m.HandleFunc("POST /files", ok)
	want := []string{"/kinds/", "GET /kinds/{$}", "GET /files/{id}", "POST /files", "PUT /kinds/{id}"}
	slices.Sort(want)
	if got := m.Patterns(); !slices.Equal(got, want) {
		t.Fatalf("patterns %q, want %q", got, want)
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/files/x", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("served %d", rec.Code)
	}
	var _ route.Mux = m
	var _ route.Mux = http.NewServeMux()
}
