package assets_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// A body over the size limit is a 413 in the face's format, raw or
// multipart, with or without a Content-Length.
func TestOversizedUploads(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1, func(_ int, c *testnet.Setup) { c.DDS.MaxFileSize = 64 << 10 }).Nodes[0]
	owner := nd.User()
	id := register(t, owner, `{"name":"big"}`)
	big := make([]byte, 64<<10+1)
	_, err := owner.UploadAssetForm(ctx, id, "data.bin", bytes.NewReader(big))
	wantErr(t, err, 413)
	_, err = owner.UploadAsset(ctx, id, bytes.NewReader(big))
	wantErr(t, err, 413)
	_, err = owner.UploadAsset(ctx, id, struct{ *bytes.Reader }{bytes.NewReader(big)}) // chunked
	wantErr(t, err, 413)
	if _, tmp := blobFiles(t, nd); tmp != 0 {
		t.Fatalf("%d temporary files left", tmp)
	}
}
