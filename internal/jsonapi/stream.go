package jsonapi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/segmentio/asm/ascii"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// MaxSmall bounds everything in a document except the streamed attribute.
const MaxSmall = 1 << 20

// Decode reads a single-resource document of at most MaxSmall bytes.
func Decode(r io.Reader) (*Resource, error) {
	return Stream(r, "", nil)
}

// Stream reads a single-resource document {"data": {...}}. If big is not
// empty and data.attributes[big] is a string, sink is called with a reader of
// the string's (unescaped) content while it streams in; sink must read it to
// the end or fail. Everything else is held in memory, up to MaxSmall bytes.
// Errors are *apierr.Error 400s that say where the document is wrong, or the
// error sink returned.
func Stream(r io.Reader, big string, sink func(io.Reader) error) (*Resource, error) {
	s := &scanner{r: bufio.NewReaderSize(r, 64<<10), budget: MaxSmall}
	res, err := s.document(big, sink)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, apierr.BadRequest("malformed_document", "request body is not a valid JSON:API document: %s", se.msg).At(se.ptr)
		}
		return nil, err
	}
	return res, nil
}

type syntaxError struct {
	msg, ptr string
}

func (e *syntaxError) Error() string { return e.msg }

type scanner struct {
	r      *bufio.Reader
	off    int64
	budget int
	ptr    string // JSON pointer of the value being read, for errors
}

func (s *scanner) fail(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...) + fmt.Sprintf(" (at byte %d)", s.off), ptr: s.ptr}
}

func (s *scanner) read() (byte, error) {
	c, err := s.r.ReadByte()
	if err == io.EOF {
		return 0, s.fail("unexpected end of input")
	}
	if err != nil {
		return 0, err
	}
	s.off++
	return c, nil
}

// peek skips white space and returns the next byte without consuming it.
func (s *scanner) peek() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			return 0, s.fail("unexpected end of input")
		}
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			s.off++
			continue
		}
		s.r.UnreadByte()
		return c, nil
	}
}

func (s *scanner) expect(want byte) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != want {
		return s.fail("expected %q, found %q", want, c)
	}
	_, err = s.read()
	return err
}

// object iterates over the members of an object, calling fn with each key;
// fn must consume the value.
func (s *scanner) object(fn func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	base := s.ptr
	seen := map[string]bool{}
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c == '}' {
		s.read()
		return nil
	}
	for {
		if c, err := s.peek(); err != nil {
			return err
		} else if c != '"' {
			return s.fail("expected a member name, found %q", c)
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if seen[key] {
			return s.fail("member %q appears twice", key)
		}
		seen[key] = true
		if err := s.expect(':'); err != nil {
			return err
		}
		s.ptr = base + "/" + escapePointer(key)
		if err := fn(key); err != nil {
			return err
		}
		s.ptr = base
		c, err := s.peek()
		if err != nil {
			return err
		}
		s.read()
		if c == '}' {
			return nil
		}
		if c != ',' {
			return s.fail("expected ',' or '}', found %q", c)
		}
	}
}

func (s *scanner) document(big string, sink func(io.Reader) error) (*Resource, error) {
	var res *Resource
	err := s.object(func(key string) error {
		if key != "data" {
			_, err := s.raw() // meta, jsonapi, links...: read and ignore
			return err
		}
		c, err := s.peek()
		if err != nil {
			return err
		}
		if c != '{' {
			return s.fail("data must be a resource object")
		}
		res = &Resource{Attributes: map[string]json.RawMessage{}}
		return s.object(func(key string) error {
			switch key {
			case "type", "id":
				if c, err := s.peek(); err != nil {
					return err
				} else if c != '"' {
					return s.fail("%s must be a string", key)
				}
				v, err := s.str()
				if key == "type" {
					res.Type = v
				} else {
					res.ID = v
				}
				return err
			case "attributes":
				if c, err := s.peek(); err != nil {
					return err
				} else if c != '{' {
					return s.fail("attributes must be an object")
				}
				return s.object(func(name string) error {
					c, err := s.peek()
					if err != nil {
						return err
					}
					if name == big && big != "" && c == '"' {
						res.Attributes[name] = json.RawMessage(`"<streamed>"`)
						return s.streamString(sink)
					}
					v, err := s.raw()
					res.Attributes[name] = v
					return err
				})
			case "relationships":
				v, err := s.raw()
				res.Relationships = v
				return err
			case "meta":
				v, err := s.raw()
				res.Meta = v
				return err
			default:
				_, err := s.raw()
				return err
			}
		})
	})
	if err != nil {
		return nil, err
	}
	// Only white space may follow the document.
	for {
		c, rerr := s.r.ReadByte()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			s.ptr = ""
			return nil, s.fail("unexpected data after the document")
		}
	}
	if res == nil {
		s.ptr = ""
		return nil, s.fail("the document has no data member")
	}
	return res, nil
}

