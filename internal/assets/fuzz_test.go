package assets_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// FuzzMultipartUpload posts arbitrary bodies as multipart uploads to a real
// node. Whatever the body, the answer is 201 or a 4xx, a refused upload
// leaves no temporary file, and an accepted one stores exactly the bytes of
// the form's "file" field.
func FuzzMultipartUpload(f *testing.F) {
	valid, ct := form([]byte("content"))
	_, params, _ := mime.ParseMediaType(ct)
	f.Add(valid.Bytes(), params["boundary"])
	f.Add(valid.Bytes()[:valid.Len()-10], params["boundary"])
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ny\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=other\r\n\r\n\r\n--b--"), "b")
	f.Add([]byte(""), "b")
	f.Add([]byte("--b--\r\n"), "b")
	f.Add([]byte("preamble\r\n--x y\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x00\xff\r\n--x y--"), "x y")

	nd := testnet.New(f, 1).Nodes[0]
	c := tokenAPI(f, nd, nd.UserToken)
	id := c.register(`{"name":"fuzzed"}`) // no contentHash: any content is accepted

	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		ct := mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary})
		if ct == "" {
			return
		}
		c := tokenAPI(t, nd, nd.UserToken)
		r := c.do("POST", "/api/v1/assets/"+id, bytes.NewReader(body), "Content-Type", ct)
		switch r.StatusCode {
		case 201:
			want, ok := fileField(body, boundary)
			if !ok {
				t.Fatalf("accepted a form the multipart reader refuses: %q", body)
			}
			if got := c.do("GET", "/api/v1/assets/"+id, nil).want(t, 200).body; !bytes.Equal(got, want) {
				t.Fatalf("stored %q, want %q", got, want)
			}
		case 400, 413, 415:
			r.want(t, r.StatusCode)
		default:
			t.Fatalf("status %d for %q: %s", r.StatusCode, body, r.body)
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
