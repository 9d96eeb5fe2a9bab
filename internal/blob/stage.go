package blob

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Content is read in large chunks and each chunk is handed to every sink
// (the writer and each hash) in its own goroutine, so that hashing and
// writing overlap instead of taking turns. At most chunks buffers are in use
// per stage, whatever the content's size.
const (
	chunkSize = 1 << 20
	chunks    = 4
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

type chunk struct {
	buf  *[]byte
	n    int
	left atomic.Int32 // sinks that have not consumed it yet
}

// fanOut copies src to every sink and returns how many bytes it read. Sinks
// see the chunks in order; the first sink error stops the reading.
func fanOut(src io.Reader, sinks []io.Writer) (int64, error) {
	first := &chunk{buf: chunkPool.Get().(*[]byte)}
	defer chunkPool.Put(first.buf)
	n, err := io.ReadFull(src, *first.buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// Small content, read whole: goroutines would cost more than they
		// save, and a sink that can store it in one go does.
		for _, w := range sinks {
			var err error
			if ww, ok := w.(interface{ writeWhole([]byte) error }); ok {
				err = ww.writeWhole((*first.buf)[:n])
			} else {
				_, err = w.Write((*first.buf)[:n])
			}
			if err != nil {
				return int64(n), err
			}
		}
		return int64(n), nil
	}
	if err != nil {
		return int64(n), err
	}

	free := make(chan *chunk, chunks)
	for range chunks - 1 {
		c := &chunk{buf: chunkPool.Get().(*[]byte)}
		defer chunkPool.Put(c.buf)
		free <- c
	}
	var (
		failed atomic.Bool
		wg     sync.WaitGroup
		errs   = make([]error, len(sinks))
		feeds  = make([]chan *chunk, len(sinks))
	)
	for i, w := range sinks {
		feeds[i] = make(chan *chunk, chunks)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range feeds[i] {
				if errs[i] == nil {
					if _, err := w.Write((*c.buf)[:c.n]); err != nil {
						errs[i] = err
						failed.Store(true)
					}
				}
				if c.left.Add(-1) == 0 {
					free <- c
				}
			}
		}()
	}
	send := func(c *chunk) {
		c.left.Store(int32(len(sinks)))
		for _, f := range feeds {
			f <- c
		}
	}
	total := int64(n)
	first.n = n
	send(first)
	var rerr error
	for !failed.Load() {
		c := <-free
		n, err := io.ReadFull(src, *c.buf)
		if n > 0 {
			c.n = n
			total += int64(n)
			send(c)
		} else {
			free <- c
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	for _, f := range feeds {
		close(f)
	}
	wg.Wait()
	return total, errors.Join(append([]error{rerr}, errs...)...)
}
