package ocean

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHeldTail checks that a download's last bytes wait for the nonce's
// durable write, and that a failed write cuts the answer short.
func TestHeldTail(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	release := make(chan error)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := &heldTail{ResponseWriter: w, wait: func() error { return <-release }}
		http.ServeContent(held, r, "f.bin", time.Time{}, bytes.NewReader(content))
		if held.release() != nil {
			panic(http.ErrAbortHandler)
		}
	}))
	defer srv.Close()

	for _, c := range []struct {
		name    string
		outcome error
	}{{"written", nil}, {"failed", errors.New("disk full")}} {
		t.Run(c.name, func(t *testing.T) {
			// All but the held tail arrives before the write is done.
			head := make([]byte, len(content)-heldTailBytes)
			var resp *http.Response
			headRead := make(chan error, 1)
			go func() {
				var err error
				if resp, err = http.Get(srv.URL); err == nil {
					_, err = io.ReadFull(resp.Body, head)
				}
				headRead <- err
			}()
			select {
			case err := <-headRead:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				release <- nil // let the server go
				t.Fatal("the whole answer waited for the write, not only its tail")
			}
			defer resp.Body.Close()
			got := make(chan error, 1)
			var rest []byte
			go func() {
				var err error
				rest, err = io.ReadAll(resp.Body)
				got <- err
			}()
			select {
			case err := <-got:
				t.Fatalf("the tail arrived before the write was done (%d bytes, %v)", len(rest), err)
			case <-time.After(100 * time.Millisecond):
			}
			release <- c.outcome
			err := <-got
			whole := append(head, rest...)
			if c.outcome == nil {
				if err != nil || !bytes.Equal(whole, content) {
					t.Fatalf("after the write: %d bytes, %v", len(whole), err)
				}
				return
			}
			if err == nil || len(whole) == len(content) {
				t.Fatalf("a failed write still completed the answer: %d bytes, %v", len(whole), err)
			}
		})
	}

	// A Range answer is held back too (ServeContent copies it the same way).
	t.Run("range", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Range", "bytes=10-99")
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(b, content[10:100]) {
				t.Errorf("range: %q, %v", b, err)
			}
		}()
		select {
		case <-done:
			t.Fatal("a small range arrived before the write was done")
		case <-time.After(100 * time.Millisecond):
		}
		release <- nil
		<-done
	})
}
