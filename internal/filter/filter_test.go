package filter

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/prometheus-dds/dds/internal/apierr"
)

func TestFromHTTP(t *testing.T) {
	r := httptest.NewRequest("GET", "/files/x?select=b,a&access_token=secret&z=1", nil)
	r.Header.Set("X-Run-Storlet", " csv ")
	r.Header.Set("X-Storlet-Parameter-2", "second: two")
	r.Header.Set("X-Storlet-Parameter-1", "first:a:b")
	req, err := FromHTTP(r, false, "access_token")
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{{"first", "a:b"}, {"second", "two"}, {"select", "b,a"}, {"z", "1"}}
	if req.Storlet != "csv" || !reflect.DeepEqual(req.Params, want) || !req.Explicit() || req.Upload {
		t.Fatalf("got %+v", req)
	}

	// No storlet: the query string is the face's, not parameters.
	r = httptest.NewRequest("GET", "/files/x?select=a", nil)
	if req, err := FromHTTP(r, true); err != nil || req.Explicit() || req.Params != nil || !req.Upload {
		t.Fatalf("got %+v %v", req, err)
	}

	for name, set := range map[string]func(h http.Header){
		"param without storlet": func(h http.Header) { h.Set("X-Storlet-Parameter-1", "a:b") },
		"bad suffix":            func(h http.Header) { h.Set("X-Run-Storlet", "s"); h.Set("X-Storlet-Parameter-x", "a:b") },
		"no colon":              func(h http.Header) { h.Set("X-Run-Storlet", "s"); h.Set("X-Storlet-Parameter-1", "ab") },
		"bad key":               func(h http.Header) { h.Set("X-Run-Storlet", "s"); h.Set("X-Storlet-Parameter-1", "a b:c") },
		"control in name":       func(h http.Header) { h.Set("X-Run-Storlet", "s\x01") },
	} {
		r := httptest.NewRequest("GET", "/", nil)
		set(r.Header)
		_, err := FromHTTP(r, false)
		if e, ok := apierr.As(err); !ok || e.Status != 400 {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestParams(t *testing.T) {
	ps, err := ParseParams("select=user_id,name&x=a%26b&&flag=")
	want := []Param{{"select", "user_id,name"}, {"x", "a&b"}, {"flag", ""}}
	if err != nil || !reflect.DeepEqual(ps, want) {
		t.Fatalf("got %+v %v", ps, err)
	}
	back, err := ParseParams(FormatParams(ps))
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{"=v", "a%zz=1", "k=%00", "sp ace=1"} {
		if _, err := ParseParams(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"select=user_id", "a=1&b=2", "", "&&", "a=%zz", "k=v=w", "x=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseParams(s)
		if err != nil {
			if e, ok := apierr.As(err); !ok || e.Status != 400 {
				t.Fatalf("not a 400: %v", err)
			}
			return
		}
		back, err := ParseParams(FormatParams(ps))
		if err != nil || len(back) != len(ps) {
			t.Fatalf("round trip of %q: %+v %v", s, back, err)
		}
		for i := range ps {
			if back[i] != ps[i] {
				t.Fatalf("round trip of %q: %+v != %+v", s, back, ps)
			}
		}
	})
}

func FuzzFromHTTP(f *testing.F) {
	f.Add("csv", "select=a", "a:b", "2", "c: d")
	f.Add("", "", "", "1", "")
	f.Add("s", "%zz", "nocolon", "x", "::")
	f.Fuzz(func(t *testing.T, storlet, query, p1, n2, p2 string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		r.Header["X-Run-Storlet"] = []string{storlet}
		r.Header["X-Storlet-Parameter-1"] = []string{p1}
		r.Header["X-Storlet-Parameter-"+n2] = []string{p2}
		req, err := FromHTTP(r, false)
		if err != nil {
			if e, ok := apierr.As(err); !ok || e.Status != 400 {
				t.Fatalf("not a 400: %v", err)
			}
			return
		}
		for _, p := range req.Params {
			if CheckParam(p) != nil {
				t.Fatalf("accepted a bad parameter %+v", p)
			}
		}
	})
}
