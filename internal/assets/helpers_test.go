package assets_test

import (
	"bytes"
	"context"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// api is a minimal DEP client: what starfish does, over plain HTTP.
type api struct {
	client *http.Client // nil: httpClient
	t      testing.TB
	base   string
	auth   func(*http.Request) // sets the credentials, if any
}

func tokenAPI(t testing.TB, nd *testnet.Node, tok string) *api {
	return &api{t: t, base: nd.URL(), auth: func(r *http.Request) { r.Header.Set("Authorization", "token "+tok) }}
}

func basicAPI(t testing.TB, nd *testnet.Node, name, password string) *api {
	return &api{t: t, base: nd.URL(), auth: func(r *http.Request) { r.SetBasicAuth(name, password) }}
}

func anonAPI(t testing.TB, nd *testnet.Node) *api {
	return &api{t: t, base: nd.URL(), auth: func(*http.Request) {}}
}

// httpClient fails a request that hangs instead of hanging the test.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// res is a response with its body read.
type res struct {
	*http.Response
	body []byte
}

func (c *api) do(method, path string, body io.Reader, header ...string) res {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c.auth(req)
	hc := c.client
	if hc == nil {
		hc = httpClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res{resp, b}
}

// want checks the status and, for errors, the face's error format.
func (r res) want(t testing.TB, status int) res {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	if status >= 400 && r.Request.Method != http.MethodHead {
		var e struct {
			Error  string
			Code   string
			Status int
		}
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || e.Code == "" || e.Status != status {
			t.Fatalf("error body not in the face's format: %s", r.body)
		}
	}
	return r
}

// jsonString decodes a body that is a JSON string.
func (r res) jsonString(t testing.TB) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("body %s is not a JSON string: %v", r.body, err)
	}
	return s
}

func sha3hex(b []byte) string {
	s := sha3.Sum256(b)
	return hex.EncodeToString(s[:])
}

// register registers metadata as starfish does (text/plain) and returns the id.
func (c *api) register(meta string) string {
	c.t.Helper()
	id := c.do("POST", "/api/v1/meta/data", strings.NewReader(meta), "Content-Type", "text/plain").want(c.t, 200).jsonString(c.t)
	if id != sha3hex([]byte(meta)) {
		c.t.Fatalf("asset id %s is not the SHA3-256 of the metadata", id)
	}
	return id
}

// dataset is metadata for content.
func dataset(name, contentType string, content []byte) string {
	return `{"name":` + quote(name) + `,"type":"dataset","contentType":` + quote(contentType) +
		`,"size":"` + itoa(len(content)) + `","contentHash":"` + sha3hex(content) + `"}`
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
func itoa(n int) string     { b, _ := json.Marshal(n); return string(b) }

// form is a multipart body with the field "file" (and a name field before
// it, as browsers send).
func form(content []byte) (body *bytes.Buffer, contentType string) {
	body = &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("file", "data.bin")
	fw.Write(content)
	mw.Close()
	return body, mw.FormDataContentType()
}

// passwordUser creates a principal with a password, as `dds user create` does.
func passwordUser(t testing.TB, nd *testnet.Node, name, password string) {
	t.Helper()
	ctx := context.Background()
	p, err := nd.Auth.CreatePrincipal(ctx, name, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.Auth.SetPassword(ctx, p.ID, password); err != nil {
		t.Fatal(err)
	}
}

// blobFiles counts the objects and the temporary files in a node's blob store.
func blobFiles(t testing.TB, nd *testnet.Node) (objects, tmp int) {
	t.Helper()
	count := func(dir string) int {
		n := 0
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	dir := filepath.Join(nd.Config.DataDir, "blobs")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	return count(filepath.Join(dir, "objects")), count(filepath.Join(dir, "tmp"))
}
