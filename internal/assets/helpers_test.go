package assets_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/testnet"
)

func sha3hex(b []byte) string {
	s := sha3.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// register registers metadata and checks that the id is its SHA3-256.
func register(t testing.TB, c *client.Client, meta string) string {
	t.Helper()
	id, err := c.RegisterAsset(context.Background(), []byte(meta))
	if err != nil {
		t.Fatal(err)
	}
	if id != sha3hex([]byte(meta)) {
		t.Fatalf("asset id %s is not the SHA3-256 of the metadata", id)
	}
	return id
}

// dataset is metadata for content.
func dataset(name, contentType string, content []byte) string {
	b, _ := json.Marshal(api.AssetMetadata{Name: name, Type: "dataset", ContentType: contentType,
		Size: strconv.Itoa(len(content)), ContentHash: sha3hex(content)})
	return string(b)
}

// upload stores content with a raw PUT and fails the test on an error.
func upload(t testing.TB, c *client.Client, id string, content []byte) {
	t.Helper()
	if _, err := c.UploadAsset(context.Background(), id, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
}

// download returns an asset's content and what came with it.
func download(t testing.TB, c *client.Client, id string, o client.AssetRead) ([]byte, client.AssetContent) {
	t.Helper()
	var buf bytes.Buffer
	ac, err := c.DownloadAsset(context.Background(), id, &buf, o)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ac
}

// wantErr checks that err is the node's answer with status, in the face's
// error format.
func wantErr(t testing.TB, err error, status int) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a %d answer", err, status)
	}
	if e.Status != status {
		t.Fatalf("status %d, want %d: %s", e.Status, status, e.Detail)
	}
	if e.Code == "" || e.Detail == "" {
		t.Fatalf("error body not in the face's format: %s", e.Detail)
	}
	return e
}

// raw sends a request the typed client would not send (malformed input, other
// auth schemes); header is name, value pairs.
func raw(t testing.TB, c *client.Client, method, path string, body io.Reader, header ...string) (*http.Response, error) {
	t.Helper()
	req, err := c.NewRequest(context.Background(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req, http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusNotModified)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
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

// blobFiles counts the objects and the temporaries (staging files,
// unfinished uploads) in a node's blob store, whichever its backend.
func blobFiles(t testing.TB, nd *testnet.Node) (objects, tmp int) {
	t.Helper()
	objects, tmp, err := nd.Blobs.Holdings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return objects, tmp
}
