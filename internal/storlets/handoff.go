package storlets

import (
	"io"
	"sync"
)

// handoff joins a storlet's stdout to what reads it, like io.Pipe, but its
// WriteTo passes each write on to the response as it is, with no copy: the
// bytes stay in the storlet's memory, whose write waits until they are
// taken.
type handoff struct {
	chunks chan []byte   // a write's bytes, offered to the reader
	taken  chan int      // how many of them the reader took
	done   chan struct{} // closed by the side that ends first
	once   sync.Once
	err    error // set before done is closed: the writer's (io.EOF at its end) or the reader's
}

func newHandoff() *handoff {
	return &handoff{chunks: make(chan []byte), taken: make(chan int), done: make(chan struct{})}
}

// Write offers p to the reader until all of it is taken or the reader
// closes.
func (h *handoff) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		select {
		case h.chunks <- p:
			// The reader holds p: wait for its answer whatever else
			// happens, as p may be in use until then.
			k := <-h.taken
			n += k
			p = p[k:]
		case <-h.done:
			return n, h.err
		}
	}
	return n, nil
}

// Read copies what the writer offers.
func (h *handoff) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	select {
	case p := <-h.chunks:
		n := copy(b, p)
		h.taken <- n
		return n, nil
	case <-h.done:
		return 0, h.err
	}
}

// WriteTo writes what the writer offers to w until the writer ends (nil at
// io.EOF) or w fails (which ends the handoff).
func (h *handoff) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		select {
		case p := <-h.chunks:
			n, err := w.Write(p)
			h.taken <- n
			total += int64(n)
			if err != nil {
				h.close(err)
				return total, err
			}
		case <-h.done:
			if h.err == io.EOF {
				return total, nil
			}
			return total, h.err
		}
	}
}

// close ends the handoff for both sides, with err as the reason (nil:
// io.EOF, the writer's normal end); the first close wins.
func (h *handoff) close(err error) {
	h.once.Do(func() {
		if err == nil {
			err = io.EOF
		}
		h.err = err
		close(h.done)
	})
}
