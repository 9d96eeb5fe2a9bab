package storlets_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// wasmDir holds the example storlets of testdata/examples (one program that
// runs the storlet named by argv[0]), built once per test binary, and the
// compiled code every test node shares: compiling a Go-built module takes
// seconds (more under -race), so it is done once.
var wasmDir, cacheDir string

// withCache makes test nodes share compiled modules.
func withCache(_ int, c *node.Config) { c.WasmCacheDir = cacheDir }

// nopModule is a hand-assembled WASI command that does nothing.
var nopModule = []byte{
	0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 4, 1, 0x60, 0, 0, // type ()->()
	3, 2, 1, 0, // one function of that type
	5, 3, 1, 0, 1, // one memory of one page
	7, 19, 2, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
	10, 4, 1, 2, 0, 0x0b, // _start: no locals, end
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "storlets-wasm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "examples.wasm"), "./testdata/examples")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the example storlets: %v\n%s", err, out)
		os.Exit(1)
	}
	wasmDir, cacheDir = dir, filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func examplesModule(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wasmDir, "examples.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// api calls the node's HTTP API with a token in X-Auth-Token.
type api struct {
	t     testing.TB
	url   string
	token string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) errCode(t testing.TB) string {
	t.Helper()
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	r.json(t, &e)
	if e.Message == "" {
		t.Fatalf("error without a message: %s", r.body)
	}
	return e.Error
}

func (a api) do(method, path string, body any, hdr ...string) resp {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("X-Auth-Token", a.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func (a api) want(status int, method, path string, body any, hdr ...string) resp {
	a.t.Helper()
	r := a.do(method, path, body, hdr...)
	if r.status != status {
		a.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.status, r.body, status)
	}
	return r
}

type storletJSON struct {
	ID               int64   `json:"id"`
	Name             string  `json:"name"`
	Language         string  `json:"language"`
	InterfaceVersion string  `json:"interface_version"`
	Dependency       string  `json:"dependency"`
	ObjectMetadata   string  `json:"object_metadata"`
	Main             string  `json:"main"`
	CreatedAt        string  `json:"created_at"`
	Deployed         string  `json:"deployed"`
	HasData          bool    `json:"has_data"`
	DataSHA256       string  `json:"data_sha256"`
	Params           *string `json:"params"`
}

// addStorlet creates a storlet and uploads the examples module: it runs as
// the example of the same name.
func addStorlet(t testing.TB, admin api, name string, meta map[string]any) storletJSON {
	t.Helper()
	m := map[string]any{"name": name, "language": "wasm", "interface_version": "1.0", "dependency": "", "object_metadata": "no", "main": "_start"}
	for k, v := range meta {
		m[k] = v
	}
	var st storletJSON
	admin.want(201, "POST", "/storlets", m).json(t, &st)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%d/data", st.ID), examplesModule(t)).json(t, &st)
	return st
}

// account returns the principal id behind a token.
func account(t testing.TB, nd *testnet.Node, token string) string {
	t.Helper()
	p, err := nd.Auth.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// storeFile uploads content as the token's user and pays for it.
func storeFile(t testing.TB, nd *testnet.Node, token string, content []byte) string {
	t.Helper()
	ctx := context.Background()
	f, err := nd.Client(token).Upload(ctx, "data.csv", bytes.NewReader(content), client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nd.Payer().Pay(ctx, client.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.PriceExact}); err != nil {
		t.Fatal(err)
	}
	return f.ID
}

// get reads a DDS file with a user's bearer token.
func get(t testing.TB, nd *testnet.Node, token, id string, hdr ...string) resp {
	t.Helper()
	a := api{t: t, url: nd.URL()}
	return a.do("GET", "/files/"+id, nil, append([]string{"Authorization", "Bearer " + token}, hdr...)...)
}

func TestAuth(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	anon := api{t: t, url: nd.URL()}
	if r := anon.want(401, "GET", "/storlets", nil); r.errCode(t) != "unauthorized" {
		t.Fatal(string(r.body))
	}
	anon.want(401, "GET", "/storlets/dependencies/", nil, "X-Auth-Token", "dds_bogus")
	user := api{t: t, url: nd.URL(), token: nd.UserToken}
	if r := user.want(403, "POST", "/storlets", map[string]any{"name": "x"}); r.errCode(t) != "forbidden" {
		t.Fatal(string(r.body))
	}
	anon.want(200, "GET", "/storlets", nil, "Authorization", "Bearer "+nd.AdminToken)
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	if r := admin.want(200, "GET", "/storlets", nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty list: %s", r.body)
	}
	admin.want(404, "GET", "/storlets/1/nothing/here/at/all", nil)
}

func TestStorletEndpoints(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	acct := account(t, nd, nd.UserToken)

	var st storletJSON
	admin.want(201, "POST", "/storlets", map[string]any{"name": "upper", "language": "WASM", "interface_version": "1.0",
		"dependency": "’’", "object_metadata": "no", "main": "_start"}).json(t, &st)
	if st.ID <= 0 || st.Name != "upper" || st.Language != "wasm" || st.Deployed != "false" || st.HasData || st.Main != "_start" {
		t.Fatalf("created: %+v", st)
	}
	if _, err := time.Parse("2006-01-02 15:04:05.000", st.CreatedAt); err != nil {
		t.Fatalf("created_at %q: %v", st.CreatedAt, err)
	}

	// Bad metadata.
	for _, tc := range []struct {
		body any
		code string
	}{
		{map[string]any{"name": "j", "language": "java"}, "unsupported_language"},
		{map[string]any{"language": "wasm"}, "missing_field"},
		{map[string]any{"name": "a/b"}, "invalid_name"},
		{map[string]any{"name": "v", "interface_version": "2.0"}, "unsupported_interface_version"},
		{map[string]any{"name": "u", "colour": "red"}, "unknown_field"},
		{map[string]any{"name": 7}, "invalid_field"},
		{"{not json", "invalid_json"},
		{"", "missing_body"},
		{map[string]any{"name": "d", "dependency": "ok, not/ok"}, "invalid_field"},
	} {
		r := admin.want(400, "POST", "/storlets", tc.body)
		if got := r.errCode(t); got != tc.code {
			t.Errorf("%v: code %s, want %s (%s)", tc.body, got, tc.code, r.body)
		}
	}
	if r := admin.want(400, "POST", "/storlets", map[string]any{"name": "j", "language": "java"}); !strings.Contains(string(r.body), `\"wasm\"`) {
		t.Errorf("the language error does not name the supported language: %s", r.body)
	}
	if r := admin.want(409, "POST", "/storlets", map[string]any{"name": "upper"}); r.errCode(t) != "name_taken" {
		t.Fatal(string(r.body))
	}

	// Data: a file that is not a module is refused with the reason.
	path := fmt.Sprintf("/storlets/%d", st.ID)
	if r := admin.want(400, "PUT", path+"/data", "#!/bin/sh\ncat\n"); r.errCode(t) != "invalid_module" || !strings.Contains(string(r.body), "asm") {
		t.Fatal(string(r.body))
	}
	// Deploying without data is a conflict.
	admin.want(409, "PUT", "/storlets/"+acct+"/deploy/"+fmt.Sprint(st.ID), map[string]any{"params": ""})
	// Multipart upload, as the original controller took it.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("comment", "ignored")
	fw, _ := mw.CreateFormFile("file", "upper.wasm")
	fw.Write(examplesModule(t))
	mw.Close()
	admin.want(201, "PUT", path+"/data", mp.Bytes(), "Content-Type", mw.FormDataContentType()).json(t, &st)
	sum := sha256.Sum256(examplesModule(t))
	if !st.HasData || st.DataSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("after upload: %+v", st)
	}
	// Raw upload replaces it (POST, as the spec's example writes it).
	admin.want(201, "POST", path+"/data", nopModule).json(t, &st)
	sum = sha256.Sum256(nopModule)
	if st.DataSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("raw upload did not replace the data")
	}

	// Get, list, update.
	var got storletJSON
	admin.want(200, "GET", path, nil).json(t, &got)
	if got.ID != st.ID || got.Name != "upper" || !got.HasData {
		t.Fatalf("get: %+v", got)
	}
	admin.want(404, "GET", "/storlets/999", nil)
	admin.want(404, "GET", "/storlets/abc", nil)
	admin.want(200, "PUT", path, map[string]any{"name": "ident", "dependency": "a,b"}).json(t, &got)
	if got.Name != "ident" || got.Dependency != "a,b" || got.Language != "wasm" {
		t.Fatalf("update: %+v", got)
	}
	if r := admin.want(400, "PUT", path, map[string]any{"main": "nope"}); r.errCode(t) != "invalid_module" {
		t.Fatalf("a main the module does not export: %s", r.body)
	}
	admin.want(200, "PUT", path, map[string]any{"dependency": ""})
	var list []storletJSON
	admin.want(201, "POST", "/storlets", map[string]any{"name": "second"})
	admin.want(200, "GET", "/storlets", nil).json(t, &list)
	if len(list) != 2 || list[0].Name != "ident" || list[1].Name != "second" {
		t.Fatalf("list: %+v", list)
	}
	r := admin.want(405, "PATCH", path, nil)
	if r.header.Get("Allow") != "GET, PUT, DELETE" || r.errCode(t) != "method_not_allowed" {
		t.Fatalf("405: %v %s", r.header, r.body)
	}

	// Deploy: unknown account 404, bad params 400, then 201 (twice: the
	// second updates the params).
	id := fmt.Sprint(st.ID)
	admin.want(404, "PUT", "/storlets/no-such-account/deploy/"+id, nil)
	admin.want(404, "PUT", "/storlets/"+acct+"/deploy/999", nil)
	if r := admin.want(400, "PUT", "/storlets/"+acct+"/deploy/"+id, map[string]any{"params": "a%zz=1"}); r.errCode(t) != "invalid_params" {
		t.Fatal(string(r.body))
	}
	admin.want(201, "PUT", "/storlets/"+acct+"/deploy/"+id, map[string]any{"params": "select=user_id"})
	admin.want(201, "PUT", "/storlets/"+acct+"/deploy/"+id+"/", map[string]any{"params": "select=name"})
	admin.want(200, "GET", "/storlets/"+acct+"/deploy/", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != st.ID || list[0].Params == nil || *list[0].Params != "select=name" || list[0].Deployed != "true" {
		t.Fatalf("deployed: %s", mustJSON(list))
	}
	admin.want(200, "GET", path, nil).json(t, &got)
	if got.Deployed != "true" {
		t.Fatal("not shown as deployed")
	}

	// Delete: refused while deployed.
	if r := admin.want(409, "DELETE", path, nil); r.errCode(t) != "deployed" || !strings.Contains(string(r.body), acct) {
		t.Fatal(string(r.body))
	}
	admin.want(204, "PUT", "/storlets/"+acct+"/undeploy/"+id+"/", nil)
	admin.want(404, "POST", "/storlets/"+acct+"/undeploy/"+id, nil)
	admin.want(200, "GET", "/storlets/"+acct+"/deploy", nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("still deployed: %+v", list)
	}
	admin.want(204, "DELETE", path, nil)
	admin.want(404, "GET", path, nil)
	admin.want(404, "DELETE", path, nil)
	// The module's blob went with it (collected once the delete committed).
	if nd.Blobs.Has(st.DataSHA256) {
		t.Fatal("the deleted storlet's module is still in the blob store")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

type depJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Permissions string `json:"permissions"`
	CreatedAt   string `json:"created_at"`
	Deployed    string `json:"deployed"`
	HasData     bool   `json:"has_data"`
}

func TestDependencyEndpoints(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	acct := account(t, nd, nd.UserToken)

	var d depJSON
	admin.want(201, "POST", "/storlets/dependencies", map[string]any{"name": "header.txt", "version": "1.0", "permissions": "0755"}).json(t, &d)
	if d.ID <= 0 || d.Name != "header.txt" || d.Permissions != "0755" || d.Deployed != "false" || d.HasData {
		t.Fatalf("created: %+v", d)
	}
	admin.want(409, "POST", "/storlets/dependencies", map[string]any{"name": "header.txt", "version": "2"})
	admin.want(400, "POST", "/storlets/dependencies", map[string]any{"name": "x"})
	admin.want(400, "POST", "/storlets/dependencies", map[string]any{"name": "x", "version": "1", "permissions": "rwx"})
	path := fmt.Sprintf("/storlets/dependencies/%d", d.ID)
	id := fmt.Sprint(d.ID)
	admin.want(409, "PUT", "/storlets/dependencies/"+acct+"/deploy/"+id, nil)
	admin.want(201, "PUT", path+"/data", "hello\n").json(t, &d)
	if !d.HasData {
		t.Fatal("no data after upload")
	}
	admin.want(200, "PUT", path, map[string]any{"version": "1.1"}).json(t, &d)
	if d.Version != "1.1" || d.Name != "header.txt" {
		t.Fatalf("update: %+v", d)
	}
	var list []depJSON
	admin.want(200, "GET", "/storlets/dependencies/", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != d.ID {
		t.Fatalf("list: %+v", list)
	}
	// The /dependencies alias serves the same.
	admin.want(200, "GET", "/dependencies/"+id, nil).json(t, &d)
	admin.want(404, "PUT", "/storlets/dependencies/nobody/deploy/"+id, nil)
	admin.want(201, "PUT", "/storlets/dependencies/"+acct+"/deploy/"+id+"/", nil)
	admin.want(201, "PUT", "/storlets/dependencies/"+acct+"/deploy/"+id, nil) // idempotent
	admin.want(200, "GET", "/storlets/dependencies/"+acct+"/deploy/", nil).json(t, &list)
	if len(list) != 1 || list[0].Deployed != "true" {
		t.Fatalf("deployed: %+v", list)
	}
	admin.want(409, "DELETE", path, nil)
	admin.want(204, "POST", "/storlets/dependencies/"+acct+"/undeploy/"+id, nil)
	admin.want(404, "PUT", "/storlets/dependencies/"+acct+"/undeploy/"+id, nil)
	admin.want(204, "DELETE", path, nil)
	admin.want(404, "GET", path, nil)
}

const csvData = "user_id,name,city\n1,ann,paris\n2,bob,oslo\n"

func TestDeployedStorletsTransformThatAccountOnly(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice, bob := nd.UserToken, nd.NewUser(t)
	aliceID := account(t, nd, alice)
	fa, fb := storeFile(t, nd, alice, []byte(csvData)), storeFile(t, nd, bob, []byte(csvData))

	sel := addStorlet(t, admin, "csvselect", nil)
	up := addStorlet(t, admin, "upper", nil)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, sel.ID), map[string]any{"params": "select=name,user_id"})
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, up.ID), nil)

	// Alice's reads run csvselect, then upper, with the deployed params.
	r := get(t, nd, alice, fa)
	if r.status != 200 || string(r.body) != "NAME,USER_ID\nANN,1\nBOB,2\n" {
		t.Fatalf("alice: %d %q", r.status, r.body)
	}
	if r.header.Get("ETag") != "" || r.header.Get("Content-Length") == fmt.Sprint(len(csvData)) {
		t.Fatalf("a filtered answer has no ETag, nor the stored length: %v", r.header)
	}
	// An admin reading Alice's file sees what Alice sees: storlets follow
	// the object's account.
	if r := get(t, nd, nd.AdminToken, fa); string(r.body) != "NAME,USER_ID\nANN,1\nBOB,2\n" {
		t.Fatalf("admin: %q", r.body)
	}
	// Bob's are untouched, with ETag and Range as usual.
	r = get(t, nd, bob, fb)
	if r.status != 200 || string(r.body) != csvData || r.header.Get("ETag") == "" {
		t.Fatalf("bob: %d %q %v", r.status, r.body, r.header)
	}
	if r := get(t, nd, bob, fb, "Range", "bytes=0-6"); r.status != 206 || string(r.body) != "user_id" {
		t.Fatalf("bob range: %d %q", r.status, r.body)
	}
	// Range together with a storlet: 400, in the JSON:API error format.
	r = get(t, nd, alice, fa, "Range", "bytes=0-3")
	if r.status != 400 || !strings.Contains(string(r.body), `"code":"range_with_storlet"`) {
		t.Fatalf("range with storlets: %d %s", r.status, r.body)
	}

	// Deployments survive a restart (modules are compiled again from the
	// blob store on first use).
	nd.Restart(t)
	if r := get(t, nd, alice, fa); string(r.body) != "NAME,USER_ID\nANN,1\nBOB,2\n" {
		t.Fatalf("after restart: %d %q", r.status, r.body)
	}

	// Undeploy both: raw bytes again.
	admin.want(204, "PUT", fmt.Sprintf("/storlets/%s/undeploy/%d", aliceID, sel.ID), nil)
	if r := get(t, nd, alice, fa); string(r.body) != strings.ToUpper(csvData) {
		t.Fatalf("upper only: %q", r.body)
	}
	admin.want(204, "PUT", fmt.Sprintf("/storlets/%s/undeploy/%d", aliceID, up.ID), nil)
	if r := get(t, nd, alice, fa); string(r.body) != csvData || r.header.Get("ETag") == "" {
		t.Fatalf("nothing deployed: %q", r.body)
	}
}

