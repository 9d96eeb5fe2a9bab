package storlets_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/sandbox/wasmtest"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// wasmDir holds the example storlets of testdata/examples (one program that
// runs the storlet named by argv[0]), built once per test binary, and the
// compiled code every test node shares: compiling a Go-built module takes
// seconds (more under -race), so it is done once.
var wasmDir, cacheDir string

// withCache makes test nodes share compiled modules.
func withCache(_ int, c *testnet.Setup) { c.WasmCacheDir = cacheDir }

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
	for _, mode := range []string{"exe", "c-shared"} {
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode="+mode, "-o", filepath.Join(dir, "examples-"+mode+".wasm"), "./testdata/examples")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the example storlets (%s): %v\n%s", mode, err, out)
			os.Exit(1)
		}
	}
	wasmDir, cacheDir = dir, filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// examplesModule is the examples as a command; reactorModule as a reactor,
// whose entry point is "run".
func examplesModule(t testing.TB) []byte { return readModule(t, "examples-exe.wasm") }
func reactorModule(t testing.TB) []byte  { return readModule(t, "examples-c-shared.wasm") }

func readModule(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wasmDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resp is a raw answer: for what the client does not send (malformed
// input, other encodings, paths and methods) and for headers.
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
	var e api.StorletsError
	r.json(t, &e)
	if e.Message == "" {
		t.Fatalf("error without a message: %s", r.body)
	}
	return e.Error
}

// raw sends a request the client builds (its token as a bearer token), with
// a body of bytes, a string or JSON, and headers as name, value pairs.
func raw(t testing.TB, c *client.Client, method, path string, body any, hdr ...string) resp {
	t.Helper()
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
	req, err := c.NewRequest(context.Background(), method, path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// want is raw, failing unless the answer has status.
func want(t testing.TB, c *client.Client, status int, method, path string, body any, hdr ...string) resp {
	t.Helper()
	r := raw(t, c, method, path, body, hdr...)
	if r.status != status {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, r.status, r.body, status)
	}
	return r
}

// must returns v, failing the test given to it on an error:
// must(c.Call(...))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantErr fails unless err is the node's answer with status and, unless
// code is empty, code.
func wantErr(t testing.TB, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || (code != "" && e.Code != code) {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
	return e
}

// addStorlet creates a storlet and uploads the examples module: it runs as
// the example of the same name.
func addStorlet(t testing.TB, admin *client.Client, name, dependency string) api.Storlet {
	t.Helper()
	return addModule(t, admin, name, dependency, "_start", examplesModule(t))
}

// addReactor registers the reactor build of the examples as storlet name.
func addReactor(t testing.TB, admin *client.Client, name string) api.Storlet {
	t.Helper()
	return addModule(t, admin, name, "", "run", reactorModule(t))
}

func addModule(t testing.TB, admin *client.Client, name, dependency, main string, wasm []byte) api.Storlet {
	t.Helper()
	ctx := context.Background()
	lang, version, meta := "wasm", "1.0", "no"
	st := must(admin.Storlets().Create(ctx, api.StorletMeta{Name: &name, Language: &lang, InterfaceVersion: &version,
		Dependency: &dependency, ObjectMetadata: &meta, Main: &main}))(t)
	return must(admin.Storlets().Upload(ctx, st.ID, bytes.NewReader(wasm)))(t)
}

// addDependency creates a dependency, uploads content and deploys it to
// account.
func addDependency(t testing.TB, admin *client.Client, name, content, account string) api.StorletDependency {
	t.Helper()
	ctx := context.Background()
	d := must(admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: &name, Version: ptr("1")}))(t)
	d = must(admin.Dependencies().Upload(ctx, d.ID, strings.NewReader(content)))(t)
	must(admin.Dependencies().Deploy(ctx, account, d.ID, ""))(t)
	return d
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

// get reads a DDS file with a user's bearer token: raw, for the status and
// headers of the answer.
func get(t testing.TB, nd *testnet.Node, token, id string, hdr ...string) resp {
	t.Helper()
	return raw(t, nd.Client(token), "GET", "/files/"+id, nil, hdr...)
}

// read reads a DDS file through the client; h is nil or client.RunStorlet.
func read(nd *testnet.Node, token, id string, h http.Header) (string, error) {
	body, _, err := nd.Client(token).Open(context.Background(), id, h)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	return string(b), err
}

func TestAuth(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	_, err := nd.Client("").Storlets().List(ctx)
	wantErr(t, err, 401, "unauthorized")
	_, err = nd.Client("dds_bogus").Dependencies().List(ctx)
	wantErr(t, err, 401, "")
	name := "x"
	_, err = nd.User().Storlets().Create(ctx, api.StorletMeta{Name: &name})
	wantErr(t, err, 403, "forbidden")
	// The client sends X-Auth-Token; a bearer token does as well.
	want(t, nd.Admin(), 200, "GET", "/storlets", nil)
	if list := must(nd.Admin().Storlets().List(ctx))(t); list == nil || len(list) != 0 {
		t.Fatalf("empty list: %#v", list)
	}
	want(t, nd.Admin(), 404, "GET", "/storlets/1/nothing/here/at/all", nil)
}

func ptr(s string) *string { return &s }

func TestStorletEndpoints(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	acct := account(t, nd, nd.UserToken)

	st := must(admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("upper"), Language: ptr("WASM"), InterfaceVersion: ptr("1.0"),
		Dependency: ptr("’’"), ObjectMetadata: ptr("no"), Main: ptr("_start")}))(t)
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
		r := want(t, admin, 400, "POST", "/storlets", tc.body)
		if got := r.errCode(t); got != tc.code {
			t.Errorf("%v: code %s, want %s (%s)", tc.body, got, tc.code, r.body)
		}
	}
	_, err := admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("j"), Language: ptr("java")})
	if e := wantErr(t, err, 400, "unsupported_language"); !strings.Contains(e.Detail, `"wasm"`) {
		t.Errorf("the language error does not name the supported language: %s", e.Detail)
	}
	_, err = admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("upper")})
	wantErr(t, err, 409, "name_taken")

	// Data: a file that is not a module is refused with the reason.
	path := fmt.Sprintf("/storlets/%d", st.ID)
	_, err = admin.Storlets().Upload(ctx, st.ID, strings.NewReader("#!/bin/sh\ncat\n"))
	if e := wantErr(t, err, 400, "invalid_module"); !strings.Contains(e.Detail, "asm") {
		t.Fatal(e.Detail)
	}
	// Deploying without data is a conflict.
	_, err = admin.Storlets().Deploy(ctx, acct, st.ID, "")
	wantErr(t, err, 409, "")
	// Multipart upload, as the original controller took it.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("comment", "ignored")
	fw, _ := mw.CreateFormFile("file", "upper.wasm")
	fw.Write(examplesModule(t))
	mw.Close()
	want(t, admin, 201, "PUT", path+"/data", mp.Bytes(), "Content-Type", mw.FormDataContentType()).json(t, &st)
	sum := sha256.Sum256(examplesModule(t))
	if !st.HasData || st.DataSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("after upload: %+v", st)
	}
	// Raw upload replaces it (POST, as the spec's example writes it).
	want(t, admin, 201, "POST", path+"/data", nopModule).json(t, &st)
	sum = sha256.Sum256(nopModule)
	if st.DataSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("raw upload did not replace the data")
	}

	// Get, list, update.
	got := must(admin.Storlets().Get(ctx, st.ID))(t)
	if got.ID != st.ID || got.Name != "upper" || !got.HasData {
		t.Fatalf("get: %+v", got)
	}
	_, err = admin.Storlets().Get(ctx, 999)
	wantErr(t, err, 404, "")
	want(t, admin, 404, "GET", "/storlets/abc", nil)
	got = must(admin.Storlets().Update(ctx, st.ID, api.StorletMeta{Name: ptr("ident"), Dependency: ptr("a,b")}))(t)
	if got.Name != "ident" || got.Dependency != "a,b" || got.Language != "wasm" {
		t.Fatalf("update: %+v", got)
	}
	_, err = admin.Storlets().Update(ctx, st.ID, api.StorletMeta{Main: ptr("nope")})
	wantErr(t, err, 400, "invalid_module") // a main the module does not export
	must(admin.Storlets().Update(ctx, st.ID, api.StorletMeta{Dependency: ptr("")}))(t)
	must(admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("second")}))(t)
	list := must(admin.Storlets().List(ctx))(t)
	if len(list) != 2 || list[0].Name != "ident" || list[1].Name != "second" {
		t.Fatalf("list: %+v", list)
	}
	r := want(t, admin, 405, "PATCH", path, nil)
	if r.header.Get("Allow") != "GET, PUT, DELETE" || r.errCode(t) != "method_not_allowed" {
		t.Fatalf("405: %v %s", r.header, r.body)
	}

	// Deploy: unknown account 404, bad params 400, then 201 (twice: the
	// second updates the params).
	id := fmt.Sprint(st.ID)
	_, err = admin.Storlets().Deploy(ctx, "no-such-account", st.ID, "")
	wantErr(t, err, 404, "")
	_, err = admin.Storlets().Deploy(ctx, acct, 999, "")
	wantErr(t, err, 404, "")
	_, err = admin.Storlets().Deploy(ctx, acct, st.ID, "a%zz=1")
	wantErr(t, err, 400, "invalid_params")
	must(admin.Storlets().Deploy(ctx, acct, st.ID, "select=user_id"))(t)
	want(t, admin, 201, "PUT", "/storlets/"+acct+"/deploy/"+id+"/", map[string]any{"params": "select=name"})
	want(t, admin, 200, "GET", "/storlets/"+acct+"/deploy/", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != st.ID || list[0].Params == nil || *list[0].Params != "select=name" || list[0].Deployed != "true" {
		t.Fatalf("deployed: %s", mustJSON(list))
	}
	if got := must(admin.Storlets().Get(ctx, st.ID))(t); got.Deployed != "true" {
		t.Fatal("not shown as deployed")
	}

	// Delete: refused while deployed.
	if e := wantErr(t, admin.Storlets().Delete(ctx, st.ID), 409, "deployed"); !strings.Contains(e.Detail, acct) {
		t.Fatal(e.Detail)
	}
	want(t, admin, 204, "PUT", "/storlets/"+acct+"/undeploy/"+id+"/", nil)
	want(t, admin, 404, "POST", "/storlets/"+acct+"/undeploy/"+id, nil)
	if list := must(admin.Storlets().Deployed(ctx, acct))(t); len(list) != 0 {
		t.Fatalf("still deployed: %+v", list)
	}
	if err := admin.Storlets().Delete(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Storlets().Get(ctx, st.ID)
	wantErr(t, err, 404, "")
	wantErr(t, admin.Storlets().Delete(ctx, st.ID), 404, "")
	// The module's blob went with it (collected once the delete committed).
	if nd.Blobs.Has(st.DataSHA256) {
		t.Fatal("the deleted storlet's module is still in the blob store")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDependencyEndpoints(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	acct := account(t, nd, nd.UserToken)

	d := must(admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("header.txt"), Version: ptr("1.0"), Permissions: ptr("0755")}))(t)
	if d.ID <= 0 || d.Name != "header.txt" || d.Permissions != "0755" || d.Deployed != "false" || d.HasData {
		t.Fatalf("created: %+v", d)
	}
	_, err := admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("header.txt"), Version: ptr("2")})
	wantErr(t, err, 409, "")
	_, err = admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("x")})
	wantErr(t, err, 400, "")
	_, err = admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("x"), Version: ptr("1"), Permissions: ptr("rwx")})
	wantErr(t, err, 400, "")
	id := fmt.Sprint(d.ID)
	_, err = admin.Dependencies().Deploy(ctx, acct, d.ID, "")
	wantErr(t, err, 409, "")
	if d = must(admin.Dependencies().Upload(ctx, d.ID, strings.NewReader("hello\n")))(t); !d.HasData {
		t.Fatal("no data after upload")
	}
	if d = must(admin.Dependencies().Update(ctx, d.ID, api.StorletDependencyMeta{Version: ptr("1.1")}))(t); d.Version != "1.1" || d.Name != "header.txt" {
		t.Fatalf("update: %+v", d)
	}
	var list []api.StorletDependency
	want(t, admin, 200, "GET", "/storlets/dependencies/", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != d.ID {
		t.Fatalf("list: %+v", list)
	}
	// The /dependencies alias serves the same.
	want(t, admin, 200, "GET", "/dependencies/"+id, nil).json(t, &d)
	_, err = admin.Dependencies().Deploy(ctx, "nobody", d.ID, "")
	wantErr(t, err, 404, "")
	want(t, admin, 201, "PUT", "/storlets/dependencies/"+acct+"/deploy/"+id+"/", nil)
	must(admin.Dependencies().Deploy(ctx, acct, d.ID, ""))(t) // idempotent
	want(t, admin, 200, "GET", "/storlets/dependencies/"+acct+"/deploy/", nil).json(t, &list)
	if len(list) != 1 || list[0].Deployed != "true" {
		t.Fatalf("deployed: %+v", list)
	}
	wantErr(t, admin.Dependencies().Delete(ctx, d.ID), 409, "")
	want(t, admin, 204, "POST", "/storlets/dependencies/"+acct+"/undeploy/"+id, nil)
	wantErr(t, admin.Dependencies().Undeploy(ctx, acct, d.ID), 404, "")
	if err := admin.Dependencies().Delete(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Dependencies().Get(ctx, d.ID)
	wantErr(t, err, 404, "")
}

const csvData = "user_id,name,city\n1,ann,paris\n2,bob,oslo\n"

func TestDeployedStorletsTransformThatAccountOnly(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	alice, bob := nd.UserToken, nd.NewUser(t)
	aliceID := account(t, nd, alice)
	fa, fb := storeFile(t, nd, alice, []byte(csvData)), storeFile(t, nd, bob, []byte(csvData))

	sel := addStorlet(t, admin, "csvselect", "")
	up := addStorlet(t, admin, "upper", "")
	must(admin.Storlets().Deploy(ctx, aliceID, sel.ID, "select=name,user_id"))(t)
	must(admin.Storlets().Deploy(ctx, aliceID, up.ID, ""))(t)

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
	if body := must(read(nd, nd.AdminToken, fa, nil))(t); body != "NAME,USER_ID\nANN,1\nBOB,2\n" {
		t.Fatalf("admin: %q", body)
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
	if body := must(read(nd, alice, fa, nil))(t); body != "NAME,USER_ID\nANN,1\nBOB,2\n" {
		t.Fatalf("after restart: %q", body)
	}

	// Undeploy both: raw bytes again.
	if err := admin.Storlets().Undeploy(ctx, aliceID, sel.ID); err != nil {
		t.Fatal(err)
	}
	if body := must(read(nd, alice, fa, nil))(t); body != strings.ToUpper(csvData) {
		t.Fatalf("upper only: %q", body)
	}
	if err := admin.Storlets().Undeploy(ctx, aliceID, up.ID); err != nil {
		t.Fatal(err)
	}
	if r := get(t, nd, alice, fa); string(r.body) != csvData || r.header.Get("ETag") == "" {
		t.Fatalf("nothing deployed: %q", r.body)
	}
}

func TestExplicitRun(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte(csvData))
	sel := addStorlet(t, admin, "csvselect", "")
	addStorlet(t, admin, "upper", "")

	// Named but not deployed to the account: 400.
	_, err := read(nd, alice, fa, client.RunStorlet("csvselect"))
	wantErr(t, err, 400, "storlet_not_deployed")
	_, err = read(nd, alice, fa, client.RunStorlet("nope"))
	wantErr(t, err, 400, "unknown_storlet")
	must(admin.Storlets().Deploy(ctx, aliceID, sel.ID, "select=city"))(t)

	// Deployed params, then overridden by a header, then by the query.
	if body := must(read(nd, alice, fa, client.RunStorlet("csvselect")))(t); body != "city\nparis\noslo\n" {
		t.Fatalf("deployed params: %q", body)
	}
	if body := must(read(nd, alice, fa, client.RunStorlet("csvselect", "select:name")))(t); body != "name\nann\nbob\n" {
		t.Fatalf("header params: %q", body)
	}
	if r := get(t, nd, alice, fa+"?select=user_id,city", "X-Run-Storlet", "csvselect"); string(r.body) != "user_id,city\n1,paris\n2,oslo\n" {
		t.Fatalf("query params: %d %q", r.status, r.body)
	}
	// The storlet itself refuses a column that does not exist; it fails
	// before writing, so the answer is a clear error.
	r := get(t, nd, alice, fa+"?select=nope", "X-Run-Storlet", "csvselect")
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
	ctx := context.Background()
	admin := nd.Admin()
	alice := nd.UserToken
	up := addStorlet(t, admin, "upper", "")
	must(admin.Storlets().Deploy(ctx, account(t, nd, alice), up.ID, ""))(t)

	// The client's Upload sends no X-Run-Storlet: these are raw.
	upload := func(data string, hdr ...string) resp {
		doc := fmt.Sprintf(`{"data":{"type":"file","attributes":{"name":"a.txt","data":%q}}}`, data)
		return raw(t, nd.User(), "POST", "/files", doc, append([]string{"Content-Type", "application/vnd.api+json"}, hdr...)...)
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
	ctx := context.Background()
	admin := nd.Admin()
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte("body\n"))
	pre := addStorlet(t, admin, "prefix", "header.txt")
	must(admin.Storlets().Deploy(ctx, aliceID, pre.ID, ""))(t)

	// The dependency is not deployed to the account: a clear error.
	_, err := read(nd, alice, fa, nil)
	wantErr(t, err, 409, "dependency_not_deployed")
	addDependency(t, admin, "header.txt", "# header\n", aliceID)
	if body := must(read(nd, alice, fa, nil))(t); body != "# header\nbody\n" {
		t.Fatalf("%q", body)
	}
}

// TestMisbehavingStorlets: code that loops, allocates or writes without end
// is stopped; code that reaches for host files or sockets is refused; the
// node keeps serving meanwhile. (WASI preview 1 has no call that creates or
// connects a socket: a module can only accept on sockets the host hands
// over, and the sandbox hands over none.)
func TestMisbehavingStorlets(t *testing.T) {
	net0 := testnet.New(t, 1, withCache, func(_ int, c *testnet.Setup) {
		c.Sandbox = sandbox.Limits{MemoryPages: 512, Timeout: 5 * time.Second, MaxOutput: 1 << 20, Concurrency: 8}
	})
	nd := net0.Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte(csvData))

	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("root:x:0:0\n"), 0o600)
	// escape gets a dependency, so it has a directory to climb out of.
	addDependency(t, admin, "header.txt", "# header\n", aliceID)
	climb := "/deps/../../../../../../.." + secret

	for _, name := range []string{"loop", "alloc", "spew", "escape"} {
		st := addStorlet(t, admin, name, "header.txt")
		// params as a JSON object, then as the spec's query string.
		want(t, admin, 201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", aliceID, st.ID), map[string]any{"params": map[string]any{"file": climb, "other": "x"}})
		list := must(admin.Storlets().Deployed(ctx, aliceID))(t)
		if p := list[len(list)-1].Params; p == nil || *p != "file="+url.QueryEscape(climb)+"&other=x" {
			t.Fatalf("params: %s", mustJSON(list))
		}
		must(admin.Storlets().Deploy(ctx, aliceID, st.ID, "file="+climb))(t)
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
		body, _, err := nd.Client(alice).Open(ctx, fa, client.RunStorlet("spew"))
		if err != nil {
			t.Errorf("spew: %v", err)
			return
		}
		defer body.Close()
		n, err := io.Copy(io.Discard, body)
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
	up := addStorlet(t, admin, "upper", "")
	must(admin.Storlets().Deploy(ctx, aliceID, up.ID, ""))(t)
	if body := must(read(nd, alice, fa, client.RunStorlet("upper")))(t); body != strings.ToUpper(csvData) {
		t.Fatalf("after the misbehaving ones: %q", body)
	}
	m := want(t, admin, 200, "GET", "/metrics", nil)
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

// TestReactorStorlets: a storlet built as a reactor (main names its
// handler) gives each read its own answer while the node reuses its
// instance: other objects, other parameters, a failed run in between.
func TestReactorStorlets(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	alice, bob := nd.UserToken, nd.NewUser(t)
	aliceID, bobID := account(t, nd, alice), account(t, nd, bob)
	fa := storeFile(t, nd, alice, []byte(csvData))
	fa2 := storeFile(t, nd, alice, []byte("second,file\nx,y\n"))
	fb := storeFile(t, nd, bob, []byte("bob's secret\n"))
	upper, sel := addReactor(t, admin, "upper"), addReactor(t, admin, "csvselect")
	must(admin.Storlets().Deploy(ctx, aliceID, upper.ID, ""))(t)
	must(admin.Storlets().Deploy(ctx, bobID, upper.ID, ""))(t)
	must(admin.Storlets().Deploy(ctx, aliceID, sel.ID, "select=CITY"))(t)
	// alice's reads run upper then csvselect, deployed in that order.
	for i := 0; i < 3; i++ {
		if body := must(read(nd, alice, fa, nil))(t); body != "CITY\nPARIS\nOSLO\n" {
			t.Fatalf("alice's csv, read %d: %q", i, body)
		}
		if body := must(read(nd, bob, fb, nil))(t); body != "BOB'S SECRET\n" {
			t.Fatalf("bob's file, read %d: %q", i, body)
		}
		if body := must(read(nd, alice, fa, client.RunStorlet("csvselect", "select:name")))(t); body != "name\nann\nbob\n" {
			t.Fatalf("explicit run, read %d: %q", i, body)
		}
		if r := get(t, nd, alice, fa2+"?select=nope", "X-Run-Storlet", "csvselect"); r.status != 422 || !strings.Contains(string(r.body), `no column \"nope\"`) {
			t.Fatalf("failing run %d: %d %s", i, r.status, r.body)
		}
		if body := must(read(nd, alice, fa2, client.RunStorlet("upper")))(t); body != "SECOND,FILE\nX,Y\n" {
			t.Fatalf("alice's second file, read %d: %q", i, body)
		}
	}
}

// BenchmarkGetTrivialStorlet is the cost a storlet adds to a small GET:
// compare with BenchmarkGetPlain. It runs the examples built as a Go
// command (instantiated for each read); BenchmarkGetTrivialReactor the
// same built as a reactor (its instance kept); BenchmarkGetTinyStorlet and
// BenchmarkGetTinyReactor a hand-assembled module that copies its input,
// as a command and as a reactor.
func BenchmarkGetTrivialStorlet(b *testing.B) { benchGet(b, 16, examplesModule, "_start") }
func BenchmarkGetTrivialReactor(b *testing.B) { benchGet(b, 16, reactorModule, "run") }
func BenchmarkGetTinyStorlet(b *testing.B)    { benchGet(b, 16, tinyCommand, "_start") }
func BenchmarkGetTinyReactor(b *testing.B)    { benchGet(b, 16, tinyReactor, "run") }
func BenchmarkGetPlain(b *testing.B)          { benchGet(b, 16, nil, "") }

// BenchmarkGetIdentityStorlet16MiB is the throughput of a GET through an
// identity storlet: compare with BenchmarkGetPlain16MiB.
func BenchmarkGetIdentityStorlet16MiB(b *testing.B) { benchGet(b, 16<<20, examplesModule, "_start") }
func BenchmarkGetIdentityReactor16MiB(b *testing.B) { benchGet(b, 16<<20, reactorModule, "run") }
func BenchmarkGetPlain16MiB(b *testing.B)           { benchGet(b, 16<<20, nil, "") }

func tinyCommand(testing.TB) []byte { return wasmtest.Cat }
func tinyReactor(testing.TB) []byte { return wasmtest.CatReactor }

// benchGet reads a file of size through the identity storlet of module
// (nil: none), whose entry point is main.
func benchGet(b *testing.B, size int, module func(testing.TB) []byte, main string) {
	nd := testnet.New(b, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	id := storeFile(b, nd, nd.UserToken, bytes.Repeat([]byte("x"), size))
	if module != nil {
		st := addModule(b, admin, "identity", "", main, module(b))
		must(admin.Storlets().Deploy(ctx, account(b, nd, nd.UserToken), st.ID, ""))(b)
	}
	user := nd.User()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		n, err := user.Download(ctx, id, io.Discard)
		if err != nil || n != int64(size) {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
	// The process's CPU time (client and node) tells more than wall time
	// on a busy machine.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBusy: when every slot runs a storlet, another run waits a little, then
// gets 503 with Retry-After; plain reads are not affected.
func TestBusy(t *testing.T) {
	nd := testnet.New(t, 1, withCache, func(_ int, c *testnet.Setup) {
		c.Sandbox = sandbox.Limits{Timeout: 3 * time.Second, Concurrency: 1, QueueWait: 100 * time.Millisecond}
	}).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	alice := nd.UserToken
	aliceID := account(t, nd, alice)
	fa := storeFile(t, nd, alice, []byte(csvData))
	for _, name := range []string{"loop", "upper"} {
		st := addStorlet(t, admin, name, "")
		must(admin.Storlets().Deploy(ctx, aliceID, st.ID, ""))(t)
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
	if body := must(read(nd, alice, fa, client.RunStorlet("upper")))(t); body != strings.ToUpper(csvData) {
		t.Fatalf("after the slot freed: %q", body)
	}
}
