package node_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// open sends a request's head and the first bytes of a body of size bytes,
// and returns the connection (to trickle more, or to read the answer).
func open(t *testing.T, nd *testnet.Node, method, path string, size int, first string, hdr ...string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(nd.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", method, path, size)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(conn, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	fmt.Fprint(conn, "\r\n"+first)
	return conn
}

// answer reads the answer on conn, trickling a byte every 50 ms meanwhile
// (the writes fail once the node has cut the body: that is expected).
func answer(t *testing.T, conn net.Conn) (int, string, http.Header) {
	t.Helper()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// Every face's bodies are guarded by the node: a trickling body is cut with
// a 408 in the face's error format; a second upload over the cap per
// address is a 429 with Retry-After.
func TestBodyGuard(t *testing.T) {
	nd := testnet.New(t, 1, func(_ int, c *testnet.Setup) {
		c.Limits = limits.Config{MinRate: 1000, Window: 300 * time.Millisecond, Idle: 2 * time.Second,
			PerAddress: 1, RetryAfter: 7 * time.Second}
	}).Nodes[0]
	user := "Bearer " + nd.UserToken
	id, err := nd.User().RegisterAsset(t.Context(), []byte(`{"name":"slow"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		hdr          []string
		want         string // in the face's error body
	}{
		{"PUT", "/api/v1/assets/" + id, []string{"Authorization", user}, `"request_timeout"`},
		{"POST", "/api/services/encrypt?chainId=8996", nil, `{"error":"the request body arrived at`},
		{"POST", "/storlets", []string{"X-Auth-Token", nd.AdminToken}, `"error":"request_timeout"`},
		{"POST", "/payments", []string{"Authorization", "Bearer " + nd.PaymentToken, "Content-Type", "application/vnd.api+json"}, `"status":"408"`},
	} {
		conn := open(t, nd, c.method, c.path, 1<<20, `{"data":{"type":"payment","attributes":{"x":"`, c.hdr...)
		status, body, h := answer(t, conn)
		if status != 408 || !strings.Contains(body, c.want) || h.Get("Retry-After") != "7" {
			t.Errorf("%s %s: %d %s %v", c.method, c.path, status, body, h)
		}
	}

	// POST /files is cut as well; internal/dds words a failed body read
	// as its own 400 until it passes the guard's *apierr.Error through.
	conn := open(t, nd, "POST", "/files", 1<<20, `{"data":{"type":"file","attributes":{"data":"`, "Authorization", user,
		"Content-Type", "application/vnd.api+json")
	if status, body, _ := answer(t, conn); status != 408 && status != 400 {
		t.Errorf("POST /files: %d %s", status, body)
	}

	// The first upload holds the address's one slot while it sends.
	first := open(t, nd, "PUT", "/api/v1/assets/"+id, 2000, strings.Repeat("a", 1000), "Authorization", user)
	time.Sleep(100 * time.Millisecond)
	second := open(t, nd, "PUT", "/api/v1/assets/"+id, 10, "0123456789", "Authorization", user)
	status, body, h := answer(t, second)
	if status != 429 || !strings.Contains(body, "too_many_uploads") || h.Get("Retry-After") != "7" {
		t.Errorf("second upload: %d %s %v", status, body, h)
	}
	first.Close()
}
