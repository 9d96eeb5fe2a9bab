package b64

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"
)

func decode(s string) ([]byte, error) { return io.ReadAll(NewDecoder(strings.NewReader(s))) }

func TestDecode(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 1000} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		for name, enc := range map[string]string{
			"std":     base64.StdEncoding.EncodeToString(raw),
			"raw":     base64.RawStdEncoding.EncodeToString(raw),
			"url":     base64.URLEncoding.EncodeToString(raw),
			"rawurl":  base64.RawURLEncoding.EncodeToString(raw),
			"wrapped": wrap(base64.StdEncoding.EncodeToString(raw), 76),
		} {
			got, err := decode(enc)
			if err != nil || !bytes.Equal(got, raw) {
				t.Errorf("%s n=%d: %v", name, n, err)
			}
		}
	}
}

func wrap(s string, w int) string {
	var b strings.Builder
	for len(s) > w {
		b.WriteString(s[:w] + "\r\n")
		s = s[w:]
	}
	b.WriteString(s)
	return b.String()
}

func TestInvalid(t *testing.T) {
	for _, s := range []string{"a", "ab=c", "abc!", "ab==cd==", "====", "a===", "ab=", "QQ==QQ==", "QR==", "QUJ="} {
		if got, err := decode(s); err == nil {
			t.Errorf("decode(%q) = %q, want error", s, got)
		}
	}
	if _, err := decode("QUJD$"); err == nil || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("error does not locate the bad byte: %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range []string{"", "QQ==", "QUI=", "QUJD", "QUJDRA", "a-_b", "QU\nJD", "QQ=", "!!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decode(s)
		if err != nil {
			return
		}
		// Whatever decodes must agree with the standard library on the
		// canonical form of the same input.
		clean := strings.NewReplacer(" ", "", "\t", "", "\r", "", "\n", "", "-", "+", "_", "/").Replace(s)
		want, werr := base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
		if werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("decode(%q) = %x; stdlib %x, %v", s, got, want, werr)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	raw := make([]byte, 4<<20)
	enc := base64.StdEncoding.EncodeToString(raw)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		io.Copy(io.Discard, NewDecoder(strings.NewReader(enc)))
	}
}
