package assets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/assets"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// TestStarfishPyFlow walks what starfish-py's RemoteAgent does: token by
// Basic auth (GET, POST when none), metadata registered as text/plain,
// content uploaded as multipart "file", downloaded and compared.
func TestStarfishPyFlow(t *testing.T) {
	ctx := context.Background()
	net := testnet.New(t, 1)
	nd := net.Nodes[0]
	passwordUser(t, nd, "alice", "correct horse battery")
	anon := nd.Client("")

	toks, err := anon.AssetTokens(ctx, "alice", "correct horse battery")
	if err != nil || len(toks) != 1 || !strings.HasPrefix(toks[0], "dds_") {
		t.Fatalf("tokens %q, %v: a principal with none gets one", toks, err)
	}
	again, err := anon.AssetTokens(ctx, "alice", "correct horse battery")
	if err != nil || !slices.Equal(toks, again) {
		t.Fatalf("listing is not stable: %q then %q (%v)", toks, again, err)
	}
	tok, err := anon.CreateAssetToken(ctx, "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	again, err = anon.AssetTokens(ctx, "alice", "correct horse battery")
	if err != nil || len(again) != 2 || again[1] != tok {
		t.Fatalf("after POST, tokens %q (%v); want the new one last", again, err)
	}

	alice := nd.Client(tok)
	content := []byte("station,rainfall_mm\nheathrow,601\nkew,612\n")
	meta := dataset("UK rainfall 2018", "text/csv", content)
	id := register(t, alice, meta)
	if got, err := alice.AssetMetadata(ctx, id); err != nil || string(got) != meta {
		t.Fatalf("metadata changed: %s %v", got, err)
	}
	if r, err := raw(t, alice, "GET", "/api/v1/meta/data/"+id, nil, "If-None-Match", `"`+id+`"`); err != nil || r.StatusCode != 304 {
		t.Fatalf("conditional metadata GET: %v %v", r, err)
	}

	loc, err := alice.UploadAssetForm(ctx, id, "data.bin", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if loc != "/api/v1/assets/"+id {
		t.Fatalf("Location %q", loc)
	}

	// Another principal sees the asset once it is shared with it.
	bobToken := nd.NewUser(t)
	bob := nd.Client(bobToken)
	_, err = bob.DownloadAsset(ctx, id, io.Discard, client.AssetRead{})
	wantErr(t, err, 404)
	bobP, err := nd.Auth.Authenticate(ctx, bobToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetAssetAccess(ctx, id, api.AssetAccess{Access: "shared", Principals: []string{bobP.ID}}); err != nil {
		t.Fatal(err)
	}
	got, ac := download(t, bob, id, client.AssetRead{})
	if !bytes.Equal(got, content) {
		t.Fatalf("downloaded %q", got)
	}
	if ac.ContentType != "text/csv" || ac.ETag != `"`+sha3hex(content)+`"` {
		t.Fatalf("headers %+v", ac)
	}
	if ac.FileName != "UK rainfall 2018.csv" {
		t.Fatalf("file name %q", ac.FileName)
	}
	part, ac := download(t, bob, id, client.AssetRead{Range: "bytes=20-25"})
	if ac.Status != 206 || string(part) != string(content[20:26]) {
		t.Fatalf("range: %d %q", ac.Status, part)
	}
	if _, ac := download(t, bob, id, client.AssetRead{IfNoneMatch: `"` + sha3hex(content) + `"`}); ac.Status != 304 {
		t.Fatalf("If-None-Match: %d", ac.Status)
	}

	if ids, err := bob.AssetIDs(ctx); err != nil || !slices.Equal(ids, []string{id}) {
		t.Fatalf("list %q %v", ids, err)
	}
	index, err := bob.AssetIndex(ctx)
	if err != nil || string(index[id]) != meta {
		t.Fatalf("index %s %v", index, err)
	}

	mreq, _ := nd.Admin().NewRequest(ctx, http.MethodGet, "/metrics", nil)
	resp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{`dds_assets{state="registered"} 1`, `dds_assets{state="with_content"} 1`} {
		if !strings.Contains(string(metrics), line) {
			t.Errorf("metrics lack %s", line)
		}
	}

	// Acknowledged means kept: a restart changes nothing.
	nd.Restart(t)
	if got, _ := download(t, bob, id, client.AssetRead{}); !bytes.Equal(got, content) {
		t.Fatal("content lost across a restart")
	}
}

// TestPutFlow is the PUT variant: metadata under a client-computed id and
// raw content.
func TestPutFlow(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	c := nd.User()
	content := make([]byte, 1<<20+3)
	rand.Read(content)
	meta := dataset("blob", "application/octet-stream", content)
	id := sha3hex([]byte(meta))

	if created, err := c.PutAssetMetadata(ctx, id, []byte(meta)); err != nil || !created {
		t.Fatalf("PUT answers 201 and the id: %v %v", created, err)
	}
	if created, err := c.PutAssetMetadata(ctx, id, []byte(meta)); err != nil || created { // already there
		t.Fatalf("PUT again: %v %v", created, err)
	}
	_, err := c.PutAssetMetadata(ctx, sha3hex([]byte("other")), []byte(meta))
	wantErr(t, err, 400)
	_, err = c.PutAssetMetadata(ctx, "not-an-id", []byte(meta))
	wantErr(t, err, 400)

	upload(t, c, id, content)
	if got, _ := download(t, c, id, client.AssetRead{}); !bytes.Equal(got, content) {
		t.Fatal("content differs")
	}
	// Upper case and a 0x prefix name the same asset.
	download(t, c, "0x"+strings.ToUpper(id), client.AssetRead{})
}

// TestAuthMethods: every way DEP clients authenticate works on a data
// endpoint, and revoked tokens stop working.
func TestAuthMethods(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	passwordUser(t, nd, "carol", "a long enough password")
	anon := nd.Client("")
	tok, err := anon.CreateAssetToken(ctx, "carol", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/meta/data"
	basic := func(name, password string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(name, password)
		return req.Header.Get("Authorization")
	}
	for name, header := range map[string][]string{
		"token":  {"Authorization", "token " + tok}, // what starfish sends
		"bearer": {"Authorization", "Bearer " + tok},
		"basic":  {"Authorization", basic("carol", "a long enough password")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := raw(t, anon, "GET", path, nil, header...); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("access_token", func(t *testing.T) {
		if _, err := raw(t, anon, "GET", path+"?access_token="+tok, nil); err != nil {
			t.Fatal(err)
		}
	})
	_, err = anon.AssetIDs(ctx)
	wantErr(t, err, 401)
	r, _ := http.Get(nd.URL() + path)
	r.Body.Close()
	if !slices.Contains(r.Header.Values("WWW-Authenticate"), `Basic realm="dds", charset="UTF-8"`) {
		t.Fatalf("401 without a Basic challenge: %v", r.Header)
	}
	_, err = raw(t, anon, "GET", path, nil, "Authorization", basic("carol", "wrong password!"))
	wantErr(t, err, 401)
	_, err = raw(t, anon, "GET", path, nil, "Authorization", basic("nobody", "a long enough password"))
	wantErr(t, err, 401)
	_, err = nd.Client("dds_forged").AssetIDs(ctx)
	wantErr(t, err, 401)

	// Revoke: only one's own (others get 404), then it is gone.
	wantErr(t, nd.User().RevokeAssetToken(ctx, tok), 404)
	c := nd.Client(tok)
	if err := c.RevokeAssetToken(ctx, tok); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_, err = c.AssetIDs(ctx)
	wantErr(t, err, 401)
	_, err = raw(t, anon, "DELETE", "/api/v1/auth/revoke/"+tok, nil, "Authorization", basic("carol", "a long enough password"))
	wantErr(t, err, 404)
}

// TestErrors gives every error status of the face a real cause.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	const quota = 1 << 20
	nd := testnet.New(t, 1, func(_ int, c *testnet.Setup) { c.Assets.Quota = quota; c.DDS.MaxFileSize = 2 << 20 }).Nodes[0]
	owner := nd.User()
	other := nd.Client(nd.NewUser(t))
	anon := nd.Client("")
	content := []byte("the real content")
	id := register(t, owner, dataset("x", "text/plain", content))
	unknown := sha3hex([]byte("never registered"))
	put := func(c *client.Client, id string, body []byte) error {
		_, err := c.UploadAsset(ctx, id, bytes.NewReader(body))
		return err
	}
	post := func(c *client.Client, id string, body []byte) error {
		_, err := c.UploadAssetForm(ctx, id, "data.bin", bytes.NewReader(body))
		return err
	}
	get := func(c *client.Client, id string) error {
		_, err := c.DownloadAsset(ctx, id, io.Discard, client.AssetRead{})
		return err
	}

	t.Run("401", func(t *testing.T) {
		wantErr(t, put(anon, id, content), 401)
		wantErr(t, get(anon, id), 401)
		_, err := anon.RegisterAsset(ctx, []byte(`{}`))
		wantErr(t, err, 401)
	})
	t.Run("403 not the owner", func(t *testing.T) {
		// A private asset is not there for the others (404); one they may
		// read, they may not change (403).
		wantErr(t, put(other, id, content), 404)
		wantErr(t, other.DeleteAsset(ctx, id), 404)
		if _, err := owner.SetAssetAccess(ctx, id, api.AssetAccess{Access: "public"}); err != nil {
			t.Fatal(err)
		}
		defer owner.SetAssetAccess(ctx, id, api.AssetAccess{Access: "private"})
		wantErr(t, put(other, id, content), 403)
		wantErr(t, other.DeleteAsset(ctx, id), 403)
		// The payment role is a principal too, but not the owner.
		wantErr(t, put(nd.Payer(), id, content), 403)
	})
	t.Run("404", func(t *testing.T) {
		wantErr(t, put(owner, unknown, content), 404)
		wantErr(t, get(owner, unknown), 404)
		wantErr(t, get(owner, id), 404) // registered, no content yet
		wantErr(t, get(owner, "garbage"), 404)
		_, err := owner.AssetMetadata(ctx, unknown)
		wantErr(t, err, 404)
		_, err = raw(t, owner, "GET", "/api/v1/meta/nothing-here", nil)
		wantErr(t, err, 404)
	})
	t.Run("405", func(t *testing.T) {
		req, _ := owner.NewRequest(ctx, "PATCH", "/api/v1/assets/"+id, nil)
		resp, err := owner.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, PUT, POST, DELETE" {
			t.Fatalf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		_, err = raw(t, owner, "PATCH", "/api/v1/assets/"+id, nil)
		wantErr(t, err, 405)
		_, err = raw(t, owner, "PUT", "/api/v1/auth/token", nil)
		wantErr(t, err, 405)
	})
	t.Run("400 content hash mismatch leaves nothing", func(t *testing.T) {
		objs, _ := blobFiles(t, nd)
		wantErr(t, put(owner, id, []byte("not the content")), 400)
		wantErr(t, post(owner, id, []byte("not the content either")), 400)
		if o, tmp := blobFiles(t, nd); o != objs || tmp != 0 {
			t.Fatalf("a refused upload left %d objects (had %d) and %d temporary files", o, objs, tmp)
		}
		wantErr(t, get(owner, id), 404)
	})
	t.Run("400 malformed metadata", func(t *testing.T) {
		for _, doc := range []string{``, `   `, `[]`, `"text"`, `null`, `{"name":1}`, `{"name":null}`, `{"type":"movie"}`,
			`{"size":"-1"}`, `{"size":"12kB"}`, `{"size":true}`, `{"contentHash":"abc"}`, `{"contentType":"not a type"}`,
			`{"links":{}}`, `{"a":1,"a":2}`, `{"a":1} {}`, `{"a":`, "\xff\xfe{}", `{"operation":[]}`} {
			_, err := owner.RegisterAsset(ctx, []byte(doc))
			if e := wantErr(t, err, 400); !strings.Contains(e.Detail, "metadata") {
				t.Errorf("%q: reason %s", doc, e.Detail)
			}
		}
		_, err := owner.RegisterAsset(ctx, []byte(`{"x":"`+strings.Repeat("a", 1<<20)+`"}`))
		wantErr(t, err, 413)
	})
	t.Run("400 and 415 malformed uploads", func(t *testing.T) {
		_, err := raw(t, owner, "POST", "/api/v1/assets/"+id, bytes.NewReader(content), "Content-Type", "application/octet-stream")
		wantErr(t, err, 415)
		noFile := "--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n"
		_, err = raw(t, owner, "POST", "/api/v1/assets/"+id, strings.NewReader(noFile), "Content-Type", "multipart/form-data; boundary=b")
		wantErr(t, err, 400)
		truncated := "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + string(content)
		_, err = raw(t, owner, "POST", "/api/v1/assets/"+id, strings.NewReader(truncated), "Content-Type", "multipart/form-data; boundary=b")
		wantErr(t, err, 400)
		if _, tmp := blobFiles(t, nd); tmp != 0 {
			t.Fatalf("%d temporary files left", tmp)
		}
	})
	t.Run("507 over the quota, 413 over the size limit", func(t *testing.T) {
		big := make([]byte, quota+1)
		bigID := register(t, owner, `{"name":"big"}`)
		wantErr(t, put(owner, bigID, big), 507)
		// Without a Content-Length the node finds out while streaming.
		_, err := owner.UploadAsset(ctx, bigID, io.MultiReader(bytes.NewReader(big)))
		wantErr(t, err, 507)
		wantErr(t, post(owner, bigID, big), 507)
		wantErr(t, put(owner, bigID, make([]byte, 2<<20+1)), 413)
		if _, tmp := blobFiles(t, nd); tmp != 0 {
			t.Fatalf("%d temporary files left", tmp)
		}
		// What fits, fits; what would pass the quota together does not.
		upload(t, owner, bigID, big[:quota/2])
		id2 := register(t, owner, `{"name":"second"}`)
		wantErr(t, put(owner, id2, make([]byte, quota/2+1)), 507)
		// Registered and filled in one request: the same, and nothing kept.
		_, err = owner.CreateAsset(ctx, []byte(`{"name":"third"}`), bytes.NewReader(make([]byte, quota/2+1)))
		wantErr(t, err, 507)
		if _, err := owner.AssetMetadata(ctx, assets.AssetID([]byte(`{"name":"third"}`))); err == nil {
			t.Fatal("a create refused for the quota registered its asset")
		}
		// Identical content takes no more room.
		upload(t, owner, id2, big[:quota/2])
	})
}

// TestIdenticalContentStoredOnce: two assets (and a DDS file) with the same
// bytes share one object; deleting one leaves the others intact.
func TestIdenticalContentStoredOnce(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	c := nd.User()
	content := make([]byte, 300<<10)
	rand.Read(content)
	a := register(t, c, dataset("first", "application/octet-stream", content))
	b := register(t, c, dataset("second", "application/octet-stream", content))
	upload(t, c, a, content)
	if _, err := c.UploadAssetForm(ctx, b, "data.bin", bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("%d objects for identical content", objs)
	}
	// The DDS face's upload of the same bytes shares the object too.
	if _, err := c.Upload(ctx, "same.bin", bytes.NewReader(content), client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("%d objects after the DDS upload", objs)
	}

	if err := c.DeleteAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, err := c.AssetMetadata(ctx, a)
	wantErr(t, err, 404)
	_, err = c.DownloadAsset(ctx, a, io.Discard, client.AssetRead{})
	wantErr(t, err, 404)
	if got, _ := download(t, c, b, client.AssetRead{}); !bytes.Equal(got, content) {
		t.Fatal("deleting one asset broke the other")
	}
	if err := c.DeleteAssetContent(ctx, b); err != nil { // content only
		t.Fatal(err)
	}
	_, err = c.DownloadAsset(ctx, b, io.Discard, client.AssetRead{})
	wantErr(t, err, 404)
	if _, err := c.AssetMetadata(ctx, b); err != nil {
		t.Fatal(err)
	}
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("the DDS file's bytes went with the assets: %d objects", objs)
	}
	// Re-upload after deleting the content works.
	upload(t, c, b, content)
}

// TestDiscovery: status and DDO are public and list the endpoints.
func TestDiscovery(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	anon := nd.Client("")
	st, err := anon.AssetStatus(ctx)
	if err != nil || st.Name == "" || st.Description == "" || !slices.Equal(st.APIVersions, []string{"v1"}) {
		t.Fatalf("status %+v %v", st, err)
	}
	ddo, err := anon.AssetDDO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"DEP.Meta.v1": "/api/v1/meta", "DEP.Storage.v1": "/api/v1/assets", "DEP.Auth.v1": "/api/v1/auth"}
	var metaURL string
	for _, s := range ddo.Service {
		if p, ok := want[s.Type]; ok {
			if s.ServiceEndpoint != nd.URL()+p {
				t.Errorf("%s at %s", s.Type, s.ServiceEndpoint)
			}
			delete(want, s.Type)
		}
		if s.Type == "DEP.Meta.v1" {
			metaURL = s.ServiceEndpoint
		}
	}
	if len(want) > 0 || !strings.HasPrefix(ddo.ID, "did:dep:") || len(ddo.ID) != len("did:dep:")+64 {
		t.Fatalf("DDO %+v misses %v", ddo, want)
	}
	// The endpoints it lists work: register through the advertised meta URL.
	c := client.New(strings.TrimSuffix(metaURL, "/api/v1/meta"), nd.UserToken)
	register(t, c, `{"name":"via ddo"}`)
}

// TestConcurrentUploads: racing uploads to one asset leave one consistent
// content, and the replaced contents are gone from disk.
func TestConcurrentUploads(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	c := nd.User()
	id := register(t, c, `{"name":"raced"}`)
	contents := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte(i)}, 200<<10+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.UploadAsset(context.Background(), id, bytes.NewReader(contents[i])); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, ac := download(t, c, id, client.AssetRead{})
	if !slices.ContainsFunc(contents, func(b []byte) bool { return bytes.Equal(b, got) }) {
		t.Fatal("the content is none of the uploads")
	}
	// No contentHash declared: the ETag is the content's SHA-256 (no SHA3
	// is computed).
	if ac.ETag != `"`+sha256hex(got)+`"` {
		t.Fatal("ETag does not match the content")
	}
	if objs, tmp := blobFiles(t, nd); objs != 1 || tmp != 0 {
		t.Fatalf("%d objects and %d temporary files; want the one content", objs, tmp)
	}
}

// failingReader sends some bytes and then fails, as a client that dies
// mid-upload.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client died")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

// TestAbortedUpload: a client that goes away mid-upload leaves nothing, and
// the asset keeps its earlier content.
func TestAbortedUpload(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	c := nd.User()
	id := register(t, c, `{"name":"aborted"}`)
	upload(t, c, id, []byte("first"))
	for _, post := range []bool{false, true} {
		var err error
		if post {
			_, err = c.UploadAssetForm(ctx, id, "data.bin", &failingReader{n: 3 << 20})
		} else {
			_, err = c.UploadAsset(ctx, id, &failingReader{n: 3 << 20})
		}
		if err == nil {
			t.Fatal("the request went through")
		}
		// The node notices the broken connection on its own time.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, tmp := blobFiles(t, nd); tmp == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the aborted upload left a temporary file")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got, _ := download(t, c, id, client.AssetRead{}); string(got) != "first" {
		t.Fatalf("content %q after aborted uploads", got)
	}
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("%d objects", objs)
	}
}
