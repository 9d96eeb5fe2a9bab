package blob

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// S3 is a parsed s3:// location:
//
//	s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=REGION&insecure=true
//
// endpoint defaults to s3.amazonaws.com, region to the server's answer, and
// TLS is used unless insecure=true. Objects go under PREFIX/ if given.
type S3 struct {
	Bucket, Prefix   string
	Endpoint, Region string
	Insecure         bool
}

// ParseS3 parses an s3:// location, saying what is wrong with a bad one.
func ParseS3(raw string) (S3, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return S3{}, fmt.Errorf("blob: %q is not s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=REGION[&insecure=true]", raw)
	}
	if u.User != nil {
		return S3{}, errors.New("blob: put no credentials in --blobs: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
	}
	loc := S3{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: "s3.amazonaws.com"}
	if loc.Prefix != "" {
		loc.Prefix += "/"
	}
	for k, v := range u.Query() {
		switch k {
		case "endpoint":
			loc.Endpoint = v[0]
		case "region":
			loc.Region = v[0]
		case "insecure":
			if loc.Insecure, err = strconv.ParseBool(v[0]); err != nil {
				return S3{}, fmt.Errorf("blob: insecure=%q in --blobs: want true or false", v[0])
			}
		default:
			return S3{}, fmt.Errorf("blob: unknown parameter %q in --blobs (known: endpoint, region, insecure)", k)
		}
	}
	return loc, nil
}

// bucket keeps each object under the key it was uploaded to,
// PREFIX/o/<random>, found through the blobs table.
type bucket struct {
	S3
	cl    *minio.Client
	part  uint64
	parts int // parts buffered and sent at once
	grace time.Duration
	log   *slog.Logger

	mu       sync.Mutex
	inflight map[string]bool // keys this process is uploading: never collected
}

func openS3(ctx context.Context, raw string, cfg Config, log *slog.Logger) (*bucket, error) {
	loc, err := ParseS3(raw)
	if err != nil {
		return nil, err
	}
	creds := credentials.NewEnvAWS()
	if v, _ := creds.Get(); v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return nil, errors.New("blob: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)")
	}
	tr, err := minio.DefaultTransport(!loc.Insecure)
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = 64
	// TrailingHeaders: a streamed PUT ends with the CRC32C of its bytes, and
	// a part carries its own; the server checks them (the payload is not
	// signed, and without them nothing but TCP's checksum would catch bytes
	// damaged on the way over plain HTTP).
	cl, err := minio.New(loc.Endpoint, &minio.Options{Creds: creds, Secure: !loc.Insecure, Region: loc.Region, Transport: tr, TrailingHeaders: true})
	if err != nil {
		return nil, fmt.Errorf("blob: endpoint=%q in --blobs: %w", loc.Endpoint, err)
	}
	b := &bucket{S3: loc, cl: cl, part: uint64(cfg.PartSize), parts: cfg.PartsInFlight, grace: cfg.Grace, log: log, inflight: map[string]bool{}}
	if b.part == 0 {
		b.part = uint64(DefaultConfig().PartSize)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ok, err := cl.BucketExists(ctx, loc.Bucket)
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
			return nil, fmt.Errorf("blob: S3 at %s refused the credentials (%v): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN", loc.Endpoint, err)
		}
		return nil, fmt.Errorf("blob: cannot reach S3 at %s (%v): check endpoint= (and insecure=) in --blobs and that the server is up", loc.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: bucket %q does not exist at %s: create it, or name an existing one in --blobs", loc.Bucket, loc.Endpoint)
	}
	return b, nil
}

func (b *bucket) byHash() bool { return false }

// unavailable is what a failing bucket means to a client: retry later.
func (b *bucket) unavailable(op string, err error) error {
	b.log.Error("blob: S3 request failed", "op", op, "bucket", b.Bucket, "endpoint", b.Endpoint, "err", err)
	return apierr.New(http.StatusServiceUnavailable, "storage_unavailable", "the node's storage is unavailable; retry later")
}

func missing(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

func (b *bucket) track(key string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		b.inflight[key] = true
	} else {
		delete(b.inflight, key)
	}
}

func (b *bucket) tracked(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight[key]
}

// upload stores one temporary object: content read whole in one request,
// larger content streamed into a multipart upload of unknown length, a
// bounded number of parts buffered at a time.
type upload struct {
	b     *bucket
	key   string
	size  int64          // -1: unknown
	pw    *io.PipeWriter // nil until streaming starts
	done  chan error
	whole bool // stored by writeWhole
}