func TestExplicitRun(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte(csvData))
	sel := addStorlet(t, admin, "csvselect", nil)
	addStorlet(t, admin, "upper", nil)

	// Named but not deployed to the account: 400.
	r := get(t, nd, alice, fa, "X-Run-Storlet", "csvselect")
	if r.status != 400 || !strings.Contains(string(r.body), "storlet_not_deployed") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := get(t, nd, alice, fa, "X-Run-Storlet", "nope"); r.status != 400 || !strings.Contains(string(r.body), "unknown_storlet") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, sel.ID), map[string]any{"params": "select=city"})

	// Deployed params, then overridden by a header, then by the query.
	if r := get(t, nd, alice, fa, "X-Run-Storlet", "csvselect"); string(r.body) != "city\nparis\noslo\n" {
		t.Fatalf("deployed params: %d %q", r.status, r.body)
	}
	if r := get(t, nd, alice, fa, "X-Run-Storlet", "csvselect", "X-Storlet-Parameter-1", "select:name"); string(r.body) != "name\nann\nbob\n" {
		t.Fatalf("header params: %d %q", r.status, r.body)
	}
	if r := get(t, nd, alice, fa+"?select=user_id,city", "X-Run-Storlet", "csvselect"); string(r.body) != "user_id,city\n1,paris\n2,oslo\n" {
		t.Fatalf("query params: %d %q", r.status, r.body)
	}
	// The storlet itself refuses a column that does not exist; it fails
	// before writing, so the answer is a clear error.
	r = get(t, nd, alice, fa+"?select=nope", "X-Run-Storlet", "csvselect")
	if r.status != 422 || !strings.Contains(string(r.body), `no column \"nope\"`) {
		t.Fatalf("failing storlet: %d %s", r.status, r.body)
	}
	for _, hdr := range [][]string{
		{"X-Run-Storlet", "csvselect", "Range", "bytes=0-1"},
		{"X-Storlet-Parameter-1", "select:name"},
		{"X-Run-Storlet", "csvselect", "X-Storlet-Parameter-1", "no colon"},
	} {
		if r := get(t, nd, alice, fa, hdr...); r.status != 400 || !strings.Contains(string(r.body), `"errors"`) {
			t.Errorf("%v: %d %s", hdr, r.status, r.body)
		}
	}
}

