package assets_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// TestStarfishPyFlow walks what starfish-py's RemoteAgent does: token by
// Basic auth (GET, POST when none), metadata registered as text/plain,
// content uploaded as multipart "file", downloaded and compared.
func TestStarfishPyFlow(t *testing.T) {
	net := testnet.New(t, 1)
	nd := net.Nodes[0]
	passwordUser(t, nd, "alice", "correct horse battery")
	basic := basicAPI(t, nd, "alice", "correct horse battery")

	var toks []string
	json.Unmarshal(basic.do("GET", "/api/v1/auth/token", nil).want(t, 200).body, &toks)
	if len(toks) != 1 || !strings.HasPrefix(toks[0], "dds_") {
		t.Fatalf("tokens %q: a principal with none gets one", toks)
	}
	var again []string
	json.Unmarshal(basic.do("GET", "/api/v1/auth/token", nil).want(t, 200).body, &again)
	if !slices.Equal(toks, again) {
		t.Fatalf("listing is not stable: %q then %q", toks, again)
	}
	tok := basic.do("POST", "/api/v1/auth/token", nil).want(t, 200).jsonString(t)
	json.Unmarshal(basic.do("GET", "/api/v1/auth/token", nil).want(t, 200).body, &again)
	if len(again) != 2 || again[1] != tok {
		t.Fatalf("after POST, tokens %q; want the new one last", again)
	}

	alice := tokenAPI(t, nd, tok)
	content := []byte("station,rainfall_mm\nheathrow,601\nkew,612\n")
	meta := dataset("UK rainfall 2018", "text/csv", content)
	id := alice.register(meta)
	if got := alice.do("GET", "/api/v1/meta/data/"+id, nil).want(t, 200); string(got.body) != meta {
		t.Fatalf("metadata changed: %s", got.body)
	}
	alice.do("GET", "/api/v1/meta/data/"+id, nil, "If-None-Match", `"`+id+`"`).want(t, 304)

	body, ct := form(content)
	up := alice.do("POST", "/api/v1/assets/"+id, body, "Content-Type", ct).want(t, 201)
	if up.Header.Get("Location") != "/api/v1/assets/"+id {
		t.Fatalf("Location %q", up.Header.Get("Location"))
	}

	// Any authenticated principal may read, as on the reference agent.
	bob := tokenAPI(t, nd, nd.NewUser(t))
	got := bob.do("GET", "/api/v1/assets/"+id, nil).want(t, 200)
	if !bytes.Equal(got.body, content) {
		t.Fatalf("downloaded %q", got.body)
	}
	if got.Header.Get("Content-Type") != "text/csv" || got.Header.Get("ETag") != `"`+sha3hex(content)+`"` {
		t.Fatalf("headers %v", got.Header)
	}
	if _, p, err := mime.ParseMediaType(got.Header.Get("Content-Disposition")); err != nil || p["filename"] != "UK rainfall 2018.csv" {
		t.Fatalf("Content-Disposition %q: %v %v", got.Header.Get("Content-Disposition"), p, err)
	}
	part := bob.do("GET", "/api/v1/assets/"+id, nil, "Range", "bytes=20-25").want(t, 206)
	if string(part.body) != string(content[20:26]) {
		t.Fatalf("range: %q", part.body)
	}
	bob.do("GET", "/api/v1/assets/"+id, nil, "If-None-Match", `"`+sha3hex(content)+`"`).want(t, 304)

	var ids []string
	json.Unmarshal(bob.do("GET", "/api/v1/meta/data", nil).want(t, 200).body, &ids)
	if !slices.Equal(ids, []string{id}) {
		t.Fatalf("list %q", ids)
	}
	var index map[string]map[string]any
	if err := json.Unmarshal(bob.do("GET", "/api/v1/meta/index", nil).want(t, 200).body, &index); err != nil || index[id]["name"] != "UK rainfall 2018" {
		t.Fatalf("index %v %v", index, err)
	}

	metrics := anonAPI(t, nd).do("GET", "/metrics", nil).want(t, 200)
	for _, line := range []string{`dds_assets{state="registered"} 1`, `dds_assets{state="with_content"} 1`} {
		if !strings.Contains(string(metrics.body), line) {
			t.Errorf("metrics lack %s", line)
		}
	}

	// Acknowledged means kept: a restart changes nothing.
	nd.Restart(t)
	if got := bob.do("GET", "/api/v1/assets/"+id, nil).want(t, 200); !bytes.Equal(got.body, content) {
		t.Fatal("content lost across a restart")
	}
}

