//go:build linux

package assets_test

import (
	"bytes"
	"os"
	"syscall"
	"testing"

	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// TestDiskFull507 fills a real (small tmpfs) disk: the upload that does not
// fit gets 507 and leaves nothing, and the node keeps working. It needs the
// right to mount, so it runs as root only.
func TestDiskFull507(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Skip("cannot mount a tmpfs here:", err)
	}
	// Registered before the node's cleanup, so it runs after the node closed.
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })

	nd := testnet.New(t, 1, func(_ int, c *node.Config) { c.DataDir = dir }).Nodes[0]
	c := tokenAPI(t, nd, nd.UserToken)
	id := c.register(`{"name":"too big for the disk"}`)
	c.do("PUT", "/api/v1/assets/"+id, bytes.NewReader(make([]byte, 32<<20))).want(t, 507)
	if objs, tmp := blobFiles(t, nd); objs != 0 || tmp != 0 {
		t.Fatalf("the failed upload left %d objects and %d temporary files", objs, tmp)
	}
	// The space is back: what fits is stored.
	small := bytes.Repeat([]byte("x"), 1<<20)
	c.do("PUT", "/api/v1/assets/"+id, bytes.NewReader(small)).want(t, 201)
	if got := c.do("GET", "/api/v1/assets/"+id, nil).want(t, 200); !bytes.Equal(got.body, small) {
		t.Fatal("content differs")
	}
}
