//go:build linux

package assets_test

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/prometheus-dds/dds/internal/testtool"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// TestDiskFull507 fills a real (small tmpfs) disk: the upload that does not
// fit gets 507 and leaves nothing, and the node keeps working. It needs the
// right to mount, so it runs as root only.
func TestDiskFull507(t *testing.T) {
	if os.Geteuid() != 0 {
		testtool.Missing(t, "root (to mount a small tmpfs)", "go test -run TestDiskFull507 ./internal/assets as root (CI runs as root)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Skip("cannot mount a tmpfs here:", err)
	}
	// Registered before the node's cleanup, so it runs after the node closed.
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })

	nd := testnet.New(t, 1, func(_ int, c *testnet.Setup) {
		c.DataDir = dir
		c.Blobs.Location = "" // the full disk is the local one
	}).Nodes[0]
	c := nd.User()
	id := register(t, c, `{"name":"too big for the disk"}`)
	_, err := c.UploadAsset(context.Background(), id, bytes.NewReader(make([]byte, 32<<20)))
	wantErr(t, err, 507)
	if objs, tmp := blobFiles(t, nd); objs != 0 || tmp != 0 {
		t.Fatalf("the failed upload left %d objects and %d temporary files", objs, tmp)
	}
	// The space is back: what fits is stored.
	small := bytes.Repeat([]byte("x"), 1<<20)
	upload(t, c, id, small)
	if got, _ := download(t, c, id, client.AssetRead{}); !bytes.Equal(got, small) {
		t.Fatal("content differs")
	}
}
