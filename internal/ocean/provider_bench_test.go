package ocean_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// BenchmarkDownload measures a signed, paid download end to end over HTTP
// (signature check, nonce, order check, decrypting the file list,
// streaming), of a file stored on the node and of a URL file, and the
// node's own DDS download of the same stored file to compare with.
func BenchmarkDownload(b *testing.B) {
	e := newEnv(b, allowLoopback)
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	f, err := e.nd.User().Upload(b.Context(), "bench.bin", bytes.NewReader(content), client.UploadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.nd.Payer().Pay(b.Context(), client.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.PriceExact}); err != nil {
		b.Fatal(err)
	}
	// The node's own DDS download of the same file: the figure to compare with.
	b.Run("dds-get-8MiB", func(b *testing.B) {
		b.SetBytes(int64(len(content)))
		user := e.nd.User()
		for b.Loop() {
			var n countingWriter
			if _, err := user.Download(b.Context(), f.ID, &n); err != nil || int(n) != len(content) {
				b.Fatal(err, n)
			}
		}
	})
	nonce := 0 // the consumer's, across all runs
	for _, c := range []struct {
		name  string
		file  api.FileObject
		size  int
		nftID string
	}{
		{"native-8MiB", api.FileObject{Type: "dds", ID: f.ID}, len(content), "0x00000000000000000000000000000000000000b7"},
		{"url-64KiB", api.FileObject{Type: "url", URL: e.files.URL + "/open.csv"}, len(e.content), "0x00000000000000000000000000000000000000b8"},
	} {
		did := e.publish(c.nftID, []api.FileObject{c.file}, "0", 0, e.nd.UserToken)
		tx := e.pay(did, "access-1", e.consumer, "0")
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(c.size))
			buf := make([]byte, 256<<10)
			for i := 0; i < b.N; i++ {
				nonce++
				resp, err := e.c.OceanDownload(b.Context(), e.consumer, api.OceanAccess{DocumentID: did, ServiceID: "access-1",
					TransferTxID: tx, Nonce: strconv.Itoa(nonce)})
				if err != nil {
					b.Fatal(err)
				}
				// Read as client.Download reads a DDS file: the same client for both.
				var w countingWriter
				n, _ := io.CopyBuffer(&w, resp.Body, buf)
				resp.Body.Close()
				if n != int64(c.size) {
					b.Fatalf("%d bytes", n)
				}
			}
		})
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
