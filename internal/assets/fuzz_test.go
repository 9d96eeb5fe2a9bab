package assets_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"testing"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// FuzzMultipartUpload posts arbitrary bodies as multipart uploads to a real
// node. Whatever the body, the answer is 201 or a 4xx, a refused upload
// leaves no temporary file, and an accepted one stores exactly the bytes of
// the form's "file" field.
func FuzzMultipartUpload(f *testing.F) {
	valid := "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\ncontent\r\n--b--\r\n"
	f.Add([]byte(valid), "b")
	f.Add([]byte(valid[:len(valid)-10]), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ny\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=other\r\n\r\n\r\n--b--"), "b")
	f.Add([]byte(""), "b")
	f.Add([]byte("--b--\r\n"), "b")
	f.Add([]byte("preamble\r\n--x y\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x00\xff\r\n--x y--"), "x y")

	nd := testnet.New(f, 1).Nodes[0]
	id := register(f, nd.User(), `{"name":"fuzzed"}`) // no contentHash: any content is accepted

	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		ct := mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary})
		if ct == "" {
			return
		}
		c := nd.User()
		resp, err := raw(t, c, "POST", "/api/v1/assets/"+id, bytes.NewReader(body), "Content-Type", ct)
		var e *client.Error
		switch {
		case err == nil && resp.StatusCode == 201:
			want, ok := fileField(body, boundary)
			if !ok {
				t.Fatalf("accepted a form the multipart reader refuses: %q", body)
			}
			if got, _ := download(t, c, id, client.AssetRead{}); !bytes.Equal(got, want) {
				t.Fatalf("stored %q, want %q", got, want)
			}
		case errors.As(err, &e) && (e.Status == 400 || e.Status == 413 || e.Status == 415):
			wantErr(t, err, e.Status)
		default:
			t.Fatalf("%v for %q", err, body)
		}
		if _, tmp := blobFiles(t, nd); tmp != 0 {
			t.Fatalf("%d temporary files left", tmp)
		}
	})
}

// fileField is the reference reading of a form: the one "file" field.
func fileField(body []byte, boundary string) ([]byte, bool) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var file []byte
	n := 0
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return file, n == 1
		}
		if err != nil {
			return nil, false
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		if p.FormName() == "file" {
			file, n = b, n+1
		}
	}
}
