package blob_test

import (
	"bytes"
	"context"
	"crypto/sha3"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/testnet"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// s3Node starts one node keeping its content in a fresh bucket.
func s3Node(t *testing.T) (*testnet.Node, testtool.Bucket) {
	t.Helper()
	b := testtool.S3(t)
	nd := testnet.New(t, 1, func(_ int, s *testnet.Setup) { s.Blobs.Location = b.Blobs }).Nodes[0]
	return nd, b
}

func registerAsset(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	id, err := c.RegisterAsset(context.Background(), []byte(`{"name":"`+name+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A large upload streamed through the node into the bucket holds a bounded
// amount of memory (a part and the staging chunks), not the content; reads
// of ranges come back from the bucket as ranges.
func TestS3LargeUploadBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 256 MiB")
	}
	const size = 256 << 20
	nd, b := s3Node(t)
	c := nd.User()
	id := registerAsset(t, c, "big")
	gen := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), size) }

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	_, err := c.UploadAsset(context.Background(), id, gen())
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("256 MiB through the node into S3 in %v; heap in use grew by at most %d MiB", time.Since(start).Round(time.Millisecond), grew>>20)
	if grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB for a 256 MiB upload", grew>>20)
	}

	want := sha3.New256()
	io.Copy(want, gen())
	got := sha3.New256()
	ac, err := c.DownloadAsset(context.Background(), id, got, client.AssetRead{})
	if err != nil || ac.Size != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read back %d bytes (%v), hash %x", ac.Size, err, got.Sum(nil))
	}
	content, _ := io.ReadAll(io.LimitReader(gen(), 200<<20+10))
	var part bytes.Buffer
	ac, err = c.DownloadAsset(context.Background(), id, &part, client.AssetRead{Range: "bytes=209715200-209715209"})
	if err != nil || ac.Status != http.StatusPartialContent || !bytes.Equal(part.Bytes(), content[200<<20:]) {
		t.Fatalf("range: status %d, %x (%v)", ac.Status, part.Bytes(), err)
	}
	objs := 0
	for o := range b.Client.ListObjects(context.Background(), b.Name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		objs++
	}
	if objs != 1 {
		t.Fatalf("the bucket holds %d objects", objs)
	}
}

// Bad configuration fails at start, saying what to fix.
func TestS3BadConfigurationFailsAtStart(t *testing.T) {
	b := testtool.S3(t)
	open := func(blobs string) error {
		cfg := node.DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.Listen = "127.0.0.1:0"
		cfg.Blobs.Location = blobs
		n, err := node.Open(context.Background(), cfg, node.Deps{Log: slog.New(slog.DiscardHandler)})
		if err == nil {
			n.Close()
		}
		return err
	}
	for _, c := range []struct{ blobs, want string }{
		{"s3://no-such-bucket-here?endpoint=" + b.Endpoint + "&insecure=true", `bucket "no-such-bucket-here" does not exist`},
		{"s3://" + b.Name + "?endpoint=127.0.0.1:1&insecure=true", "cannot reach S3 at 127.0.0.1:1"},
		{"s3://" + b.Name + "?endpoint=" + b.Endpoint + "&insecure=maybe", "insecure="},
		{"s3://" + b.Name + "?endpont=" + b.Endpoint, `unknown parameter "endpont"`},
		{"s3://key:secret@" + b.Name, "AWS_ACCESS_KEY_ID"},
	} {
		if err := open(c.blobs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--blobs %s: %v, want %q", c.blobs, err, c.want)
		}
	}
	secret := os.Getenv("AWS_SECRET_ACCESS_KEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if err := open(b.Blobs); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("wrong secret: %v", err)
	}
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	if err := open(b.Blobs); err == nil || !strings.Contains(err.Error(), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Errorf("no secret: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
}

// A bucket that goes away while the node serves: reads and writes of
// objects kept in it are refused with 503 and Retry-After, nothing is
// acknowledged, and once the bucket is back the node stores again. Small
// objects, kept in the metadata database, are served meanwhile.
func TestS3BucketGoneWhileServing(t *testing.T) {
	nd, b := s3Node(t)
	c := nd.User()
	id := registerAsset(t, c, "kept")
	large := strings.Repeat("before", 100<<10/6) // over the inline maximum: in the bucket
	if _, err := c.UploadAsset(context.Background(), id, strings.NewReader(large)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Client.RemoveBucketWithOptions(ctx, b.Name, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
		t.Fatal(err)
	}
	other := registerAsset(t, c, "refused")
	for _, r := range []struct {
		method, id string
		body       io.Reader
	}{{"GET", id, nil}, {"PUT", other, strings.NewReader(large + "after")}, {"PUT", other, io.LimitReader(rand.NewChaCha8([32]byte{}), 40<<20)}} {
		req, _ := c.NewRequest(ctx, r.method, "/api/v1/assets/"+r.id, r.body)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s with the bucket gone: %d, Retry-After %q: %s", r.method, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// The DDS face's upload too.
	_, err := c.Upload(ctx, "f", strings.NewReader(large+"dds"), client.UploadOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable {
		t.Fatalf("DDS upload with the bucket gone: %v", err)
	}
	small := registerAsset(t, c, "small")
	if _, err := c.UploadAsset(ctx, small, strings.NewReader("inline")); err != nil {
		t.Fatalf("a small object with the bucket gone: %v", err)
	}
	if err := b.Client.MakeBucket(ctx, b.Name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadAsset(ctx, other, strings.NewReader("after")); err != nil {
		t.Fatalf("the bucket is back: %v", err)
	}
	var got bytes.Buffer
	if _, err := c.DownloadAsset(ctx, other, &got, client.AssetRead{}); err != nil || got.String() != "after" {
		t.Fatalf("read %q: %v", got.String(), err)
	}
}
