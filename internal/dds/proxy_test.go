package dds

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/store"
)

type noFiles struct{ Files }

func (noFiles) Get(context.Context, string) (files.File, error) {
	return files.File{}, store.ErrNotFound
}

type userAuth struct{}

func (userAuth) Bearer(*http.Request) (auth.Principal, error) {
	return auth.Principal{ID: "u", Role: auth.RoleUser}, nil
}

// elsewhereNet holds the file on node n1 only.
type elsewhereNet struct {
	Replicas
	owner           string
	opens, forwards int
}

func (e *elsewhereNet) Forwarded(*http.Request) (auth.Principal, bool) {
	return auth.Principal{}, false
}
func (e *elsewhereNet) Locate(context.Context, string, bool) (files.File, string, error) {
	return files.File{ID: "f", Owner: e.owner, Name: "x.txt"}, "n1", nil
}
func (e *elsewhereNet) Readers(files.File) []string { return []string{"n1"} }
func (e *elsewhereNet) Forward(w http.ResponseWriter, r *http.Request, node string, p auth.Principal, body []byte) error {
	e.forwards++
	w.Header().Set("ETag", `"h"`)
	io.WriteString(w, "raw from "+node+" as "+p.ID)
	return nil
}
func (e *elsewhereNet) Open(ctx context.Context, node string, p auth.Principal, id string) (io.ReadCloser, error) {
	e.opens++
	return io.NopCloser(strings.NewReader("hello")), nil
}

// upper is a storlet deployed for account "u" when on.
type upper struct{ on bool }

func (u upper) Apply(ctx context.Context, account string, req filter.Request, in io.Reader) (io.ReadCloser, bool, error) {
	if !u.on || account != "u" {
		return nil, false, nil
	}
	b, err := io.ReadAll(in)
	return io.NopCloser(bytes.NewReader(bytes.ToUpper(b))), true, err
}

// A node without a copy streams the read from a holder, and runs the
// reader's storlets itself, fetching the content only when one applies.
func TestProxiedReadRunsStorletsHere(t *testing.T) {
	for _, c := range []struct {
		name, owner string
		storlet     bool
		status      int
		body        string
		opens, fwd  int
	}{
		{"plain", "u", false, 200, "raw from n1 as u", 0, 1},
		{"storlet", "u", true, 200, "HELLO", 1, 0},
		{"not the owner", "v", false, 404, "", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			net := &elsewhereNet{owner: c.owner}
			s, _ := New(context.Background(), DefaultConfig(), Deps{Files: noFiles{}, Auth: userAuth{}, Replicas: net,
				Filter: upper{c.storlet}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			mux := http.NewServeMux()
			s.Routes(mux)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/files/f", nil))
			if w.Code != c.status || (c.body != "" && w.Body.String() != c.body) || net.opens != c.opens || net.forwards != c.fwd {
				t.Fatalf("%d %q opens=%d forwards=%d", w.Code, w.Body.String(), net.opens, net.forwards)
			}
			if c.status == 404 && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("404 body %q", w.Body.String())
			}
		})
	}
}