// TestPutFlow is the PUT variant: metadata under a client-computed id and
// raw content.
func TestPutFlow(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	c := tokenAPI(t, nd, nd.UserToken)
	content := make([]byte, 1<<20+3)
	rand.Read(content)
	meta := dataset("blob", "application/octet-stream", content)
	id := sha3hex([]byte(meta))

	r := c.do("PUT", "/api/v1/meta/data/"+id, strings.NewReader(meta), "Content-Type", "application/json").want(t, 201)
	if r.jsonString(t) != id {
		t.Fatal("PUT answers the id")
	}
	c.do("PUT", "/api/v1/meta/data/"+id, strings.NewReader(meta)).want(t, 200) // already there
	c.do("PUT", "/api/v1/meta/data/"+sha3hex([]byte("other")), strings.NewReader(meta)).want(t, 400)
	c.do("PUT", "/api/v1/meta/data/not-an-id", strings.NewReader(meta)).want(t, 400)

	c.do("PUT", "/api/v1/assets/"+id, bytes.NewReader(content)).want(t, 201)
	if got := c.do("GET", "/api/v1/assets/"+id, nil).want(t, 200); !bytes.Equal(got.body, content) {
		t.Fatal("content differs")
	}
	// Upper case and a 0x prefix name the same asset.
	c.do("GET", "/api/v1/assets/0x"+strings.ToUpper(id), nil).want(t, 200)
}

// TestAuthMethods: every way DEP clients authenticate works on a data
// endpoint, and revoked tokens stop working.
func TestAuthMethods(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	passwordUser(t, nd, "carol", "a long enough password")
	tok := basicAPI(t, nd, "carol", "a long enough password").do("POST", "/api/v1/auth/token", nil).want(t, 200).jsonString(t)
	path := "/api/v1/meta/data"
	for name, c := range map[string]*api{
		"token":        tokenAPI(t, nd, tok),
		"bearer":       {t: t, base: nd.URL(), auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }},
		"basic":        basicAPI(t, nd, "carol", "a long enough password"),
		"access_token": {t: t, base: nd.URL() + "", auth: func(r *http.Request) { r.URL.RawQuery = "access_token=" + tok }},
	} {
		t.Run(name, func(t *testing.T) { c.t = t; c.do("GET", path, nil).want(t, 200) })
	}
	r := anonAPI(t, nd).do("GET", path, nil).want(t, 401)
	if !slices.Contains(r.Header.Values("WWW-Authenticate"), `Basic realm="dds", charset="UTF-8"`) {
		t.Fatalf("401 without a Basic challenge: %v", r.Header)
	}
	basicAPI(t, nd, "carol", "wrong password!").do("GET", path, nil).want(t, 401)
	basicAPI(t, nd, "nobody", "a long enough password").do("GET", path, nil).want(t, 401)
	tokenAPI(t, nd, "dds_forged").do("GET", path, nil).want(t, 401)

	// Revoke: only one's own (others get 404), then it is gone.
	tokenAPI(t, nd, nd.UserToken).do("DELETE", "/api/v1/auth/revoke/"+tok, nil).want(t, 404)
	c := tokenAPI(t, nd, tok)
	if string(c.do("DELETE", "/api/v1/auth/revoke/"+tok, nil).want(t, 200).body) != "true\n" {
		t.Fatal("revoke answers true")
	}
	c.do("GET", path, nil).want(t, 401)
	basicAPI(t, nd, "carol", "a long enough password").do("DELETE", "/api/v1/auth/revoke/"+tok, nil).want(t, 404)
}

