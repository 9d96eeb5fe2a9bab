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
// streaming), of a file stored on the node and of a URL file.
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
			for i := 0; i < b.N; i++ {
				nonce++
				resp, err := e.c.OceanDownload(b.Context(), e.consumer, api.OceanAccess{DocumentID: did, ServiceID: "access-1",
					TransferTxID: tx, Nonce: strconv.Itoa(nonce)})
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != int64(c.size) {
					b.Fatalf("%d bytes", n)
				}
			}
		})
	}
}