// str reads a whole (small) string value.
func (s *scanner) str() (string, error) {
	var b bytes.Buffer
	sr := &stringReader{s: s}
	if _, err := s.read(); err != nil { // opening quote
		return "", err
	}
	buf := make([]byte, 512)
	for {
		n, err := sr.Read(buf)
		b.Write(buf[:n])
		if s.budget -= n; s.budget < 0 {
			return "", s.fail("document too large")
		}
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// streamString hands the content of the string at the cursor to sink.
func (s *scanner) streamString(sink func(io.Reader) error) error {
	if _, err := s.read(); err != nil {
		return err
	}
	sr := &stringReader{s: s}
	if err := sink(sr); err != nil {
		if sr.err != nil && sr.err != io.EOF {
			return sr.err // the document was malformed inside the string
		}
		return err
	}
	if !sr.done {
		if _, err := io.Copy(io.Discard, sr); err != nil {
			return err
		}
	}
	return nil
}

// raw reads one value of any kind and returns its bytes.
func (s *scanner) raw() (json.RawMessage, error) {
	var out bytes.Buffer
	if err := s.copyValue(&out, 0); err != nil {
		return nil, err
	}
	if s.budget -= out.Len(); s.budget < 0 {
		return nil, s.fail("document too large")
	}
	return out.Bytes(), nil
}

const maxDepth = 64

func (s *scanner) copyValue(out *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return s.fail("nesting too deep")
	}
	c, err := s.peek()
	if err != nil {
		return err
	}
	if out.Len() > s.budget {
		return s.fail("document too large")
	}
	switch c {
	case '"':
		v, err := s.str()
		if err != nil {
			return err
		}
		enc, _ := json.Marshal(v)
		out.Write(enc)
		return nil
	case '{', '[':
		s.read()
		out.WriteByte(c)
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		first := true
		for {
			c, err := s.peek()
			if err != nil {
				return err
			}
			if c == end && first {
				s.read()
				out.WriteByte(end)
				return nil
			}
			if end == '}' {
				if c != '"' {
					return s.fail("expected a member name, found %q", c)
				}
				k, err := s.str()
				if err != nil {
					return err
				}
				enc, _ := json.Marshal(k)
				out.Write(enc)
				if err := s.expect(':'); err != nil {
					return err
				}
				out.WriteByte(':')
			}
			if err := s.copyValue(out, depth+1); err != nil {
				return err
			}
			first = false
			c, err = s.peek()
			if err != nil {
				return err
			}
			s.read()
			out.WriteByte(c)
			if c == end {
				return nil
			}
			if c != ',' {
				return s.fail("expected ',' or %q, found %q", end, c)
			}
		}
	default:
		start := out.Len()
		for {
			c, err := s.r.ReadByte()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E') {
				s.r.UnreadByte()
				break
			}
			s.off++
			out.WriteByte(c)
			if out.Len()-start > 64 {
				return s.fail("literal too long")
			}
		}
		lit := out.Bytes()[start:]
		if len(lit) == 0 {
			return s.fail("unexpected %q", c)
		}
		if !json.Valid(lit) {
			return s.fail("invalid literal %q", lit)
		}
		return nil
	}
}

// stringReader yields the unescaped content of a JSON string whose opening
// quote has been read, and stops at its closing quote.
type stringReader struct {
	s       *scanner
	pending [8]byte // decoded runes waiting for room
	plain   int     // buffered bytes known to be plain content
	np, ip  int
	done    bool
	err     error
}

func (sr *stringReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		buf, err := sr.Lend()
		if err != nil {
			return n, err
		}
		c := copy(p[n:], buf)
		sr.Consume(c)
		n += c
	}
	return n, nil
}