// TestErrors gives every error status of the face a real cause.
func TestErrors(t *testing.T) {
	const quota = 1 << 20
	nd := testnet.New(t, 1, func(_ int, c *node.Config) { c.AssetQuota = quota; c.MaxFileSize = 2 << 20 }).Nodes[0]
	owner := tokenAPI(t, nd, nd.UserToken)
	other := tokenAPI(t, nd, nd.NewUser(t))
	content := []byte("the real content")
	id := owner.register(dataset("x", "text/plain", content))
	unknown := sha3hex([]byte("never registered"))

	t.Run("401", func(t *testing.T) {
		anonAPI(t, nd).do("PUT", "/api/v1/assets/"+id, bytes.NewReader(content)).want(t, 401)
		anonAPI(t, nd).do("GET", "/api/v1/assets/"+id, nil).want(t, 401)
		anonAPI(t, nd).do("POST", "/api/v1/meta/data", strings.NewReader(`{}`)).want(t, 401)
	})
	t.Run("403 not the owner", func(t *testing.T) {
		other.do("PUT", "/api/v1/assets/"+id, bytes.NewReader(content)).want(t, 403)
		other.do("DELETE", "/api/v1/meta/data/"+id, nil).want(t, 403)
		// The payment role is a principal too, but not the owner.
		tokenAPI(t, nd, nd.PaymentToken).do("PUT", "/api/v1/assets/"+id, bytes.NewReader(content)).want(t, 403)
	})
	t.Run("404", func(t *testing.T) {
		owner.do("PUT", "/api/v1/assets/"+unknown, bytes.NewReader(content)).want(t, 404)
		owner.do("GET", "/api/v1/assets/"+unknown, nil).want(t, 404)
		owner.do("GET", "/api/v1/assets/"+id, nil).want(t, 404) // registered, no content yet
		owner.do("GET", "/api/v1/assets/garbage", nil).want(t, 404)
		owner.do("GET", "/api/v1/meta/data/"+unknown, nil).want(t, 404)
		owner.do("GET", "/api/v1/meta/nothing-here", nil).want(t, 404)
	})
	t.Run("405", func(t *testing.T) {
		r := owner.do("PATCH", "/api/v1/assets/"+id, nil).want(t, 405)
		if r.Header.Get("Allow") != "GET, PUT, POST, DELETE" {
			t.Fatalf("Allow %q", r.Header.Get("Allow"))
		}
		owner.do("PUT", "/api/v1/auth/token", nil).want(t, 405)
	})
	t.Run("400 content hash mismatch leaves nothing", func(t *testing.T) {
		objs, _ := blobFiles(t, nd)
		owner.do("PUT", "/api/v1/assets/"+id, strings.NewReader("not the content")).want(t, 400)
		body, ct := form([]byte("not the content either"))
		owner.do("POST", "/api/v1/assets/"+id, body, "Content-Type", ct).want(t, 400)
		if o, tmp := blobFiles(t, nd); o != objs || tmp != 0 {
			t.Fatalf("a refused upload left %d objects (had %d) and %d temporary files", o, objs, tmp)
		}
		owner.do("GET", "/api/v1/assets/"+id, nil).want(t, 404)
	})
	t.Run("400 malformed metadata", func(t *testing.T) {
		for _, doc := range []string{``, `   `, `[]`, `"text"`, `null`, `{"name":1}`, `{"name":null}`, `{"type":"movie"}`,
			`{"size":"-1"}`, `{"size":"12kB"}`, `{"size":true}`, `{"contentHash":"abc"}`, `{"contentType":"not a type"}`,
			`{"links":{}}`, `{"a":1,"a":2}`, `{"a":1} {}`, `{"a":`, "\xff\xfe{}", `{"operation":[]}`} {
			r := owner.do("POST", "/api/v1/meta/data", strings.NewReader(doc)).want(t, 400)
			if !strings.Contains(string(r.body), "metadata") {
				t.Errorf("%q: reason %s", doc, r.body)
			}
		}
		owner.do("POST", "/api/v1/meta/data", strings.NewReader(`{"x":"`+strings.Repeat("a", 1<<20)+`"}`)).want(t, 413)
	})
	t.Run("400 and 415 malformed uploads", func(t *testing.T) {
		owner.do("POST", "/api/v1/assets/"+id, bytes.NewReader(content), "Content-Type", "application/octet-stream").want(t, 415)
		noFile := "--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n"
		owner.do("POST", "/api/v1/assets/"+id, strings.NewReader(noFile), "Content-Type", "multipart/form-data; boundary=b").want(t, 400)
		truncated := "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + string(content)
		owner.do("POST", "/api/v1/assets/"+id, strings.NewReader(truncated), "Content-Type", "multipart/form-data; boundary=b").want(t, 400)
		if _, tmp := blobFiles(t, nd); tmp != 0 {
			t.Fatalf("%d temporary files left", tmp)
		}
	})
	t.Run("507 over the quota, 413 over the size limit", func(t *testing.T) {
		big := make([]byte, quota+1)
		bigID := owner.register(`{"name":"big"}`)
		owner.do("PUT", "/api/v1/assets/"+bigID, bytes.NewReader(big)).want(t, 507)
		// Without a Content-Length the node finds out while streaming.
		owner.do("PUT", "/api/v1/assets/"+bigID, io.MultiReader(bytes.NewReader(big))).want(t, 507)
		body, ct := form(big)
		owner.do("POST", "/api/v1/assets/"+bigID, body, "Content-Type", ct).want(t, 507)
		owner.do("PUT", "/api/v1/assets/"+bigID, bytes.NewReader(make([]byte, 2<<20+1))).want(t, 413)
		if _, tmp := blobFiles(t, nd); tmp != 0 {
			t.Fatalf("%d temporary files left", tmp)
		}
		// What fits, fits; what would pass the quota together does not.
		owner.do("PUT", "/api/v1/assets/"+bigID, bytes.NewReader(big[:quota/2])).want(t, 201)
		id2 := owner.register(`{"name":"second"}`)
		owner.do("PUT", "/api/v1/assets/"+id2, bytes.NewReader(make([]byte, quota/2+1))).want(t, 507)
		// Identical content takes no more room.
		owner.do("PUT", "/api/v1/assets/"+id2, bytes.NewReader(big[:quota/2])).want(t, 201)
	})
}

