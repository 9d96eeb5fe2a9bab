// Package b64 decodes base64 as a stream, so an upload of any size passes
// through a fixed amount of memory.
//
// It accepts one form, what every standard encoder emits (Java's Base64
// encoders, JavaScript's btoa and Buffer, Python's b64encode, Go's
// StdEncoding, the base64 command): the standard alphabet of RFC 4648
// section 4 with its padding, optionally wrapped in lines (CR and LF may
// come anywhere, as MIME and PEM wrap at 76 and 64 columns). It refuses the
// URL-safe alphabet, missing padding, spaces and tabs, and non-zero trailing
// bits, so each content has one encoding up to line breaks: exactly what
// Go's base64.StdEncoding.Strict() accepts.
package b64

import (
	"bufio"
	"fmt"
	"io"

	// The same API as encoding/base64, with AVX2 on amd64: an upload's
	// decoding was a quarter of its CPU (105 ms per 64 MiB with the
	// standard library).
	"github.com/segmentio/asm/base64"
)

// Error says where the input stopped being base64.
type Error struct {
	Offset int64
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid base64 at offset %d: %s", e.Offset, e.Reason)
}

var decodeMap [256]byte

// stdAlphabet marks the 64 characters of the standard alphabet.
var stdAlphabet [256]bool

const (
	invalid = 0xff
	space   = 0xfe
	pad     = 0xfd
)

func init() {
	for i := range decodeMap {
		decodeMap[i] = invalid
	}
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(std); i++ {
		decodeMap[std[i]] = byte(i)
		stdAlphabet[std[i]] = true
	}
	for _, c := range []byte("\r\n") {
		decodeMap[c] = space
	}
	decodeMap['='] = pad
}

// Lender is a source that lends the input it holds, so that the decoder
// reads it in place instead of copying it first. Lend returns the next bytes
// (at least one, unless the error is set; io.EOF at the end) without
// consuming them; Consume consumes the first n of what Lend returned. The
// JSON reader of uploads is one.
type Lender interface {
	Lend() ([]byte, error)
	Consume(n int)
}

// bufLender lends a bufio.Reader's buffer.
type bufLender struct{ r *bufio.Reader }

func (b bufLender) Lend() ([]byte, error) {
	if b.r.Buffered() == 0 {
		if _, err := b.r.Peek(1); err != nil {
			return nil, err
		}
	}
	return b.r.Peek(b.r.Buffered())
}

func (b bufLender) Consume(n int) { b.r.Discard(n) }

// Decoder reads base64 text from an underlying reader and yields the bytes.
type Decoder struct {
	src    Lender
	off    int64 // offset of the next input byte
	quad   [4]byte
	nq     int
	pads   int // '=' seen: only more '=' or spaces may follow
	out    [3]byte
	no, oi int
	err    error
}

// NewDecoder returns a streaming decoder reading from r: in place when r is
// a Lender (or a *bufio.Reader), else through a buffer of its own.
func NewDecoder(r io.Reader) *Decoder {
	if l, ok := r.(Lender); ok {
		return &Decoder{src: l}
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Decoder{src: bufLender{br}}
}

// Read implements io.Reader.
func (d *Decoder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if d.oi < d.no {
			c := copy(p[n:], d.out[d.oi:d.no])
			d.oi += c
			n += c
			continue
		}
		if d.err != nil {
			break
		}
		if d.pads == 0 && len(p)-n >= 3 {
			// Fast path: decode plain alphabet bytes straight into p.
			k, used := d.fast(p[n:])
			n += k
			if used {
				continue
			}
		}
		d.fill() // one group, handling padding, errors and the end
	}
	if n > 0 {
		return n, nil
	}
	return 0, d.err
}

