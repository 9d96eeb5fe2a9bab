package limits

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// server reads every body whole and answers its size, or the error as the
// faces do (status from the *apierr.Error, the headers the guard set).
func server(t *testing.T, cfg Config) *httptest.Server {
	srv := httptest.NewServer(New(cfg, nil).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadAll(w, r, 1<<20, "the body")
		if err != nil {
			e, _ := apierr.As(err)
			w.WriteHeader(e.Status)
			fmt.Fprint(w, e.Code)
			return
		}
		fmt.Fprint(w, len(b))
	})))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status     int
	body       string
	retryAfter string
	took       time.Duration
}

// trickle sends a request whose body of size bytes comes chunk bytes every
// every, and returns the answer. It stops sending once the answer came.
func trickle(t *testing.T, url, token string, size, chunk int, every time.Duration) answer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", size)
	if token != "" {
		fmt.Fprintf(conn, "Authorization: Bearer %s\r\n", token)
	}
	fmt.Fprint(conn, "\r\n")
	got := make(chan answer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			got <- answer{status: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b), resp.Header.Get("Retry-After"), time.Since(start)}
	}()
	for sent := 0; sent < size; sent += chunk {
		select {
		case a := <-got:
			return a
		case <-time.After(every):
		}
		if _, err := conn.Write([]byte(strings.Repeat("x", min(chunk, size-sent)))); err != nil {
			break
		}
	}
	select {
	case a := <-got:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return answer{}
}

func TestSlowBodyIsCut(t *testing.T) {
	srv := server(t, Config{MinRate: 1000, Window: 300 * time.Millisecond, Idle: time.Second, RetryAfter: 2 * time.Second})
	// 4 bytes every 20 ms is 200 B/s: cut at the end of the first window.
	a := trickle(t, srv.URL, "", 10000, 4, 20*time.Millisecond)
	if a.status != 408 || a.body != "request_timeout" || a.retryAfter != "2" {
		t.Fatalf("trickling body: %+v", a)
	}
	if a.took > 2*time.Second {
		t.Errorf("cut after %s", a.took)
	}
}

func TestHonestSlowBodyPasses(t *testing.T) {
	srv := server(t, Config{MinRate: 1000, Window: 300 * time.Millisecond, Idle: time.Second})
	// 100 bytes every 25 ms is 4000 B/s: slow, but with room above the
	// minimum for a loaded machine's scheduling, for several windows.
	if a := trickle(t, srv.URL, "", 6000, 100, 25*time.Millisecond); a.status != 200 || a.body != "6000" {
		t.Fatalf("honest slow body: %+v", a)
	}
}

func TestStalledBodyIsCut(t *testing.T) {
	srv := server(t, Config{Idle: 300 * time.Millisecond})
	a := trickle(t, srv.URL, "", 10, 5, 100*time.Hour) // sends nothing
	if a.status != 408 || a.took > 2*time.Second {
		t.Fatalf("stalled body: %+v", a)
	}
}

func TestUploadCaps(t *testing.T) {
	for _, c := range []struct {
		name       string
		cfg        Config
		tokens     [2]string
		status     int
		retryAfter string
	}{
		{"per address", Config{PerAddress: 1, RetryAfter: 3 * time.Second}, [2]string{"a", "b"}, 429, "3"},
		{"per principal", Config{PerPrincipal: 1, RetryAfter: time.Second}, [2]string{"a", "a"}, 429, "1"},
		{"other principal", Config{PerPrincipal: 1}, [2]string{"a", "b"}, 200, ""},
		{"in all", Config{Total: 1, RetryAfter: 500 * time.Millisecond}, [2]string{"a", "b"}, 503, "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := server(t, c.cfg)
			// The first upload sends a byte and holds its slot until we let go.
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nAuthorization: Bearer %s\r\n\r\nx", c.tokens[0])
			time.Sleep(100 * time.Millisecond) // the handler reads the first byte
			a := trickle(t, srv.URL, c.tokens[1], 1, 1, time.Millisecond)
			if a.status != c.status || a.retryAfter != c.retryAfter {
				t.Fatalf("second upload: %+v", a)
			}
			// Once the first ends, its slot is free again.
			fmt.Fprint(conn, "x")
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("first upload: %v %v", resp, err)
			}
			conn.Close()
			if a := trickle(t, srv.URL, c.tokens[1], 1, 1, time.Millisecond); a.status != 200 {
				t.Fatalf("after the first ended: %+v", a)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	srv := server(t, Config{})
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 1<<20+1)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(b) != "too_large" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if Classify(io.ErrUnexpectedEOF, "x") != nil {
		t.Fatal("an unrelated error was classified")
	}
}

// --body-min-rate takes a unit, and shows its default with one.
func TestMinRateFlag(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if f := fs.Lookup("body-min-rate"); f.DefValue != "1KiB" {
		t.Fatalf("default shown as %q", f.DefValue)
	}
	if err := fs.Parse([]string{"--body-min-rate", "2KiB"}); err != nil || cfg.MinRate != 2048 {
		t.Fatalf("2KiB: %d %v", cfg.MinRate, err)
	}
}