func TestUploadThroughStorlet(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice := nd.UserToken
	up := addStorlet(t, admin, "upper", nil)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", account(t, nd, alice), up.ID), nil)

	upload := func(data string, hdr ...string) resp {
		doc := fmt.Sprintf(`{"data":{"type":"file","attributes":{"name":"a.txt","data":%q}}}`, data)
		a := api{t: t, url: nd.URL()}
		return a.do("POST", "/files", doc, append([]string{"Authorization", "Bearer " + alice, "Content-Type", "application/vnd.api+json"}, hdr...)...)
	}
	r := upload(base64.StdEncoding.EncodeToString([]byte("hello storlets")), "X-Run-Storlet", "upper")
	if r.status != 402 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var doc struct {
		Data struct {
			Attributes struct {
				Size        int64  `json:"size"`
				ContentHash string `json:"content_hash"`
			} `json:"attributes"`
		} `json:"data"`
	}
	r.json(t, &doc)
	sum := sha256.Sum256([]byte("HELLO STORLETS"))
	if doc.Data.Attributes.ContentHash != hex.EncodeToString(sum[:]) || doc.Data.Attributes.Size != 14 {
		t.Fatalf("stored %+v, want the upper-cased content", doc.Data.Attributes)
	}
	// Bad base64 is still the client's fault, not the storlet's.
	r = upload("!!!!", "X-Run-Storlet", "upper")
	if r.status != 400 || !strings.Contains(string(r.body), "invalid_base64") {
		t.Fatalf("bad base64: %d %s", r.status, r.body)
	}
	if r := upload("aGk=", "X-Run-Storlet", "nope"); r.status != 400 {
		t.Fatalf("unknown storlet: %d %s", r.status, r.body)
	}
	// Without X-Run-Storlet, uploads are stored as they are.
	r = upload(base64.StdEncoding.EncodeToString([]byte("hello")))
	r.json(t, &doc)
	sum = sha256.Sum256([]byte("hello"))
	if r.status != 402 || doc.Data.Attributes.ContentHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("plain upload: %d %s", r.status, r.body)
	}
}