// TestIdenticalContentStoredOnce: two assets (and a DDS file) with the same
// bytes share one object; deleting one leaves the others intact.
func TestIdenticalContentStoredOnce(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	c := tokenAPI(t, nd, nd.UserToken)
	content := make([]byte, 300<<10)
	rand.Read(content)
	a := c.register(dataset("first", "application/octet-stream", content))
	b := c.register(dataset("second", "application/octet-stream", content))
	c.do("PUT", "/api/v1/assets/"+a, bytes.NewReader(content)).want(t, 201)
	body, ct := form(content)
	c.do("POST", "/api/v1/assets/"+b, body, "Content-Type", ct).want(t, 201)
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("%d objects for identical content", objs)
	}
	// The DDS face's upload of the same bytes shares the object too.
	if _, err := nd.User().Upload(t.Context(), "same.bin", bytes.NewReader(content), client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("%d objects after the DDS upload", objs)
	}

	c.do("DELETE", "/api/v1/meta/data/"+a, nil).want(t, 204)
	c.do("GET", "/api/v1/meta/data/"+a, nil).want(t, 404)
	c.do("GET", "/api/v1/assets/"+a, nil).want(t, 404)
	if got := c.do("GET", "/api/v1/assets/"+b, nil).want(t, 200); !bytes.Equal(got.body, content) {
		t.Fatal("deleting one asset broke the other")
	}
	c.do("DELETE", "/api/v1/assets/"+b, nil).want(t, 204) // content only
	c.do("GET", "/api/v1/assets/"+b, nil).want(t, 404)
	c.do("GET", "/api/v1/meta/data/"+b, nil).want(t, 200)
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("the DDS file's bytes went with the assets: %d objects", objs)
	}
	// Re-upload after deleting the content works.
	c.do("PUT", "/api/v1/assets/"+b, bytes.NewReader(content)).want(t, 201)
}

