package assets

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus-dds/dds/internal/apierr"
)

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		`{"name":"UK Rainfall","type":"dataset","contentType":"text/csv; charset=utf-8","size":"1234","contentHash":"0x` + strings.Repeat("Ab", 32) + `"}`,
		`{"type":"operation","operation":{"modes":["sync"],"params":{"to_hash":{"type":"json"}}}}`,
		`{"type":"bundle","links":[{"name":"a","type":"sample","url":"https://x"}],"tags":["x"]}`,
		`{"size":12}`, `{"size":"012"}`, `{"size":1.5}`, `{"size":"9223372036854775808"}`,
		`{}`, ` { } `, `[]`, `null`, `"x"`, `{"a":1,"a":1}`, `{"a":1}x`, `{"a"`, `{"name":null}`,
		`{"contentType":"text/plain\r\nX-Evil: 1"}`, "{\"name\":\"\xff\"}", `{"nested":{"a":{"a":[1,2,{"b":null}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := ParseMetadata(doc)
		if err != nil {
			if e, ok := apierr.As(err); !ok || e.Status != http.StatusBadRequest || !strings.HasPrefix(e.Detail, "metadata: ") {
				t.Fatalf("%q: want a 400 with a reason, got %v", doc, err)
			}
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(doc, &obj); err != nil || !utf8.Valid(doc) {
			t.Fatalf("%q accepted but is not a JSON object: %v", doc, err)
		}
		if t := bytes.TrimSpace(doc); t[0] != '{' {
			panic("accepted a non-object")
		}
		switch md.Type {
		case "dataset", "operation", "bundle":
		default:
			t.Fatalf("type %q", md.Type)
		}
		if md.ContentHash != "" && !validID(md.ContentHash) {
			t.Fatalf("content hash %q", md.ContentHash)
		}
		if md.ContentType != "" {
			if _, _, err := mime.ParseMediaType(md.ContentType); err != nil || strings.ContainsAny(md.ContentType, "\r\n") {
				t.Fatalf("content type %q", md.ContentType)
			}
		}
		if md.Size < -1 {
			t.Fatalf("size %d", md.Size)
		}
	})
}

func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"UK Rainfall 2018", "Grüße.csv", `a"b\c`, "../../etc/passwd", "日本語のファイル", "\x00\x7f\r\n", "...", " ", "x.tar.gz", "\xff\xfe", "%41%20"} {
		f.Add(s, "text/csv")
	}
	f.Add("", "")
	f.Fuzz(func(t *testing.T, name, contentType string) {
		id := strings.Repeat("ab", 32)
		fn := fileName(id, Metadata{Name: name, ContentType: contentType})
		if fn == "" || strings.ContainsAny(fn, "/\\\x00") || !utf8.ValidString(fn) {
			t.Fatalf("file name %q from %q", fn, name)
		}
		h := contentDisposition(fn)
		for i := 0; i < len(h); i++ {
			if h[i] < 0x20 || h[i] > 0x7e {
				t.Fatalf("header %q has byte %#x", h, h[i])
			}
		}
		disp, params, err := mime.ParseMediaType(h)
		if err != nil || disp != "attachment" || params["filename"] != fn {
			t.Fatalf("%q parses as %q %q %v; want filename %q", h, disp, params, err, fn)
		}
	})
}