// Lend returns the next bytes of the string's content without consuming
// them: plain bytes in place in the scanner's buffer, or an unescaped
// character. At least one, unless the error is set (io.EOF after the closing
// quote). It makes the reader a b64.Lender: base64 is decoded in place.
func (sr *stringReader) Lend() ([]byte, error) {
	for {
		if sr.ip < sr.np {
			return sr.pending[sr.ip:sr.np], nil
		}
		if sr.done {
			return nil, io.EOF
		}
		if sr.err != nil {
			return nil, sr.err
		}
		if sr.s.r.Buffered() == 0 {
			if _, err := sr.s.r.Peek(1); err != nil {
				if err == io.EOF {
					sr.err = sr.s.fail("unterminated string")
				} else {
					sr.err = err
				}
				continue
			}
		}
		buf, _ := sr.s.r.Peek(sr.s.r.Buffered())
		if sr.plain == 0 {
			sr.plain = plain(buf) // scanned once, however little each Consume takes
		}
		if sr.plain > 0 {
			return buf[:sr.plain], nil
		}
		sr.special()
	}
}

// Consume consumes the first n bytes of what Lend returned.
func (sr *stringReader) Consume(n int) {
	if sr.ip < sr.np {
		sr.ip += n
		return
	}
	sr.s.r.Discard(n)
	sr.s.off += int64(n)
	sr.plain -= n
}

// plain is the length of buf's prefix that a string holds as is: up to a
// quote, a backslash or a control character. The quote and the backslash
// are found with bytes.IndexByte, and a prefix of printable ASCII (base64,
// hex, most of what a string holds) is recognised whole, both vectorised;
// otherwise control characters are looked for eight bytes at a time.
func plain(buf []byte) int {
	if q := bytes.IndexByte(buf, '"'); q >= 0 {
		buf = buf[:q]
	}
	if b := bytes.IndexByte(buf, '\\'); b >= 0 {
		buf = buf[:b]
	}
	if ascii.ValidPrint(buf) {
		return len(buf)
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(buf); i += 8 {
		w := binary.LittleEndian.Uint64(buf[i:])
		if (w-ones*0x20)&^w&highs != 0 { // some byte is below 0x20
			break
		}
	}
	for ; i < len(buf) && buf[i] >= 0x20; i++ {
	}
	return i
}

// special handles the byte at the cursor that ends the fast path.
func (sr *stringReader) special() {
	s := sr.s
	c, err := s.read()
	if err != nil {
		sr.err = err
		return
	}
	switch {
	case c == '"':
		sr.done = true
		return
	case c < 0x20:
		sr.err = s.fail("control character in string")
		return
	}
	// Backslash escape.
	e, err := s.read()
	if err != nil {
		sr.err = err
		return
	}
	var r rune
	switch e {
	case '"', '\\', '/':
		r = rune(e)
	case 'b':
		r = '\b'
	case 'f':
		r = '\f'
	case 'n':
		r = '\n'
	case 'r':
		r = '\r'
	case 't':
		r = '\t'
	case 'u':
		r, err = sr.hex4()
		if err != nil {
			sr.err = err
			return
		}
		if utf16.IsSurrogate(r) {
			// A high surrogate must be followed by \uDC00-\uDFFF; anything
			// else makes it U+FFFD, as encoding/json does, and stands alone.
			if b, _ := s.r.Peek(2); len(b) == 2 && b[0] == '\\' && b[1] == 'u' {
				s.read()
				s.read()
				r2, err := sr.hex4()
				if err != nil {
					sr.err = err
					return
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
				} else {
					sr.np = utf8.EncodeRune(sr.pending[:], utf8.RuneError)
					if utf16.IsSurrogate(r2) {
						r2 = utf8.RuneError
					}
					sr.np += utf8.EncodeRune(sr.pending[sr.np:], r2)
					sr.ip = 0
					return
				}
			} else {
				r = utf8.RuneError
			}
		}
	default:
		sr.err = s.fail("invalid escape \\%c", e)
		return
	}
	sr.np = utf8.EncodeRune(sr.pending[:], r)
	sr.ip = 0
}

func (sr *stringReader) hex4() (rune, error) {
	var b [4]byte
	for i := range b {
		c, err := sr.s.read()
		if err != nil {
			return 0, err
		}
		b[i] = c
	}
	v, err := strconv.ParseUint(string(b[:]), 16, 16)
	if err != nil {
		return 0, sr.s.fail("invalid \\u escape")
	}
	return rune(v), nil
}

func escapePointer(k string) string {
	var b bytes.Buffer
	for _, r := range k {
		switch r {
		case '~':
			b.WriteString("~0")
		case '/':
			b.WriteString("~1")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
