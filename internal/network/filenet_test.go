package network_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// as is a client of node i with another node's token.
func as(nw *testnet.Network, i int, token string) *client.Client {
	return nw.Nodes[i].Client(token)
}

// waitAccount waits until node i accepts a token issued elsewhere.
func waitAccount(t *testing.T, c *client.Client, fileID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Info(context.Background(), fileID)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("token never accepted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type copyInfo struct {
	Node, State string
	Share       int
}

func copiesOf(t *testing.T, f *client.File) []copyInfo {
	t.Helper()
	var meta struct{ Copies []copyInfo }
	if err := json.Unmarshal(f.Meta, &meta); err != nil {
		t.Fatalf("meta %s: %v", f.Meta, err)
	}
	return meta.Copies
}

func rawGet(t *testing.T, c *client.Client, id string, header http.Header) *http.Response {
	t.Helper()
	req, err := c.NewRequest(context.Background(), http.MethodGet, "/files/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// sumStatements adds up every running node's statement of the period.
func sumStatements(t *testing.T, nw *testnet.Network, from, to string) money.Amount {
	t.Helper()
	var sum money.Amount
	for i, nd := range nw.Nodes {
		if nd.Node == nil {
			continue
		}
		st, err := nd.Admin().Statement(context.Background(), from, to)
		if err != nil {
			t.Fatalf("node %d statement: %v", i, err)
		}
		a, _ := money.Parse(st.AmountExact)
		sum += a
	}
	return sum
}

func TestTheNetworkOwnsTheFile(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 5)
	content := make([]byte, 300<<10)
	rand.Read(content)
	tok, payTok := nw.Nodes[0].UserToken, nw.Nodes[0].PaymentToken

	f := upload(t, nw.Nodes[0], content)
	pay(t, nw.Nodes[0], f)
	nw.Replicate(t)
	if hs := holders(nw, f.ID); len(hs) != 3 {
		t.Fatalf("holders %v", hs)
	}

	// Every node answers with the same token: full reads, ranges, ETags, info.
	for i := 1; i < 5; i++ {
		c := as(nw, i, tok)
		waitAccount(t, c, f.ID)
		var buf bytes.Buffer
		if _, err := c.Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
			t.Fatalf("node %d: download: %v", i, err)
		}
		resp := rawGet(t, c, f.ID, http.Header{"Range": {"bytes=100-199"}})
		var err error
		part, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, content[100:200]) ||
			resp.Header.Get("Content-Range") != "bytes 100-199/307200" || resp.ContentLength != 100 ||
			resp.Header.Get("ETag") != `"`+f.ContentHash+`"` || !strings.Contains(resp.Header.Get("Content-Disposition"), "data.bin") {
			t.Fatalf("node %d: range read: %d %q %v", i, resp.StatusCode, resp.Header, bytes.Equal(part, content[100:200]))
		}
		head, _ := c.NewRequest(ctx, http.MethodHead, "/files/"+f.ID, nil)
		if resp, err = c.HTTP.Do(head); err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(content)) {
			t.Fatalf("node %d: HEAD: %v %v", i, resp, err)
		}
		resp.Body.Close()
		resp = rawGet(t, c, f.ID, http.Header{"If-None-Match": {`"` + f.ContentHash + `"`}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("node %d: conditional read: %d", i, resp.StatusCode)
		}
		info, err := c.Info(ctx, f.ID)
		if err != nil || info.State != "stored" || info.ContentHash != f.ContentHash || len(copiesOf(t, info)) != 3 {
			t.Fatalf("node %d: info %+v %v", i, info, err)
		}
	}
	// Another user sees nothing anywhere.
	other := as(nw, 1, nw.Nodes[1].NewUser(t))
	waitAccount(t, other, f.ID)
	var e *client.Error
	if _, err := other.Info(ctx, f.ID); !errors.As(err, &e) || e.Status != http.StatusNotFound {
		t.Fatalf("another user's info: %v", err)
	}

	// Extend through node 2, pay through node 3, then again through node 4
	// with the same Idempotency-Key: recorded once, on every holder.
	ext, err := as(nw, 2, tok).Extend(ctx, f.ID, 30*24*time.Hour, map[string]any{"tag": "x"})
	if err != nil || !ext.PaymentRequired || ext.Quote == nil {
		t.Fatalf("extend through node 2: %+v %v", ext, err)
	}
	for i := range nw.Nodes {
		info, err := as(nw, i, tok).Info(ctx, f.ID)
		if err != nil || info.Quote == nil || info.Quote.ID != ext.Quote.ID {
			t.Fatalf("node %d does not show the open extension quote: %+v %v", i, info, err)
		}
	}
	req := api.PaymentRequest{FileID: f.ID, Status: "success", Amount: ext.Quote.Price, IdempotencyKey: "ext-1"}
	p1, err := as(nw, 3, payTok).Pay(ctx, req)
	if err != nil || !p1.Applied {
		t.Fatalf("pay through node 3: %+v %v", p1, err)
	}
	p2, err := as(nw, 4, payTok).Pay(ctx, req)
	if err != nil || p2.ID != p1.ID {
		t.Fatalf("repeated payment through node 4: %+v %v", p2, err)
	}
	// The payment reads back through every node, whichever recorded it.
	for i := range nw.Nodes {
		if got, err := as(nw, i, payTok).Payment(ctx, p1.ID); err != nil || got.ID != p1.ID || got.AmountExact != ext.Quote.Price {
			t.Fatalf("payment through node %d: %+v %v", i, got, err)
		}
	}
	if _, err := as(nw, 2, payTok).Payment(ctx, "no-such-payment"); err == nil {
		t.Fatal("an unknown payment was found")
	}
	nw.Replicate(t)
	nw.Replicate(t) // settled: nothing left to push
	want := testnet.Start.Add(30 * 24 * time.Hour)
	for i := range holders(nw, f.ID) {
		rec, err := nw.Nodes[i].Files.Get(ctx, f.ID)
		if err != nil || !rec.Expires.Equal(want) || len(rec.Payments) != 2 || !strings.Contains(string(rec.Additional), `"tag":"x"`) {
			t.Fatalf("node %d record: %+v %v", i, rec, err)
		}
		n := 0
		for _, p := range rec.Payments {
			if p.ID == p1.ID {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("node %d has payment %s %d times", i, p1.ID, n)
		}
	}

	// The statements of all nodes add up to what the owner paid, exactly.
	up, _ := money.Parse(f.Quote.Price)
	more, _ := money.Parse(ext.Quote.Price)
	paid := up + more
	if got := sumStatements(t, nw, "20261101", "20261231"); got != paid {
		t.Fatalf("statements sum to %s, paid %s", got, paid)
	}

	// Node 0, which took the upload, goes for good: its copy shows gone
	// within 5 s, and after the repair delay the file is back to 3 copies.
	id0 := nw.Nodes[0].Key.ID()
	reader := as(nw, 1, tok)
	nw.Nodes[0].Stop(t)
	stopped := time.Now()
	for {
		info, err := reader.Info(ctx, f.ID)
		if err == nil && copyState(t, info, id0) == network.Gone {
			break
		}
		if time.Since(stopped) > 5*time.Second {
			t.Fatalf("node 0 not shown gone within 5 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node 0 shown gone after %v", time.Since(stopped).Round(time.Millisecond))
	for _, nd := range nw.Nodes[1:] {
		waitGone(t, nd, id0)
	}
	nw.Replicate(t)
	if hs := holders(nw, f.ID); len(hs) != 2 {
		t.Fatalf("repaired before the repair delay: %v", hs)
	}
	nw.Clock.Advance(11 * time.Minute)
	nw.Replicate(t)
	if hs := holders(nw, f.ID); len(hs) != 3 {
		t.Fatalf("after repair: holders %v", hs)
	}
	for i := 1; i < 5; i++ {
		var buf bytes.Buffer
		if _, err := as(nw, i, tok).Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
			t.Fatalf("node %d: download after repair: %v", i, err)
		}
	}
	// ...and can still be extended and paid.
	ext2, err := as(nw, 1, tok).Extend(ctx, f.ID, 40*24*time.Hour, nil)
	if err != nil || !ext2.PaymentRequired {
		t.Fatalf("extend after the loss: %+v %v", ext2, err)
	}
	if _, err := as(nw, 4, payTok).Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: ext2.Quote.Price}); err != nil {
		t.Fatal(err)
	}
	nw.Replicate(t)
	want = testnet.Start.Add(40 * 24 * time.Hour)
	for i := range holders(nw, f.ID) {
		rec, _ := nw.Nodes[i].Files.Get(ctx, f.ID)
		if !rec.Expires.Equal(want) || len(rec.Payments) != 3 {
			t.Fatalf("node %d record after the loss: %+v", i, rec)
		}
	}
	info, err := as(nw, 3, tok).Info(ctx, f.ID)
	if err != nil || !info.ExpiresAt.Equal(want) {
		t.Fatalf("info after the loss: %+v %v", info, err)
	}
}

