package filter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// fake upper-cases what it reads, if the account is "a"; failAfter > 0
// makes its output fail after that many bytes.
type fake struct {
	failAfter int
	got       Request
}

func (f *fake) Apply(_ context.Context, account string, req Request, in io.Reader) (io.ReadCloser, bool, error) {
	f.got = req
	if account != "a" {
		return nil, false, nil
	}
	if req.Ranged {
		return nil, false, ErrRange
	}
	b, _ := io.ReadAll(in)
	out := strings.ToUpper(string(b))
	if f.failAfter > 0 {
		return io.NopCloser(io.MultiReader(strings.NewReader(out[:f.failAfter]), errReader{})), true, nil
	}
	return io.NopCloser(strings.NewReader(out)), true, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("storlet failed") }

func server(t *testing.T, f Filter, account string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		content := strings.NewReader("hello world")
		handled, err := Serve(w, r, f, account, content, nil, "access_token")
		if err != nil {
			e, _ := apierr.As(err)
			http.Error(w, e.Code, e.Status)
			return
		}
		if !handled {
			http.ServeContent(w, r, "", time.Time{}, content)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, url string, hdr ...string) (int, string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b)), err
}

func TestServe(t *testing.T) {
	f := &fake{}
	a, b := server(t, f, "a"), server(t, f, "b")
	if st, body, err := fetch(t, a.URL+"?access_token=x&k=v", "X-Run-Storlet", "up"); st != 200 || body != "HELLO WORLD" || err != nil {
		t.Fatalf("filtered: %d %q %v", st, body, err)
	}
	if len(f.got.Params) != 1 || f.got.Params[0] != (Param{"k", "v"}) {
		t.Fatalf("the face's own query key became a parameter: %+v", f.got.Params)
	}
	if st, body, _ := fetch(t, b.URL); st != 200 || body != "hello world" {
		t.Fatalf("not applied: %d %q", st, body)
	}
	if st, body, _ := fetch(t, b.URL, "Range", "bytes=0-4"); st != 206 || body != "hello" {
		t.Fatalf("range, nothing applied: %d %q", st, body)
	}
	for _, hdr := range [][]string{{"Range", "bytes=0-4"}, {"Range", "bytes=0-4", "X-Run-Storlet", "up"}} {
		if st, body, _ := fetch(t, a.URL, hdr...); st != 400 || body != "range_with_storlet" {
			t.Fatalf("%v: %d %q", hdr, st, body)
		}
	}
	// Without a filter, naming a storlet is refused rather than ignored.
	none := server(t, nil, "a")
	if st, body, _ := fetch(t, none.URL, "X-Run-Storlet", "up"); st != 400 || body != "storlets_unavailable" {
		t.Fatalf("no filter: %d %q", st, body)
	}
	if st, body, _ := fetch(t, none.URL); st != 200 || body != "hello world" {
		t.Fatalf("no filter, plain: %d %q", st, body)
	}
	// A failure after the answer started cuts the transfer: the client
	// gets an error, never a short success.
	cut := server(t, &fake{failAfter: 3}, "a")
	if st, body, err := fetch(t, cut.URL); err == nil || (st != 0 && st != 200) || len(body) > 3 {
		t.Fatalf("cut: %d %q %v", st, body, err)
	}
}

func TestTransform(t *testing.T) {
	f := &fake{}
	in := strings.NewReader("abc")
	out, done, err := Transform(context.Background(), f, "a", Request{}, in)
	if err != nil || out != io.Reader(in) {
		t.Fatalf("no storlet named: %v", err)
	}
	done()
	out, done, err = Transform(context.Background(), f, "a", Request{Storlet: "up", Upload: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if b, _ := io.ReadAll(out); string(b) != "ABC" {
		t.Fatalf("transformed: %q", b)
	}
	if _, _, err := Transform(context.Background(), nil, "a", Request{Storlet: "up"}, in); err == nil {
		t.Fatal("a storlet named with no filter was ignored")
	}
}
