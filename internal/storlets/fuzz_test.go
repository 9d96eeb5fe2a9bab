package storlets

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/filter"
)

// is400 fails unless err is nil or a client error.
func is400(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if e, ok := apierr.As(err); !ok || e.Status != 400 {
		t.Fatalf("%s: not a 400: %v", what, err)
	}
}

func FuzzStorletMeta(f *testing.F) {
	for _, s := range []string{
		`{"name":"StorletName","language":"Java","interface_version":"1.0","dependency":"’’","object_metadata":"no","main":"com.urv.X"}`,
		`{"name":"csv","language":"wasm","dependency":"a, b,'c'"}`,
		`{"name":"x","id":3,"deployed":"true","created_at":"2013-03-08 10:36:41.997"}`,
		`{"name":7}`, `{"name":"x"} {}`, `[]`, `null`, `{"colour":1}`, ``, `{"name":"a/../b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m storletMeta
		if err := parseMeta(body, &m); err != nil {
			is400(t, "parse", err)
			return
		}
		st := Storlet{Language: Language, InterfaceVersion: InterfaceVersion, ObjectMetadata: "no", Main: "_start"}
		if err := m.apply(&st); err != nil {
			is400(t, "apply", err)
			return
		}
		// What is accepted is sane: a valid name, the one language, and
		// dependency names that make file names.
		if !nameRE.MatchString(st.Name) || st.Language != Language || st.Main == "" {
			t.Fatalf("accepted %+v", st)
		}
		for _, d := range st.Deps() {
			if !nameRE.MatchString(d) || d == "." || d == ".." {
				t.Fatalf("accepted dependency %q", d)
			}
		}
		if _, err := json.Marshal(storletJSON(st)); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDependencyMeta(f *testing.F) {
	for _, s := range []string{
		`{"name":"DependencyName","version":"1.0","permissions":"0755"}`,
		`{"name":"d","version":"","permissions":"9"}`, `{"name":"d","version":"1","permissions":"07777"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m depMeta
		if err := parseMeta(body, &m); err != nil {
			is400(t, "parse", err)
			return
		}
		var d Dependency
		if err := m.apply(&d); err != nil {
			is400(t, "apply", err)
			return
		}
		if !nameRE.MatchString(d.Name) || d.Version == "" || len(d.Permissions) > 4 {
			t.Fatalf("accepted %+v", d)
		}
	})
}

func FuzzDeployParams(f *testing.F) {
	for _, s := range []string{`{"params":"select=user_id"}`, `{"params":{"a":"1","b":"x y"}}`, `{"params":3}`, `{"params":{"a":1}}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			Params any `json:"params"`
		}
		if err := parseMeta(body, &v); err != nil {
			is400(t, "parse", err)
			return
		}
		s, err := deployParams(v.Params)
		if err != nil {
			is400(t, "params", err)
			return
		}
		// What is stored parses again.
		if _, err := filter.ParseParams(s); err != nil {
			t.Fatalf("stored params %q do not parse: %v", s, err)
		}
	})
}

func FuzzMultipart(f *testing.F) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary("xyz")
	mw.WriteField("note", "n")
	fw, _ := mw.CreateFormFile("file", "s.wasm")
	fw.Write([]byte("\x00asm\x01\x00\x00\x00"))
	mw.Close()
	f.Add(b.Bytes(), "xyz")
	f.Add([]byte("--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--xyz--\r\n"), "xyz")
	f.Add([]byte("garbage"), "")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		r, done, err := multipartFile(bytes.NewReader(body), boundary)
		if err != nil {
			is400(t, "multipart", err)
			return
		}
		defer done()
		io.Copy(io.Discard, io.LimitReader(r, 1<<20)) // a malformed tail is a read error, never a panic
	})
}

// admins takes every token for an admin's.
type admins struct{}

func (admins) Authenticate(context.Context, string) (auth.Principal, error) {
	return auth.Principal{ID: "a", Role: auth.RoleAdmin}, nil
}
func (admins) Principal(context.Context, string) (auth.Principal, error) {
	return auth.Principal{}, nil
}

func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/storlets", "/storlets/", "/storlets/3/data", "/storlets/acct/deploy/3/", "/storlets/dependencies/acct/undeploy/1",
		"/dependencies/2", "/storlets//deploy/", "/storlets/dependencies/deploy/data"} {
		f.Add(s)
	}
	s := &Service{auth: admins{}, log: slog.New(slog.DiscardHandler)}
	var t *testing.T
	var arg string
	// probe checks the path's arguments: never empty, never slashed.
	probe := func(w http.ResponseWriter, r *http.Request) error {
		for _, name := range []string{"id", "account"} {
			if v := r.PathValue(name); strings.Contains(r.Pattern, "{"+name+"}") && (v == "" || strings.Contains(v, "/")) {
				t.Fatalf("%q: empty or slashed argument %q", arg, v)
			}
		}
		return nil
	}
	e := endpoints{probe, probe, probe, probe, probe, probe, probe, probe, probe}
	mux := http.NewServeMux()
	s.mount(mux, e.table(), e.table())
	f.Fuzz(func(ft *testing.T, path string) {
		t, arg = ft, path
		r := (&http.Request{Method: "GET", URL: &url.URL{Path: path}, Header: http.Header{"X-Auth-Token": {"x"}}}).WithContext(context.Background())
		mux.ServeHTTP(httptest.NewRecorder(), r)
	})
}