// TestDiscovery: status and DDO are public and list the endpoints.
func TestDiscovery(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	anon := anonAPI(t, nd)
	var st map[string]any
	json.Unmarshal(anon.do("GET", "/api/status", nil).want(t, 200).body, &st)
	if st["name"] == "" || st["description"] == "" || fmt.Sprint(st["api-versions"]) != "[v1]" {
		t.Fatalf("status %v", st)
	}
	var ddo struct {
		ID      string
		Service []struct{ Type, ServiceEndpoint string }
	}
	json.Unmarshal(anon.do("GET", "/api/ddo", nil).want(t, 200).body, &ddo)
	want := map[string]string{"DEP.Meta.v1": "/api/v1/meta", "DEP.Storage.v1": "/api/v1/assets", "DEP.Auth.v1": "/api/v1/auth"}
	for _, s := range ddo.Service {
		if p, ok := want[s.Type]; ok {
			if s.ServiceEndpoint != nd.URL()+p {
				t.Errorf("%s at %s", s.Type, s.ServiceEndpoint)
			}
			delete(want, s.Type)
		}
	}
	if len(want) > 0 || !strings.HasPrefix(ddo.ID, "did:dep:") || len(ddo.ID) != len("did:dep:")+64 {
		t.Fatalf("DDO %+v misses %v", ddo, want)
	}
	// The endpoints it lists work: register through the advertised meta URL.
	c := tokenAPI(t, nd, nd.UserToken)
	c.base = ""
	c.do("POST", nd.URL()+"/api/v1/meta/data", strings.NewReader(`{"name":"via ddo"}`)).want(t, 200)
}

// TestConcurrentUploads: racing uploads to one asset leave one consistent
// content, and the replaced contents are gone from disk.
func TestConcurrentUploads(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	c := tokenAPI(t, nd, nd.UserToken)
	id := c.register(`{"name":"raced"}`)
	contents := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte(i)}, 200<<10+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.do("PUT", "/api/v1/assets/"+id, bytes.NewReader(contents[i])).want(t, 201)
		}()
	}
	wg.Wait()
	got := c.do("GET", "/api/v1/assets/"+id, nil).want(t, 200)
	if !slices.ContainsFunc(contents, func(b []byte) bool { return bytes.Equal(b, got.body) }) {
		t.Fatal("the content is none of the uploads")
	}
	if got.Header.Get("ETag") != `"`+sha3hex(got.body)+`"` {
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
	nd := testnet.New(t, 1).Nodes[0]
	c := tokenAPI(t, nd, nd.UserToken)
	id := c.register(`{"name":"aborted"}`)
	c.do("PUT", "/api/v1/assets/"+id, strings.NewReader("first")).want(t, 201)
	for _, post := range []bool{false, true} {
		body := io.Reader(&failingReader{n: 3 << 20})
		ct := "application/octet-stream"
		method := "PUT"
		if post {
			method, ct = "POST", "multipart/form-data; boundary=b"
			body = io.MultiReader(strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"), body)
		}
		req, _ := http.NewRequest(method, nd.URL()+"/api/v1/assets/"+id, body)
		req.Header.Set("Authorization", "token "+nd.UserToken)
		req.Header.Set("Content-Type", ct)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the request went through: %d", resp.StatusCode)
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
	if got := c.do("GET", "/api/v1/assets/"+id, nil).want(t, 200); string(got.body) != "first" {
		t.Fatalf("content %q after aborted uploads", got.body)
	}
	if objs, _ := blobFiles(t, nd); objs != 1 {
		t.Fatalf("%d objects", objs)
	}
}