// fast decodes lent input while it is plain alphabet or line breaks and p
// has room for a whole group. It reports whether it consumed anything.
func (d *Decoder) fast(p []byte) (n int, used bool) {
	buf, err := d.src.Lend()
	if err != nil {
		return 0, false
	}
	i := 0
	if d.nq == 0 {
		// Whole groups without padding: encoding/base64 decodes and checks
		// them in one pass. It also skips line breaks, which would shift
		// the groups: the decoded length tells there were none. Anything
		// else falls to the loop below, which says what is wrong.
		k := min(len(buf), len(p)/3*4) &^ 3
		if k > 0 && buf[k-1] == '=' {
			k -= 4 // the padded last group goes through fill
		}
		if k > 0 {
			if m, err := base64.StdEncoding.Decode(p, buf[:k]); err == nil && m == k/4*3 {
				n, i = m, k
			}
		}
	}
	for i < len(buf) && len(p)-n >= 3 {
		v := decodeMap[buf[i]]
		if v >= 64 {
			if v == space {
				i++
				continue
			}
			break
		}
		d.quad[d.nq] = v
		d.nq++
		i++
		if d.nq == 4 {
			q := d.quad
			p[n], p[n+1], p[n+2] = q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3]
			n += 3
			d.nq = 0
		}
	}
	d.src.Consume(i)
	d.off += int64(i)
	return n, i > 0
}

// readByte consumes one byte of input.
func (d *Decoder) readByte() (byte, error) {
	buf, err := d.src.Lend()
	if err != nil {
		return 0, err
	}
	d.src.Consume(1)
	return buf[0], nil
}

// fill decodes input until one group of up to 3 bytes is ready or an error
// (or io.EOF) is set.
func (d *Decoder) fill() {
	d.oi, d.no = 0, 0
	for {
		c, err := d.readByte()
		if err == io.EOF {
			d.finish()
			return
		}
		if err != nil {
			d.err = err
			return
		}
		off := d.off
		d.off++
		v := decodeMap[c]
		switch {
		case v == space:
			continue
		case v == pad:
			if d.nq < 2 || d.pads+d.nq >= 4 {
				d.err = &Error{off, "unexpected '='"}
				return
			}
			d.pads++
			if d.nq+d.pads == 4 {
				d.flush()
				d.nq = 0
				d.pads = -1 // group closed by padding: only spaces may follow
				return
			}
			continue
		case v == invalid:
			d.err = &Error{off, invalidReason(c)}
			return
		}
		if d.pads != 0 {
			d.err = &Error{off, "data after padding"}
			return
		}
		d.quad[d.nq] = v
		d.nq++
		if d.nq == 4 {
			d.flush()
			d.nq = 0
			return
		}
	}
}

// invalidReason says what to send instead of c.
func invalidReason(c byte) string {
	switch c {
	case '-', '_':
		return fmt.Sprintf("unexpected character %q: send the standard alphabet ('+' and '/'), not the URL-safe one", c)
	case ' ', '\t':
		return "unexpected white space: only line breaks may separate base64 characters"
	}
	return fmt.Sprintf("unexpected character %q", c)
}

func (d *Decoder) flush() {
	q := d.quad
	switch d.nq {
	case 4:
		d.out = [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		d.no = 3
	case 3:
		if q[2]&0x3 != 0 {
			d.err = &Error{d.off, "trailing bits are not zero"}
			return
		}
		d.out = [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2}
		d.no = 2
	case 2:
		if q[1]&0xf != 0 {
			d.err = &Error{d.off, "trailing bits are not zero"}
			return
		}
		d.out = [3]byte{q[0]<<2 | q[1]>>4}
		d.no = 1
	}
}

func (d *Decoder) finish() {
	switch {
	case d.pads > 0:
		d.err = &Error{d.off, "incomplete padding"}
		return
	case d.nq == 1:
		d.err = &Error{d.off, "truncated input"}
		return
	case d.nq > 1:
		d.err = &Error{d.off, "missing padding: end the last group of " + fmt.Sprint(d.nq) + " characters with '='"}
		return
	}
	if d.err == nil {
		d.err = io.EOF
	}
}
