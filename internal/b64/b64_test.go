package b64

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"
)

func decode(s string) ([]byte, error) { return io.ReadAll(NewDecoder(strings.NewReader(s))) }

// chunky lends its input a few bytes at a time, as a JSON string with
// escapes would.
type chunky struct {
	s    string
	step int
}

func (c *chunky) Read(p []byte) (int, error) { panic("a Lender is not read") }
func (c *chunky) Lend() ([]byte, error) {
	if c.s == "" {
		return nil, io.EOF
	}
	return []byte(c.s[:min(len(c.s), c.step)]), nil
}
func (c *chunky) Consume(n int) { c.s = c.s[n:] }

// decodeLent decodes s lent step bytes at a time.
func decodeLent(s string, step int) ([]byte, error) {
	return io.ReadAll(NewDecoder(&chunky{s, step}))
}

func TestDecode(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 1000} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		for name, enc := range map[string]string{
			"std":     base64.StdEncoding.EncodeToString(raw),
			"wrapped": wrap(base64.StdEncoding.EncodeToString(raw), 76),
			"pem":     strings.ReplaceAll(wrap(base64.StdEncoding.EncodeToString(raw), 64), "\r\n", "\n"),
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
	for _, s := range []string{"a", "ab=c", "abc!", "ab==cd==", "====", "a===", "ab=", "QQ==QQ==", "QR==", "QUJ=",
		// The lenient forms refused by rule: no padding, URL-safe, spaces.
		"QQ", "QUI", "QUJDRA", "a-_b", "a-8=", "QU JD", "QU\tJD", " QUJD", "QUJD "} {
		if got, err := decode(s); err == nil {
			t.Errorf("decode(%q) = %q, want error", s, got)
		}
	}
	if _, err := decode("QUJD$"); err == nil || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("error does not locate the bad byte: %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range []string{"", "QQ==", "QUI=", "QUJD", "QUJDRA", "a-_b", "QU\nJD", "QQ=", "!!", "QU JD", "QQ=\r\n=", "QUJD\r\n"} {
		f.Add(s)
	}
	// Longer than the 45 bytes from which the vectorised decoder starts, with
	// a line break, a foreign character and padding at varied places.
	long := strings.Repeat("QUJD", 30)
	for _, at := range []int{0, 31, 32, 47, 64, 100} {
		for _, c := range []string{"\n", "-", "=", " "} {
			f.Add(long[:at] + c + long[at:])
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The rule: exactly what the standard library's strict standard
		// encoding accepts (padded, line breaks ignored), with its bytes.
		want, werr := base64.StdEncoding.Strict().DecodeString(s)
		for _, step := range []int{0, 1, 3, 5, 8, 13} {
			got, err := decode(s)
			if step > 0 {
				got, err = decodeLent(s, step)
			}
			if (err == nil) != (werr == nil) || (err == nil && !bytes.Equal(got, want)) {
				t.Fatalf("decode(%q) lent %d at a time = %x, %v; stdlib %x, %v", s, step, got, err, want, werr)
			}
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
