package console_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/console"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// world is a running network with one file uploaded through node 0, paid,
// and copied to every node.
type world struct {
	nw   *testnet.Network
	nd   *testnet.Node
	file *client.File
}

func newWorld(t *testing.T) world {
	t.Helper()
	ctx := t.Context()
	nw := testnet.New(t, 3)
	nd := nw.Nodes[0]
	content := make([]byte, 64<<10)
	rand.Read(content)
	f, err := nd.User().Upload(ctx, "console.bin", bytes.NewReader(content), client.UploadOptions{Duration: 10 * 24 * time.Hour})
	if err != nil || !f.PaymentRequired {
		t.Fatalf("upload: %+v %v", f, err)
	}
	if _, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price}); err != nil {
		t.Fatal(err)
	}
	nw.Replicate(t)
	nw.Replicate(t)
	return world{nw: nw, nd: nd, file: f}
}

func TestConsole(t *testing.T) {
	w := newWorld(t)
	t.Run("API", func(t *testing.T) { testAPI(t, w) })
	t.Run("Chromium", func(t *testing.T) { testChromium(t, w) })
}

// The admin endpoints answer the admin with what the views draw, and
// refuse every other role with the faces' JSON:API errors.
func testAPI(t *testing.T, w world) {
	ctx := t.Context()
	admin := w.nd.Admin()
	held, err := admin.ConsoleFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := held[w.file.ID]
	if !ok || f.Name != "console.bin" || len(f.Holders) != len(w.nw.Nodes) {
		t.Fatalf("files held: %+v", held)
	}
	for _, h := range f.Holders {
		if h.State != "stored" {
			t.Errorf("copy on %s is %s", h.Node, h.State)
		}
	}
	st, err := admin.ConsoleStorage(ctx)
	if err != nil || st.DiskTotal <= 0 || st.DiskFree <= 0 || st.BlobBytes < w.file.Size || len(st.Faces) == 0 ||
		st.Faces[0].Face != "dds" || st.Faces[0].Items != 1 || st.Faces[0].Bytes != w.file.Size {
		t.Fatalf("storage: %+v %v", st, err)
	}
	days, err := admin.ConsoleMoney(ctx, 3)
	if err != nil || len(days) != 3 {
		t.Fatalf("money: %+v %v", days, err)
	}
	today := days[2]
	if today.Day != testnet.Start.Format(time.DateOnly) || today.Paid != w.file.Quote.Price || today.Quoted != w.file.Quote.Price ||
		today.Accrued == "0" || today.Stored != w.file.Size || days[0].Paid != "0" {
		t.Fatalf("money per day: %+v (price %s)", days, w.file.Quote.Price)
	}

	for _, path := range []string{"/console/api/storage", "/console/api/money", "/console/api/files"} {
		for _, c := range []struct {
			who    *client.Client
			status int
		}{{w.nd.User(), 403}, {w.nd.Payer(), 403}, {w.nd.Client(""), 401}, {w.nd.Client("not-a-token"), 401}} {
			req, _ := c.who.NewRequest(ctx, http.MethodGet, path, nil)
			_, err := c.who.Do(req)
			var e *client.Error
			if !errors.As(err, &e) || e.Status != c.status || e.Detail == "" {
				t.Errorf("%s as %q: %v, want %d", path, c.who.Token, err, c.status)
			}
		}
	}
	for _, c := range []struct {
		path   string
		status int
	}{{"/console/api/money?days=0", 400}, {"/console/api/money?days=x", 400}, {"/console/api/money?days=367", 400}, {"/console/api/nothing", 404}} {
		req, _ := admin.NewRequest(ctx, http.MethodGet, c.path, nil)
		_, err := admin.Do(req)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != c.status {
			t.Errorf("%s: %v, want %d", c.path, err, c.status)
		}
	}

	// A browser asking for / is sent to the console; an API client keeps
	// the Ocean face's JSON.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, accept string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.nd.URL()+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/", "text/html,application/xhtml+xml,*/*;q=0.8"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/" {
		t.Errorf("browser at /: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get("/", "application/json"); r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "json") {
		t.Errorf("API client at /: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/console/", "/console/console.js", "/console/console.css"} {
		if r := get(p, "*/*"); r.StatusCode != http.StatusOK || r.Header.Get("Content-Security-Policy") != console.CSP {
			t.Errorf("%s: %d, CSP %q", p, r.StatusCode, r.Header.Get("Content-Security-Policy"))
		}
	}
}
