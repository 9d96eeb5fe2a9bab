package testtool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Bucket is a fresh bucket on the tests' S3 server.
type Bucket struct {
	Blobs    string // the --blobs value that keeps a node's content in it
	Name     string
	Endpoint string // host:port, plain HTTP
	Client   *minio.Client
}

// S3 makes a fresh bucket on the S3 server that DDS_TEST_S3 names
// (http://ACCESS_KEY:SECRET@HOST:PORT, as `eval "$(.ci/minio)"` sets), points
// the AWS credential variables at it, and removes the bucket when the test
// ends. Without DDS_TEST_S3 the test is skipped, loudly.
func S3(t testing.TB) Bucket {
	t.Helper()
	raw := os.Getenv("DDS_TEST_S3")
	if raw == "" {
		Missing(t, "an S3 server (DDS_TEST_S3)", `eval "$(.ci/minio)"`)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Host == "" {
		t.Fatalf("DDS_TEST_S3=%q: want http://ACCESS_KEY:SECRET@HOST:PORT", raw)
	}
	key := u.User.Username()
	secret, _ := u.User.Password()
	// Every bucket is on the one server, with the same credentials: setting
	// them process-wide is safe for parallel tests.
	os.Setenv("AWS_ACCESS_KEY_ID", key)
	os.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	cl, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(key, secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	var r [6]byte
	rand.Read(r[:])
	name := "dds-test-" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("S3 server of DDS_TEST_S3 (%s): make bucket: %v; restart it with: eval \"$(.ci/minio)\"", u.Host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl.RemoveBucketWithOptions(ctx, name, minio.RemoveBucketOptions{ForceDelete: true})
	})
	return Bucket{Blobs: "s3://" + name + "?endpoint=" + u.Host + "&insecure=true", Name: name, Endpoint: u.Host, Client: cl}
}

// Blobs is the --blobs value for a node a test opens: "" (its data
// directory) unless DDS_TEST_BLOBS=s3, then a fresh bucket (see S3).
func Blobs(t testing.TB) string {
	t.Helper()
	if os.Getenv("DDS_TEST_BLOBS") != "s3" {
		return ""
	}
	return S3(t).Blobs
}

// ServeEnv is the environment for a `dds serve` a test starts: this
// process's, with DDS_BLOBS set to a fresh bucket when DDS_TEST_BLOBS=s3 and
// DDS_META to a fresh PostgreSQL schema when DDS_TEST_META=postgres.
func ServeEnv(t testing.TB) []string {
	t.Helper()
	blobs := Blobs(t) // first: it sets the credentials the node inherits
	env := os.Environ()
	if blobs != "" {
		env = append(env, "DDS_BLOBS="+blobs)
	}
	if meta := Meta(t); meta != "" {
		env = append(env, "DDS_META="+meta)
	}
	return env
}
