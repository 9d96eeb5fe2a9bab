package assets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"mime/multipart"
	"slices"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// TestCreateInOneRequest: POST /api/v1/assets registers and stores in one
// request, and in one transaction: a failed upload registers nothing.
func TestCreateInOneRequest(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	c := nd.User()
	content := make([]byte, 4<<10)
	rand.Read(content)
	meta := dataset("small", "text/plain", content)

	id, err := c.CreateAsset(ctx, []byte(meta), bytes.NewReader(content))
	if err != nil || id != sha3hex([]byte(meta)) {
		t.Fatalf("id %q, %v; want the SHA3-256 of the metadata", id, err)
	}
	got, ac := download(t, c, id, client.AssetRead{})
	if !bytes.Equal(got, content) || ac.ContentType != "text/plain" || ac.ETag != `"`+sha3hex(content)+`"` {
		t.Fatalf("content differs or headers %+v", ac)
	}
	if doc, err := c.AssetMetadata(ctx, id); err != nil || string(doc) != meta {
		t.Fatalf("metadata %q, %v", doc, err)
	}
	// Again, streamed (no Content-Length): the owner replaces the content.
	if id2, err := c.CreateAsset(ctx, []byte(meta), io.MultiReader(bytes.NewReader(content))); err != nil || id2 != id {
		t.Fatalf("again: %q, %v", id2, err)
	}

	// A content hash that does not match registers nothing.
	other := []byte("not the content")
	bad := dataset("bad", "text/plain", content)
	_, err = c.CreateAsset(ctx, []byte(bad), bytes.NewReader(other))
	wantErr(t, err, 400)
	_, err = c.AssetMetadata(ctx, sha3hex([]byte(bad)))
	wantErr(t, err, 404)
	if objs, tmp := blobFiles(t, nd); objs != 1 || tmp != 0 {
		t.Fatalf("%d objects, %d temporary files; want 1 and 0", objs, tmp)
	}

	// Bad metadata is a 400 before anything is stored.
	_, err = c.CreateAsset(ctx, []byte(`[1,2]`), bytes.NewReader(other))
	wantErr(t, err, 400)

	// Another principal's asset: 404 unless it may read it, then 403, with
	// the content the metadata names or another, of a known length (a small
	// body is checked in the transaction, a mismatch before it is refused
	// as such) or not (checked before the content is read).
	eve := nd.Client(nd.NewUser(t))
	bodies := []func() io.Reader{
		func() io.Reader { return bytes.NewReader(other) },
		func() io.Reader { return bytes.NewReader(content) },
		func() io.Reader { return io.MultiReader(bytes.NewReader(content)) },
	}
	for _, body := range bodies {
		_, err = eve.CreateAsset(ctx, []byte(meta), body())
		wantErr(t, err, 404)
	}
	if _, err := c.SetAssetAccess(ctx, id, api.AssetAccess{Access: "public"}); err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		_, err = eve.CreateAsset(ctx, []byte(meta), body())
		wantErr(t, err, 403)
	}
	if got, _ := download(t, c, id, client.AssetRead{}); !bytes.Equal(got, content) {
		t.Fatal("another principal changed the content")
	}

	// The form must have the metadata, before the file.
	for name, fields := range map[string][]string{
		"no metadata":          {"file"},
		"file before metadata": {"file", "metadata"},
		"no file":              {"metadata"},
	} {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, f := range fields {
			mw.WriteField(f, meta)
		}
		mw.Close()
		_, err := raw(t, c, "POST", "/api/v1/assets", &body, "Content-Type", mw.FormDataContentType())
		if e := wantErr(t, err, 400); e == nil {
			t.Fatal(name)
		}
	}
	_, err = raw(t, c, "POST", "/api/v1/assets", bytes.NewReader(content), "Content-Type", "application/octet-stream")
	wantErr(t, err, 415)
	_, err = nd.Client("").CreateAsset(ctx, []byte(meta), bytes.NewReader(content))
	wantErr(t, err, 401)
}

// An asset registered with its content takes its place in registration
// order, like one registered by its metadata alone.
func TestCreatedAssetsListInOrder(t *testing.T) {
	ctx := context.Background()
	c := testnet.New(t, 1).Nodes[0].User()
	first := register(t, c, `{"name":"first"}`)
	second, err := c.CreateAsset(ctx, []byte(`{"name":"second"}`), bytes.NewReader([]byte("content")))
	if err != nil {
		t.Fatal(err)
	}
	third := register(t, c, `{"name":"third"}`)
	ids, err := c.AssetIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{first, second, third}; !slices.Equal(ids, want) {
		t.Fatalf("listed %v, want %v", ids, want)
	}
}