func TestDependencyIsReadable(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte("body\n"))
	pre := addStorlet(t, admin, "prefix", map[string]any{"dependency": "header.txt"})
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, pre.ID), nil)

	// The dependency is not deployed to the account: a clear error.
	if r := get(t, nd, alice, fa); r.status != 409 || !strings.Contains(string(r.body), "dependency_not_deployed") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var d depJSON
	admin.want(201, "POST", "/storlets/dependencies", map[string]any{"name": "header.txt", "version": "1"}).json(t, &d)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/dependencies/%d/data", d.ID), "# header\n")
	admin.want(201, "PUT", fmt.Sprintf("/storlets/dependencies/%s/deploy/%d", aliceID, d.ID), nil)
	if r := get(t, nd, alice, fa); r.status != 200 || string(r.body) != "# header\nbody\n" {
		t.Fatalf("%d %q", r.status, r.body)
	}
}

// TestMisbehavingStorlets: code that loops, allocates or writes without end
// is stopped; code that reaches for host files or sockets is refused; the
// node keeps serving meanwhile. (WASI preview 1 has no call that creates or
// connects a socket: a module can only accept on sockets the host hands
// over, and the sandbox hands over none.)
func TestMisbehavingStorlets(t *testing.T) {
	net0 := testnet.New(t, 1, withCache, func(_ int, c *node.Config) {
		c.Storlets = sandbox.Limits{MemoryPages: 512, Timeout: 5 * time.Second, MaxOutput: 1 << 20, Concurrency: 8}
	})
	nd := net0.Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte(csvData))

	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("root:x:0:0\n"), 0o600)
	// escape gets a dependency, so it has a directory to climb out of.
	var d depJSON
	admin.want(201, "POST", "/storlets/dependencies", map[string]any{"name": "header.txt", "version": "1"}).json(t, &d)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/dependencies/%d/data", d.ID), "# header\n")
	admin.want(201, "PUT", fmt.Sprintf("/storlets/dependencies/%s/deploy/%d", aliceID, d.ID), nil)
	climb := "/deps/../../../../../../.." + secret

	for _, name := range []string{"loop", "alloc", "spew", "escape"} {
		st := addStorlet(t, admin, name, map[string]any{"dependency": "header.txt"})
		// params as a JSON object, then as the spec's query string.
		admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, st.ID), map[string]any{"params": map[string]any{"file": climb, "other": "x"}})
		var list []storletJSON
		admin.want(200, "GET", fmt.Sprintf("/storlets/%s/deploy", aliceID), nil).json(t, &list)
		if p := list[len(list)-1].Params; p == nil || *p != "file="+url.QueryEscape(climb)+"&other=x" {
			t.Fatalf("params: %s", mustJSON(list))
		}
		admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, st.ID), map[string]any{"params": "file=" + climb})
	}
	// Plain reads of another user's file must stay fast while storlets misbehave.
	bob := nd.NewUser(t)
	fb := storeFile(t, nd, bob, []byte("plain"))

	var wg sync.WaitGroup
	for _, tc := range []struct{ name, code string }{
		{"loop", "storlet_timeout"},
		{"alloc", "storlet_memory_limit"},
		{"escape", "storlet_failed"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r := get(t, nd, alice, fa, "X-Run-Storlet", tc.name)
			if r.status != 422 || !strings.Contains(string(r.body), `"code":"`+tc.code+`"`) {
				t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			}
			if strings.Contains(string(r.body), "root:") {
				t.Errorf("%s: read a host file: %s", tc.name, r.body)
			}
			if tc.name == "escape" && !strings.Contains(string(r.body), "refused: accept") {
				t.Errorf("escape: %s", r.body)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("%s: took %s to stop", tc.name, d)
			}
			t.Logf("%s: %s", tc.name, r.body)
		}()
	}
	// Endless output: the answer has started when the limit hits, so the
	// transfer is cut short rather than completed.
	wg.Add(1)
	go func() {
		defer wg.Done()
		req, _ := http.NewRequest("GET", nd.URL()+"/files/"+fa, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("X-Run-Storlet", "spew")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("spew: %v", err)
			return
		}
		defer res.Body.Close()
		n, err := io.Copy(io.Discard, res.Body)
		if err == nil || n > 1<<20 {
			t.Errorf("spew: read %d bytes, err %v: want a cut transfer of at most 1 MiB", n, err)
		}
	}()
	for i := 0; i < 20; i++ {
		start := time.Now()
		if r := get(t, nd, bob, fb); r.status != 200 || string(r.body) != "plain" {
			t.Fatalf("plain read: %d %s", r.status, r.body)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a plain read took %s while storlets ran", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	// And the node still runs well-behaved storlets.
	up := addStorlet(t, admin, "upper", nil)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, up.ID), nil)
	if r := get(t, nd, alice, fa, "X-Run-Storlet", "upper"); r.status != 200 || string(r.body) != strings.ToUpper(csvData) {
		t.Fatalf("after the misbehaving ones: %d %q", r.status, r.body)
	}
	m := admin.want(200, "GET", "/metrics", nil)
	for _, line := range []string{
		`dds_storlet_runs{outcome="ok"} 1`, `dds_storlet_runs{outcome="storlet_timeout"} 1`,
		`dds_storlet_runs{outcome="storlet_memory_limit"} 1`, `dds_storlet_runs{outcome="storlet_output_limit"} 1`,
		`dds_storlet_runs{outcome="storlet_failed"} 1`, `dds_storlets{kind="storlet_deployments"} 5`,
	} {
		if !strings.Contains(string(m.body), line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// BenchmarkGetTrivialStorlet is the cost a storlet adds to a small GET:
// compare with BenchmarkGetPlain.
func BenchmarkGetTrivialStorlet(b *testing.B) { benchGet(b, 16, true) }
func BenchmarkGetPlain(b *testing.B)          { benchGet(b, 16, false) }

// BenchmarkGetIdentityStorlet16MiB is the throughput of a GET through an
// identity storlet.
func BenchmarkGetIdentityStorlet16MiB(b *testing.B) { benchGet(b, 16<<20, true) }
func BenchmarkGetPlain16MiB(b *testing.B)           { benchGet(b, 16<<20, false) }

func benchGet(b *testing.B, size int, storlet bool) {
	nd := testnet.New(b, 1, withCache).Nodes[0]
	admin := api{t: b, url: nd.URL(), token: nd.AdminToken}
	id := storeFile(b, nd, nd.UserToken, bytes.Repeat([]byte("x"), size))
	if storlet {
		st := addStorlet(b, admin, "identity", nil)
		admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", account(b, nd, nd.UserToken), st.ID), nil)
	}
	req, _ := http.NewRequest("GET", nd.URL()+"/files/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+nd.UserToken)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || n != int64(size) || res.StatusCode != 200 {
			b.Fatalf("%d bytes, %v, %d", n, err, res.StatusCode)
		}
	}
}

// TestBusy: when every slot runs a storlet, another run waits a little, then
// gets 503 with Retry-After; plain reads are not affected.
func TestBusy(t *testing.T) {
	nd := testnet.New(t, 1, withCache, func(_ int, c *node.Config) {
		c.Storlets = sandbox.Limits{Timeout: 3 * time.Second, Concurrency: 1, QueueWait: 100 * time.Millisecond}
	}).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte(csvData))
	for _, name := range []string{"loop", "upper"} {
		st := addStorlet(t, admin, name, nil)
		admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, st.ID), nil)
	}
	done := make(chan resp)
	go func() { done <- get(t, nd, alice, fa, "X-Run-Storlet", "loop") }()
	time.Sleep(500 * time.Millisecond) // the loop has the only slot
	r := get(t, nd, alice, fa, "X-Run-Storlet", "upper")
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "storlets_busy") {
		t.Fatalf("busy: %d %v %s", r.status, r.header, r.body)
	}
	if r := get(t, nd, alice, fa, "Range", "bytes=0-6"); r.status != 400 {
		// Both storlets are deployed, so a Range read of alice's file is refused
		// at once instead of waiting for a slot.
		t.Fatalf("range: %d %s", r.status, r.body)
	}
	if r := <-done; r.status != 422 {
		t.Fatalf("loop: %d %s", r.status, r.body)
	}
	if r := get(t, nd, alice, fa, "X-Run-Storlet", "upper"); r.status != 200 || string(r.body) != strings.ToUpper(csvData) {
		t.Fatalf("after the slot freed: %d %s", r.status, r.body)
	}
}