var errAborted = errors.New("blob: upload abandoned")

// maxSinglePut is the largest object S3 takes in one PUT.
const maxSinglePut = 5 << 30

func (b *bucket) create(size int64) (sink, error) {
	var r [16]byte
	rand.Read(r[:])
	key := b.Prefix + "o/" + hex.EncodeToString(r[:])
	b.track(key, true)
	return &upload{b: b, key: key, size: size}, nil
}

// The payload is not signed (it would be hashed once more for that): each
// request carries a CRC32C that the server checks (see openS3).
func (b *bucket) putOptions() minio.PutObjectOptions {
	// Named, not left to the client's default: minio-go v7.4.1 then drops
	// the trailing checksum of a single PUT.
	return minio.PutObjectOptions{DisableContentSha256: true, Checksum: minio.ChecksumCRC32C, ContentType: "application/octet-stream"}
}

// writeWhole stores content that fanOut read whole, in one request.
func (u *upload) writeWhole(p []byte) error {
	_, err := u.b.cl.PutObject(context.Background(), u.b.Bucket, u.key, bytes.NewReader(p), int64(len(p)), u.b.putOptions())
	if err != nil {
		return u.b.unavailable("upload", err)
	}
	u.whole = true
	return nil
}

func (u *upload) stream() {
	pr, pw := io.Pipe()
	u.pw, u.done = pw, make(chan error, 1)
	opts := u.b.putOptions()
	size := u.size
	switch {
	case size >= 0 && size <= maxSinglePut:
		opts.DisableMultipart = true // one PUT, streamed: nothing buffered
	default:
		size = -1
		opts.PartSize = u.b.part
		if u.b.parts > 1 { // read the next part while the last one is sent
			opts.ConcurrentStreamParts, opts.NumThreads = true, uint(u.b.parts)
		}
	}
	go func() {
		_, err := u.b.cl.PutObject(context.Background(), u.b.Bucket, u.key, pr, size, opts)
		pr.CloseWithError(cmpErr(err, io.ErrClosedPipe))
		u.done <- err
	}()
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Write fails once the upload has failed, with the upload's error.
func (u *upload) Write(p []byte) (int, error) {
	if u.pw == nil {
		u.stream()
	}
	n, err := u.pw.Write(p)
	if err != nil {
		err = u.b.unavailable("upload", err)
	}
	return n, err
}

func (u *upload) finish() (string, error) {
	if u.pw == nil {
		if !u.whole {
			if err := u.writeWhole(nil); err != nil { // empty content
				u.b.track(u.key, false)
				return "", err
			}
		}
		return u.key, nil
	}
	u.pw.Close()
	if err := <-u.done; err != nil {
		u.b.track(u.key, false)
		return "", u.b.unavailable("upload", err)
	}
	return u.key, nil
}

func (u *upload) abort() {
	switch {
	case u.pw != nil:
		u.pw.CloseWithError(errAborted) // the client aborts the multipart upload
		if err := <-u.done; err == nil || u.size >= 0 {
			// A single PUT may have completed before the rest failed, even
			// if the client says otherwise (it drains the body to check its
			// length after sending it).
			u.b.drop(u.key)
		}
	case u.whole:
		u.b.drop(u.key)
	}
	u.b.track(u.key, false)
}

func (b *bucket) drop(key string) {
	if err := b.cl.RemoveObject(context.Background(), b.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		b.log.Warn("blob: cannot remove a staged upload; the next collection will", "key", key, "err", err)
	}
	b.track(key, false)
}

// keep leaves the upload where it is: the row that refers to it names it.
func (b *bucket) keep(_ context.Context, st *Staged) (string, error) {
	key := st.tmp
	st.tmp = ""
	b.track(key, false)
	return key, nil
}

func (b *bucket) open(h, key string) (Object, error) {
	if key == "" {
		return nil, fs.ErrNotExist
	}
	obj, err := b.cl.GetObject(context.Background(), b.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, b.unavailable("get", err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		if missing(err) {
			return nil, fmt.Errorf("%w: %s", fs.ErrNotExist, key)
		}
		return nil, b.unavailable("get", err)
	}
	return &object{Object: obj, info: objectInfo{name: h, size: info.Size, mod: info.LastModified}}, nil
}

func (b *bucket) size(_ string, key string) (int64, error) {
	if key == "" {
		return -1, fs.ErrNotExist
	}
	info, err := b.cl.StatObject(context.Background(), b.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if missing(err) {
			return -1, fs.ErrNotExist
		}
		return -1, b.unavailable("stat", err)
	}
	return info.Size, nil
}

func (b *bucket) remove(_ string, key string) error {
	if key == "" {
		return nil
	}
	if err := b.cl.RemoveObject(context.Background(), b.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return b.unavailable("remove", err)
	}
	return nil
}

// leftovers removes objects no row names and unfinished uploads, once older
// than the grace period and not this process's own uploads in flight.
func (b *bucket) leftovers(ctx context.Context, s *Store) (removed int, err error) {
	cutoff := time.Now().Add(-b.grace)
	for o := range b.cl.ListObjects(ctx, b.Bucket, minio.ListObjectsOptions{Prefix: b.Prefix + "o/", Recursive: true}) {
		if o.Err != nil {
			return removed, b.unavailable("list", o.Err)
		}
		if o.LastModified.After(cutoff) || b.tracked(o.Key) {
			continue
		}
		ref, err := s.referenced(ctx, o.Key)
		if err != nil {
			return removed, err
		}
		if !ref {
			if err := b.remove("", o.Key); err != nil {
				return removed, err
			}
			removed++
		}
	}
	// Every upload is listed: MinIO lists none under a prefix that is not a
	// whole object name.
	for u := range b.cl.ListIncompleteUploads(ctx, b.Bucket, "", true) {
		if u.Err != nil {
			return removed, b.unavailable("list uploads", u.Err)
		}
		if !strings.HasPrefix(u.Key, b.Prefix+"o/") || u.Initiated.After(cutoff) || b.tracked(u.Key) {
			continue
		}
		if err := b.cl.RemoveIncompleteUpload(ctx, b.Bucket, u.Key); err != nil {
			return removed, b.unavailable("abort upload", err)
		}
		removed++
	}
	return removed, nil
}

func (b *bucket) holdings(ctx context.Context) (objects, temporaries int, err error) {
	for o := range b.cl.ListObjects(ctx, b.Bucket, minio.ListObjectsOptions{Prefix: b.Prefix + "o/", Recursive: true}) {
		if o.Err != nil {
			return objects, temporaries, b.unavailable("list", o.Err)
		}
		objects++
	}
	for u := range b.cl.ListIncompleteUploads(ctx, b.Bucket, "", true) {
		if u.Err != nil {
			return objects, temporaries, b.unavailable("list uploads", u.Err)
		}
		if strings.HasPrefix(u.Key, b.Prefix+"o/") {
			temporaries++
		}
	}
	return objects, temporaries, nil
}

// object is an open S3 object: reads past a seek are ranged GETs. Reads are
// buffered: each read of the client's object is a round trip to its
// goroutine, and http.ServeContent reads 32 KiB at a time.
type object struct {
	*minio.Object
	info objectInfo
	buf  *bufio.Reader // nil until the first Read
}

func (o *object) Stat() (fs.FileInfo, error) { return o.info, nil }

func (o *object) Read(p []byte) (int, error) {
	if o.buf == nil {
		o.buf = bufio.NewReaderSize(o.Object, int(min(max(o.info.size, 16), 512<<10)))
	}
	return o.buf.Read(p)
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	if o.buf != nil {
		if whence == io.SeekCurrent {
			offset -= int64(o.buf.Buffered()) // the object is ahead of the reader
		}
		defer o.buf.Reset(o.Object)
	}
	return o.Object.Seek(offset, whence)
}

type objectInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i objectInfo) Name() string       { return i.name }
func (i objectInfo) Size() int64        { return i.size }
func (i objectInfo) Mode() fs.FileMode  { return 0o444 }
func (i objectInfo) ModTime() time.Time { return i.mod }
func (i objectInfo) IsDir() bool        { return false }
func (i objectInfo) Sys() any           { return nil }

// Sub is the location of a part of location, for one of several nodes
// sharing it: a subdirectory, or a prefix within the bucket's. Nodes must not
// share one place: each removes what its own metadata does not name.
func Sub(location, name string) string {
	if !strings.HasPrefix(location, "s3://") {
		return filepath.Join(location, name)
	}
	u, err := url.Parse(location)
	if err != nil {
		return location // New says what is wrong with it
	}
	u.Path = path.Join("/", u.Path, name)
	return u.String()
}
