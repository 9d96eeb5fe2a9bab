package console_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/console"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// world is a running network with one file uploaded through node 0, paid,
// and copied to every node.
type world struct {
	nw   *testnet.Network
	nd   *testnet.Node
	file *client.File
	job  api.ComputeJob // a compute job on the file, through the Ocean face
	deal string         // a deal's id, through the deal module
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
	return world{nw: nw, nd: nd, file: f, job: computeJob(t, nd, f.ID), deal: deal(t, nd)}
}

// computeJob publishes the file as a dataset open to raw algorithms, pays
// for computing on it and starts a job (whose algorithm is not WebAssembly:
// it fails, which the console lists too).
func computeJob(t *testing.T, nd *testnet.Node, fileID string) api.ComputeJob {
	ctx := t.Context()
	user := nd.User()
	files, _ := json.Marshal(api.FileList{Files: []api.FileObject{{Type: "dds", ID: fileID}}})
	enc, err := user.OceanEncrypt(ctx, 8996, files)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(api.ComputeOptions{AllowRawAlgorithm: true})
	ddo, _, err := user.PublishDDO(ctx, api.DDO{Version: "4.1.0", ChainID: 8996, NFTAddress: "0x00000000000000000000000000000000000000c0",
		Metadata: map[string]any{"name": "console data", "type": "dataset", "author": "t", "license": "MIT"},
		Services: []api.DDOService{{ID: "compute-1", Type: "compute", Files: enc, DatatokenAddress: "0x00000000000000000000000000000000000000d7",
			ServiceEndpoint: nd.URL(), Timeout: 3600, Price: "1", Compute: opts}}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	consumer, err := identity.FromHex(strings.Repeat("2b", 32))
	if err != nil {
		t.Fatal(err)
	}
	order, err := nd.Payer().Pay(ctx, api.PaymentRequest{Status: "success", Amount: "1",
		Extra: map[string]any{"document_id": ddo.ID, "service_id": "compute-1", "consumer_address": consumer.Address()}})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := user.ComputeStart(ctx, consumer, api.ComputeStart{
		Dataset:   api.ComputeDataset{DocumentID: ddo.ID, ServiceID: "compute-1", TransferTxID: order.ID},
		Algorithm: api.ComputeAlgorithm{Meta: &api.ComputeAlgorithmMeta{RawCode: base64.StdEncoding.EncodeToString([]byte("not wasm"))}}})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("compute start: %+v %v", jobs, err)
	}
	return jobs[0]
}

// deal registers two Bitcoin parties with the deal module and makes a deal
// between them.
func deal(t *testing.T, nd *testnet.Node) string {
	ctx := t.Context()
	d := nd.User().Deals()
	var parties [2]*api.DealPartyIn
	for i := range parties {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub := k.PubKey().SerializeCompressed()
		a, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub), &chaincfg.TestNet3Params)
		if _, err := d.AccountNew(ctx, api.DealAccountRequest{Address: a.EncodeAddress(), Key: hex.EncodeToString(pub)}); err != nil {
			t.Fatal(err)
		}
		parties[i] = &api.DealPartyIn{Address: a.EncodeAddress()}
	}
	e, err := d.CreateDeal(ctx, api.DealRequest{Type: "Prepaid", At: "http://shop.example.org",
		Date: testnet.Start.UTC().Format("2006-01-02 15:04:05") + " UTC", Seller: parties[0], Customer: parties[1],
		Payment: &api.DealPayIn{Sum: "0.00021"}})
	if err != nil {
		t.Fatalf("deal: %v", err)
	}
	return e.Doc.Deal.ID
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
	held, next, err := admin.ConsoleFiles(ctx, "", 50)
	if err != nil || next != "" {
		t.Fatal(err, next)
	}
	// A full page says where the next one starts; the page after the last
	// file is empty and says nothing.
	if page, next, err := admin.ConsoleFiles(ctx, "", 1); err != nil || len(page) != 1 || next != w.file.ID {
		t.Fatalf("a page of 1: %v, next %q, %v", page, next, err)
	}
	if page, next, err := admin.ConsoleFiles(ctx, w.file.ID, 1); err != nil || len(page) != 0 || next != "" {
		t.Fatalf("the page after the last file: %v, next %q, %v", page, next, err)
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
		st.Faces[0].Face != "dds" || st.Faces[0].Items != 1 || st.Faces[0].Bytes != w.file.Size || len(st.Copies) != len(w.nw.Nodes) {
		t.Fatalf("storage: %+v %v", st, err)
	}
	days, err := admin.ConsoleMoney(ctx, 3)
	if err != nil || len(days) != 3 {
		t.Fatalf("money: %+v %v", days, err)
	}
	today := days[2]
	price, _ := money.Parse(w.file.Quote.Price)
	paid := (price + money.Unit).String() // the file, and the compute order of 1 token
	if today.Day != testnet.Start.Format(time.DateOnly) || today.Paid != paid || today.Quoted != w.file.Quote.Price ||
		today.Accrued == "0" || today.Stored != w.file.Size || days[0].Paid != "0" {
		t.Fatalf("money per day: %+v (price %s, paid %s)", days, w.file.Quote.Price, paid)
	}

	// The newest compute jobs and deals, with what the views show.
	jobs, err := admin.ConsoleJobs(ctx, 10)
	if err != nil || len(jobs) != 1 || jobs[0].ID != w.job.JobID || jobs[0].Dataset != w.job.DocumentID ||
		jobs[0].Algorithm != "raw code" || jobs[0].StatusText == "" || jobs[0].Consumer != w.job.Owner || jobs[0].CreatedAt.IsZero() {
		t.Fatalf("jobs: %+v %v (started %+v)", jobs, err, w.job)
	}
	deals, err := admin.ConsoleDeals(ctx, 10)
	if err != nil || len(deals) != 1 || deals[0].ID != w.deal || deals[0].State != "Created" || deals[0].Sum != "0.00021" ||
		deals[0].Seller == "" || deals[0].Customer == "" {
		t.Fatalf("deals: %+v %v", deals, err)
	}

	// Every admin API the page reads refuses every role but this node's
	// admin: another node's admin too.
	other := w.nw.Nodes[1].AdminToken
	for _, path := range []string{"/network", "/storlets", "/metrics", "/accounts", "/console/api/storage", "/console/api/jobs", "/console/api/deals"} {
		for _, c := range []struct {
			token  string
			status int
		}{{w.nd.UserToken, 403}, {w.nd.PaymentToken, 403}, {other, 401}, {"", 401}, {w.nd.AdminToken, 200}} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.nd.URL()+path, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("GET %s with %q: %d, want %d", path, c.token, resp.StatusCode, c.status)
			}
		}
	}
	for _, path := range []string{"/console/api/storage", "/console/api/money", "/console/api/files", "/console/api/jobs", "/console/api/deals"} {
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
	}{{"/console/api/money?days=0", 400}, {"/console/api/money?days=x", 400}, {"/console/api/money?days=367", 400},
		{"/console/api/jobs?limit=0", 400}, {"/console/api/deals?limit=501", 400}, {"/console/api/deals?limit=x", 400}, {"/console/api/nothing", 404}} {
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