func copyState(t *testing.T, f *client.File, node string) string {
	for _, c := range copiesOf(t, f) {
		if c.Node == node {
			return c.State
		}
	}
	return ""
}

func TestLostHolderShareIsCut(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 4)
	content := make([]byte, 1<<20)
	rand.Read(content)
	f := upload(t, nw.Nodes[0], content)
	pay(t, nw.Nodes[0], f)
	nw.Replicate(t)
	lost := -1
	for i := range holders(nw, f.ID) {
		if i != 0 {
			lost = i
		}
	}
	if lost < 0 {
		t.Fatal("no holder besides node 0")
	}
	lostID := nw.Nodes[lost].Key.ID()
	nw.Nodes[lost].Stop(t)
	for _, nd := range nw.Nodes {
		if nd.Node != nil {
			waitGone(t, nd, lostID)
		}
	}
	nw.Clock.Advance(11 * time.Minute)
	nw.Replicate(t)
	// It comes back and learns its copy went to another node: it drops the
	// copy, and its share is cut where the newcomer's starts.
	nw.Nodes[lost].Restart(t)
	nw.WaitMembers(t, 4)
	nw.Replicate(t)
	nw.Replicate(t)
	hs := holders(nw, f.ID)
	if _, ok := hs[lost]; ok || len(hs) != 3 {
		t.Fatalf("holders %v after the lost holder came back", hs)
	}
	if n, _, _ := nw.Nodes[lost].Blobs.Usage(ctx); n != 0 {
		t.Fatalf("the lost holder keeps %d blobs", n)
	}
	price, _ := money.Parse(f.Quote.Price)
	if got := sumStatements(t, nw, "20261101", "20261130"); got != price {
		t.Fatalf("statements sum to %s, paid %s", got, price)
	}
	st, _ := nw.Nodes[lost].Admin().Statement(ctx, "20261101", "20261130")
	earned, _ := money.Parse(st.AmountExact)
	if earned <= 0 || earned >= price/3 {
		t.Fatalf("the lost holder earned %s of a share of %s", earned, price/3)
	}
}

func TestRecordAPIRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 2)
	a, b := nw.Nodes[0], nw.Nodes[1]
	bm, _ := a.Net.Member(b.Key.ID())
	send := func(method, path string, body []byte) (int, string) {
		t.Helper()
		req, err := a.Net.NewSigned(ctx, bm, method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", network.Prefix + "records", "not json", 400, "bad_record"},
		{"POST", network.Prefix + "records", `{"record":{"id":"x"}}`, 400, "bad_record"},
		{"GET", network.Prefix + "records/nope", "", 404, ""},
		{"GET", network.Prefix + "as/p/admin/files/x", "", 400, "bad_principal"},
		{"GET", network.Prefix + "as/p/root/files/x", "", 400, "bad_principal"},
		{"GET", network.Prefix + "as/p/user/network", "", 404, ""},
		{"GET", network.Prefix + "as/p/user/internal/v1/hello", "", 404, ""},
		{"GET", network.Prefix + "as/p/user/files/nope", "", 404, ""},
		{"POST", network.Prefix + "as/p/user/files/x", "{}", 404, ""},
		{"GET", network.Prefix + "as/p/payment/payments", "", 404, ""},
		{"POST", network.Prefix + "audit", "not json", 400, "bad_challenge"},
		{"POST", network.Prefix + "audit", `{"file_id":"x","content_hash":"` + strings.Repeat("a", 64) + `","size":10,"leaf":5}`, 400, "bad_challenge"},
		{"POST", network.Prefix + "audit", `{"file_id":"x","content_hash":"` + strings.Repeat("a", 64) + `","size":10,"leaf":0}`, 404, ""},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		status, raw := send(c.method, c.path, body)
		if status != c.status || !strings.Contains(raw, c.code) {
			t.Errorf("%s %s %q: %d %s", c.method, c.path, c.body, status, raw)
		}
	}
	// Unsigned, and replayed, requests are refused.
	req, _ := http.NewRequest("GET", b.URL()+network.Prefix+"as/p/user/files/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned forward: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	signed, _ := a.Net.NewSigned(ctx, bm, "GET", network.Prefix+"records/x", nil)
	again := signed.Clone(ctx)
	for i, r := range []*http.Request{signed, again} {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := []int{404, 409}[i]; resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}
