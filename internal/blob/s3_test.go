package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus-dds/dds/internal/testtool"
)

// A bucket's object is streamed through a buffer: seeks in the middle of the
// stream, closing it half read and reading it whole behave as on a file.
func TestS3Read(t *testing.T) {
	bkt := testtool.S3(t)
	s := open(t, Config{Location: bkt.Blobs, Grace: DefaultConfig().Grace}, openDB(t, t.TempDir()))
	content := make([]byte, 3*chunkSize+7)
	for i := range content {
		content[i] = byte(i * 7 / 3)
	}
	st, err := s.Stage(bytes.NewReader(content), -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background(), st, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(st.Hash)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, chunkSize+chunkSize/2)
	check := func(at int64, n int) {
		t.Helper()
		if _, err := io.ReadFull(f, buf[:n]); err != nil || !bytes.Equal(buf[:n], content[at:at+int64(n)]) {
			t.Fatalf("%d bytes at %d: %v, or other bytes", n, at, err)
		}
	}
	check(0, len(buf))
	if at, err := f.Seek(-100, io.SeekCurrent); err != nil || at != int64(len(buf))-100 {
		t.Fatalf("seek back: %d %v", at, err)
	}
	check(int64(len(buf))-100, 300)
	if at, err := f.Seek(-5, io.SeekEnd); err != nil || at != int64(len(content))-5 {
		t.Fatalf("seek to the end: %d %v", at, err)
	}
	if n, err := f.Read(buf); n != 5 || !bytes.Equal(buf[:5], content[len(content)-5:]) {
		t.Fatalf("last bytes: %d %v", n, err)
	}
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("at the end: %d %v", n, err)
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("seek before the start succeeded")
	}
	if _, err := f.Seek(chunkSize/2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	check(chunkSize/2, 10)
	if err := f.Close(); err != nil { // half read, its stream going on
		t.Fatal(err)
	}

	// Whole, as Verify reads it.
	if err := s.Verify(st.Hash); err != nil {
		t.Fatal(err)
	}
	f, err = s.Open(st.Hash)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if n, err := io.Copy(h, f); err != nil || n != int64(len(content)) || hex.EncodeToString(h.Sum(nil)) != st.Hash {
		t.Fatalf("copied %d: %v", n, err)
	}
	f.Close()
}

// Every upload carries a checksum that the server checks before storing it:
// the payload is not signed, and over plain HTTP nothing else would catch
// bytes damaged on the way.
func TestS3UploadsCarryChecksum(t *testing.T) {
	bkt := testtool.S3(t)
	cfg := DefaultConfig()
	cfg.Location, cfg.PartSize, cfg.PartsInFlight = bkt.Blobs, 5<<20, 2 // S3's smallest parts
	cfg.InlineMax = 0                                                   // every object in the bucket
	s := open(t, cfg, openDB(t, t.TempDir()))
	content := bytes.Repeat([]byte("checksum"), 11<<20/8+1) // three parts
	for name, r := range map[string]io.Reader{
		"small":           bytes.NewReader(content[:1000]),
		"one PUT":         Sized(bytes.NewReader(content), int64(len(content))),
		"multipart":       struct{ io.Reader }{bytes.NewReader(content)},
		"small multipart": struct{ io.Reader }{bytes.NewReader(content[:chunkSize+1])},
	} {
		st, err := s.Stage(r, -1)
		if err != nil {
			t.Fatal(name, err)
		}
		info, err := bkt.Client.StatObject(context.Background(), bkt.Name, st.tmp, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(name, err)
		}
		if info.ChecksumCRC32C == "" {
			t.Errorf("%s: stored without a CRC32C", name)
		}
		if err := s.Commit(context.Background(), st, func(context.Context) error { return nil }); err != nil {
			t.Fatal(name, err)
		}
		if err := s.Verify(st.Hash); err != nil {
			t.Error(name, err)
		}
	}
}
