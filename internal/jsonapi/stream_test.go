package jsonapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/b64"
)

func TestStreamBigAttribute(t *testing.T) {
	doc := `{"data":{"type":"file","attributes":{"name":"a.txt","data":"QUJD\nRA\u003d\u003d\/","duration":60,"additional":{"k":["v",1,true,null,{"x":-1.5e3}]}}},"meta":{"m":1}}`
	var got []byte
	res, err := Stream(strings.NewReader(doc), "data", func(r io.Reader) error {
		var err error
		got, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "QUJD\nRA==/" {
		t.Fatalf("streamed %q", got)
	}
	var name string
	var dur int64
	var add map[string]any
	res.Attr("name", &name)
	res.Attr("duration", &dur)
	res.Attr("additional", &add)
	if res.Type != "file" || name != "a.txt" || dur != 60 || len(add["k"].([]any)) != 5 {
		t.Fatalf("resource %+v", res)
	}
}

func TestDecodeErrors(t *testing.T) {
	for doc, ptr := range map[string]string{
		``:                                      "",
		`[]`:                                    "",
		`{"data":[]}`:                           "/data",
		`{"data":{"type":1}}`:                   "/data/type",
		`{"data":{"type":"f","attributes":[]}}`: "/data/attributes",
		`{"data":{"attributes":{"a":tru}}}`:     "/data/attributes/a",
		`{"data":{"attributes":{"a":"x\q"}}}`:   "/data/attributes/a",
		`{"data":{},"data":{}}`:                 "",
		`{"data":{}} x`:                         "",
		`{"meta":{}}`:                           "",
		`{"data":{"attributes":{"a":"` + "\x01": "/data/attributes/a",
		`{"data":{"attributes":{"a":[1,2}}}`:    "/data/attributes/a",
		`{"data":{"attributes":{"a":01}}}`:      "/data/attributes/a",
		`{"data":{"attributes":{"a":1 "b":2}}}`: "/data/attributes",
	} {
		_, err := Decode(strings.NewReader(doc))
		var e *apierr.Error
		if !errors.As(err, &e) || e.Status != 400 {
			t.Errorf("%q: err = %v", doc, err)
			continue
		}
		if e.Pointer != ptr {
			t.Errorf("%q: pointer %q, want %q (%s)", doc, e.Pointer, ptr, e.Detail)
		}
	}
}

func TestAttrTypeError(t *testing.T) {
	res, err := Decode(strings.NewReader(`{"data":{"type":"file","attributes":{"duration":"long"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var d int64
	_, err = res.Attr("duration", &d)
	var e *apierr.Error
	if !errors.As(err, &e) || e.Pointer != "/data/attributes/duration" || !strings.Contains(e.Detail, "number") {
		t.Fatalf("err = %#v", err)
	}
}

func TestTooLarge(t *testing.T) {
	big := `{"data":{"attributes":{"a":"` + strings.Repeat("x", MaxSmall+1) + `"}}}`
	if _, err := Decode(strings.NewReader(big)); err == nil {
		t.Fatal("oversized small attribute accepted")
	}
	deep := `{"data":{"attributes":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}}`
	if _, err := Decode(strings.NewReader(deep)); err == nil {
		t.Fatal("deep nesting accepted")
	}
}

// The streamed attribute passes through in bounded memory however large.
func TestStreamLarge(t *testing.T) {
	const n = 8 << 20
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"data":{"type":"file","attributes":{"data":"`))
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for i := 0; i < n/len(chunk); i++ {
			pw.Write(chunk)
		}
		pw.Write([]byte(`"}}}`))
		pw.Close()
	}()
	var total int64
	_, err := Stream(pr, "data", func(r io.Reader) error {
		var err error
		total, err = io.Copy(io.Discard, r)
		return err
	})
	if err != nil || total != n {
		t.Fatalf("total %d, err %v", total, err)
	}
}

// replaceInvalid is what encoding/json makes of raw string bytes: every byte
// that does not start a valid UTF-8 sequence becomes one U+FFFD (unlike
// strings.ToValidUTF8, which folds a run of them into one).
func replaceInvalid(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

// TestPlain compares plain with its definition, for every kind of byte that
// ends a string's plain run or does not, at every position of strings long
// enough for the vectorised scans.
func TestPlain(t *testing.T) {
	naive := func(b []byte) int {
		for i, c := range b {
			if c == '"' || c == '\\' || c < 0x20 {
				return i
			}
		}
		return len(b)
	}
	for n := 0; n <= 100; n++ {
		for at := 0; at < n; at++ {
			for _, c := range []byte{0x00, '\t', '\n', 0x1f, '"', '\\', ' ', 0x7e, 0x7f, 0x80, 0xff} {
				buf := bytes.Repeat([]byte("Q"), n)
				buf[at] = c
				if got, want := plain(buf), naive(buf); got != want {
					t.Fatalf("plain(%q) = %d, want %d", buf, got, want)
				}
			}
		}
	}
}

func FuzzStream(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"file","attributes":{"name":"a","data":"QUJD","duration":1}}}`,
		`{"data":{"type":"file","id":"x","attributes":{"data":"\u0041\ud83d\ude00"}}}`,
		`{"data":{"attributes":{"additional":{"a":[1,{"b":null}]}}}}`,
		`{"data":null}`, `{"jsonapi":{"version":"1.0"},"data":{}}`,
		// A run of invalid UTF-8: encoding/json replaces each byte.
		"{\"data\":{\"attributes\":{\"data\":\"00000000\x80\xc0\"}}}", "00000000\x80\xc0",
		// Control characters past the 32 bytes a vectorised scan takes at once.
		`{"data":{"attributes":{"data":"` + strings.Repeat("QUJD", 10) + "\x01" + strings.Repeat("QUJD", 10) + `"}}}`,
		`{"data":{"attributes":{"data":"` + strings.Repeat("QUJD", 17) + "\t" + `QUJD"}}}`,
		`{"data":{"attributes":{"data":"` + strings.Repeat("QUJD", 17) + "\x7f\xc3\xa9\x1f" + `"}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var streamed []byte
		res, err := Stream(strings.NewReader(doc), "data", func(r io.Reader) error {
			var err error
			streamed, err = io.ReadAll(r)
			return err
		})
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("non-400 error %v", err)
			}
			return
		}
		// Whatever we accept, encoding/json must accept too, with the same
		// streamed string.
		var std struct {
			Data struct {
				Attributes map[string]json.RawMessage `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(doc), &std); err != nil {
			t.Fatalf("accepted a document encoding/json refuses: %v", err)
		}
		if raw, ok := std.Data.Attributes["data"]; ok && res.Attributes["data"] != nil && string(res.Attributes["data"]) == `"<streamed>"` {
			var want string
			if json.Unmarshal(raw, &want) == nil && want != string(streamed) && replaceInvalid(streamed) != want {
				t.Fatalf("streamed %q, encoding/json %q", streamed, want)
			}
		}
		for k, v := range res.Attributes {
			if k != "data" && !json.Valid(v) {
				t.Fatalf("attribute %s is not valid JSON: %s", k, v)
			}
		}
	})
}

// BenchmarkStreamBase64 reads an upload document as the DDS face does: the
// base64 attribute decoded as it streams.
func BenchmarkStreamBase64(b *testing.B) {
	raw := make([]byte, 16<<20)
	doc := []byte(`{"data":{"type":"file","attributes":{"name":"x","data":"` + base64.StdEncoding.EncodeToString(raw) + `"}}}`)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		_, err := Stream(bytes.NewReader(doc), "data", func(r io.Reader) error {
			_, err := io.Copy(io.Discard, b64.NewDecoder(r))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
