package jsonapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/apierr"
)

func TestCheckAccept(t *testing.T) {
	for _, c := range []struct {
		accept []string
		want   int // 0: accepted
	}{
		{nil, 0},
		{[]string{"*/*"}, 0},
		{[]string{"application/json"}, 0},
		{[]string{MediaType}, 0},
		{[]string{MediaType + "; q=0.5"}, 0},
		{[]string{"Application/VND.API+JSON;Q=1"}, 0},
		{[]string{MediaType + `; ext="https://x"`}, 406},
		{[]string{MediaType + "; charset=utf-8"}, 406},
		{[]string{MediaType + "; charset=utf-8, application/json"}, 406},
		{[]string{MediaType + "; v=1; q=0.9", MediaType + ";v=2"}, 406},
		{[]string{MediaType + ";v=1, " + MediaType}, 0},
		{[]string{MediaType + ";v=1", "text/html, " + MediaType + " ;q=0.1"}, 0},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for _, a := range c.accept {
			r.Header.Add("Accept", a)
		}
		err := CheckAccept(r)
		var e *apierr.Error
		switch {
		case c.want == 0 && err != nil:
			t.Errorf("Accept %q: %v", c.accept, err)
		case c.want != 0 && (!errors.As(err, &e) || e.Status != c.want):
			t.Errorf("Accept %q: %v, want %d", c.accept, err, c.want)
		}
	}
	// A request with a body is checked by CheckContentType too.
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Content-Type", MediaType)
	r.Header.Set("Accept", MediaType+";ext=x")
	if e, _ := apierr.As(CheckContentType(r)); e.Status != http.StatusNotAcceptable {
		t.Errorf("CheckContentType with a parameterised Accept: %d, want 406", e.Status)
	}
}

// A handler that meets http.MaxBytesReader's limit and hands the error on
// unmapped (POST /payments did) still answers 413 in JSON:API.
func TestWriteErrorTooLarge(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := Decode(http.MaxBytesReader(w, r.Body, 16))
		WriteError(w, nil, err)
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/payments", strings.NewReader(`{"data":{"type":"payment","attributes":{}}}`)))
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Header().Get("Content-Type") != MediaType ||
		!strings.Contains(rec.Body.String(), `"status":"413"`) {
		t.Fatalf("%d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}

func TestCheckContentType(t *testing.T) {
	for ct, want := range map[string]int{
		MediaType: 0, "application/json": 0, "application/json; charset=utf-8": 0,
		"": 415, MediaType + "; ext=x": 415, "text/plain": 415, "application/x-www-form-urlencoded": 415, "no/t;a=": 415,
	} {
		r := httptest.NewRequest("POST", "/files", nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		e, _ := apierr.As(CheckContentType(r))
		if err := CheckContentType(r); (want == 0) != (err == nil) || (err != nil && e.Status != want) {
			t.Errorf("Content-Type %q: %v, want %d", ct, err, want)
		}
	}
}
