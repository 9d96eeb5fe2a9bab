package network_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/merkle"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/testnet"
)

func confirmations(t *testing.T, f *client.File) network.Record {
	t.Helper()
	if f.Quote == nil {
		t.Fatal("no quote")
	}
	var rec network.Record
	if err := json.Unmarshal(f.Quote.Confirmations, &rec); err != nil {
		t.Fatalf("confirmations %s: %v", f.Quote.Confirmations, err)
	}
	return rec
}

func upload(t *testing.T, nd *testnet.Node, content []byte) *client.File {
	t.Helper()
	f, err := nd.User().Upload(context.Background(), "data.bin", bytes.NewReader(content), client.UploadOptions{Duration: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func pay(t *testing.T, nd *testnet.Node, f *client.File) {
	t.Helper()
	if _, err := nd.Payer().Pay(context.Background(), api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price}); err != nil {
		t.Fatal(err)
	}
}

func holders(nw *testnet.Network, fileID string) map[int]string {
	out := map[int]string{}
	for i, nd := range nw.Nodes {
		if nd.Node == nil {
			continue
		}
		held, _ := nd.Net.Held(context.Background())
		if h, ok := held[fileID]; ok {
			out[i] = h
		}
	}
	return out
}

func TestConfirmReplicateRepair(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 4)
	a := nw.Nodes[0]
	content := make([]byte, 1<<20)
	rand.Read(content)

	// Upload on A: 402 with three signatures by three other nodes.
	f := upload(t, a, content)
	rec := confirmations(t, f)
	if err := rec.Verify(3); err != nil {
		t.Fatalf("confirmations: %v", err)
	}
	if len(rec.Signatures) != 3 {
		t.Fatalf("%d signatures", len(rec.Signatures))
	}
	for _, s := range rec.Signatures {
		if s.Node == a.Key.ID() {
			t.Fatal("the origin confirmed its own price")
		}
	}
	if rec.Quote.Price != f.Quote.Price || rec.Quote.FileID != f.ID || rec.Quote.ContentHash != f.ContentHash {
		t.Fatalf("signed quote %+v does not match the answer", rec.Quote)
	}
	// The peers signed the content's Merkle root, as computed independently.
	root, _ := merkle.Root(bytes.NewReader(content))
	if rec.Quote.MerkleRoot != hex.EncodeToString(root[:]) {
		t.Fatalf("signed merkle root %q, want %x", rec.Quote.MerkleRoot, root)
	}
	// Tampering with the signed quote breaks the signatures.
	bad := rec
	bad.Quote.Price = "0.000000001"
	if bad.Verify(3) == nil {
		t.Fatal("signatures verify over a changed price")
	}
	bad = rec
	bad.Quote.MerkleRoot = strings.Repeat("0", 64)
	if bad.Verify(3) == nil {
		t.Fatal("signatures verify over a changed merkle root")
	}

	// Pay: copies on three nodes in all, each verified by its hash.
	pay(t, a, f)
	nw.Replicate(t)
	hs := holders(nw, f.ID)
	if _, ok := hs[0]; len(hs) != 3 || !ok {
		t.Fatalf("holders %v, want 3 with the node that took the upload", hs)
	}
	for _, h := range hs {
		if h != f.ContentHash {
			t.Fatalf("holder has hash %s", h)
		}
	}
	info, err := a.User().Info(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Copies []struct{ Node, State string }
	}
	json.Unmarshal(info.Meta, &meta)
	if len(meta.Copies) != 3 || meta.Copies[0].State != "stored" || meta.Copies[1].State != "stored" || meta.Copies[2].State != "stored" {
		t.Fatalf("copies in info: %+v (%s)", meta.Copies, info.Meta)
	}

	// The origin loses its copy: a read heals it from a replica.
	a.SetBlob(t, f.ContentHash, nil)
	var buf bytes.Buffer
	if _, err := a.User().Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download after loss: %v", err)
	}
	if err := a.Blobs.Verify(f.ContentHash); err != nil {
		t.Fatalf("not healed: %v", err)
	}
	// Damage that keeps the size is found by the scrubber, then healed.
	damaged := bytes.Clone(content)
	damaged[100] ^= 0xff
	a.SetBlob(t, f.ContentHash, damaged)
	if bad, _ := a.Blobs.Scrub(ctx); len(bad) != 1 {
		t.Fatalf("scrub found %v", bad)
	}
	buf.Reset()
	if _, err := a.User().Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download after damage: %v", err)
	}

	// Extension reaches every copy.
	ext, err := a.User().Extend(ctx, f.ID, 20*24*time.Hour, nil)
	if err != nil || !ext.PaymentRequired {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	if err := confirmations(t, ext).Verify(3); err != nil {
		t.Fatalf("extension confirmations: %v", err)
	}
	pay(t, a, ext)
	nw.Replicate(t)

	// A holder goes away: the file stays readable, and once the holder has
	// been gone longer than the repair delay another node takes its place.
	var stopped int
	for i := range hs {
		if i != 0 {
			stopped = i
			break
		}
	}
	stoppedID := nw.Nodes[stopped].Key.ID()
	nw.Nodes[stopped].Stop(t)
	for _, nd := range nw.Nodes {
		if nd.Node != nil {
			waitGone(t, nd, stoppedID) // whichever holder keeps house repairs
		}
	}
	buf.Reset()
	if _, err := a.User().Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download with a holder down: %v", err)
	}
	nw.Replicate(t)
	if got := holders(nw, f.ID); len(got) != 2 {
		t.Fatalf("repaired before the repair delay: %v", got)
	}
	nw.Clock.Advance(11 * time.Minute)
	nw.Replicate(t)
	hs = holders(nw, f.ID)
	if len(hs) != 3 {
		t.Fatalf("after repair: holders %v", hs)
	}
	if _, ok := hs[stopped]; ok {
		t.Fatal("the stopped node still counts")
	}

	// Every holder counts its copy in its statement, for the extended term.
	for i := range hs {
		st, err := nw.Nodes[i].Admin().Statement(ctx, "20261101", "20261231")
		if err != nil || st.Size != int64(len(content)) || st.Files != 1 {
			t.Fatalf("node %d statement: %+v %v", i, st, err)
		}
	}

	// The term ends everywhere.
	nw.Clock.Advance(21 * 24 * time.Hour)
	nw.Sweep(t)
	if got := holders(nw, f.ID); len(got) != 0 {
		t.Fatalf("copies after the term: %v", got)
	}
	for i, nd := range nw.Nodes {
		if nd.Node == nil {
			continue
		}
		if n, _, _ := nd.Blobs.Usage(ctx); n != 0 {
			t.Fatalf("node %d keeps %d blobs after the term", i, n)
		}
	}
}

func waitGone(t *testing.T, nd *testnet.Node, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m, ok := nd.Net.Member(id); ok && m.State == network.Gone {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s never seen gone", id)
}

func TestNoQuorumLeavesNothing(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 4)
	a := nw.Nodes[0]
	id1, id2 := nw.Nodes[1].Key.ID(), nw.Nodes[2].Key.ID()
	nw.Nodes[1].Stop(t)
	nw.Nodes[2].Stop(t)
	waitGone(t, a, id1)
	waitGone(t, a, id2)
	_, err := a.User().Upload(ctx, "x", strings.NewReader("some content"), client.UploadOptions{})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Detail, "3 peers") {
		t.Fatalf("want 503 naming the quorum, got %v", err)
	}
	if n, _, _ := a.Blobs.Usage(ctx); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
	counts, _ := a.Files.Counts(ctx)
	for state, n := range counts {
		if n != 0 {
			t.Fatalf("%d files %s left", n, state)
		}
	}
	if objs, tmp, err := a.Blobs.Holdings(ctx); err != nil || objs != 0 || tmp != 0 {
		t.Fatalf("%d objects and %d temporaries left (%v)", objs, tmp, err)
	}
}

func TestScheduleMismatchRefused(t *testing.T) {
	nw := testnet.New(t, 4, func(i int, c *testnet.Setup) {
		if i == 3 {
			c.Ledger.PricePerGiBMonth = 2 * money.Unit
		}
	})
	_, err := nw.Nodes[0].User().Upload(context.Background(), "x", strings.NewReader("content"), client.UploadOptions{})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || !strings.Contains(e.Detail, "schedule") {
		t.Fatalf("want 503 with the schedule reason, got %v", err)
	}
}

func TestInternalRequestsAreSigned(t *testing.T) {
	nw := testnet.New(t, 2)
	a, b := nw.Nodes[0], nw.Nodes[1]
	bm, _ := a.Net.Member(b.Key.ID())
	q := network.Quote{FileID: "f", ContentHash: strings.Repeat("ab", 32), Size: 10, Duration: 60,
		Price: "0.000000001", Schedule: a.Ledger.Schedule.Version(), ExpiresAt: nw.Clock.Now().Add(time.Hour).Truncate(time.Second)}
	body, _ := json.Marshal(q)
	send := func(req *http.Request) int {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	req, _ := a.Net.NewSigned(context.Background(), bm, "POST", network.Prefix+"confirm", body)
	again := req.Clone(context.Background())
	req.Body, again.Body = io.NopCloser(bytes.NewReader(body)), io.NopCloser(bytes.NewReader(body))
	if code := send(req); code != 200 {
		t.Fatalf("signed request: %d", code)
	}
	if code := send(again); code != http.StatusConflict {
		t.Fatalf("replayed request: %d", code)
	}
	tampered, _ := a.Net.NewSigned(context.Background(), bm, "POST", network.Prefix+"confirm", body)
	tampered.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte(`"size":10`), []byte(`"size":99`), 1)))
	tampered.ContentLength = -1
	if code := send(tampered); code != http.StatusUnauthorized {
		t.Fatalf("tampered request: %d", code)
	}
	// A request signed for A cannot be sent to B.
	am := a.Net.Self()
	misdirected, _ := b.Net.NewSigned(context.Background(), am, "POST", network.Prefix+"confirm", body)
	misdirected.URL.Host = strings.TrimPrefix(b.URL(), "http://")
	misdirected.Body = io.NopCloser(bytes.NewReader(body))
	if code := send(misdirected); code != http.StatusUnauthorized {
		t.Fatalf("misdirected request: %d", code)
	}
	// A stale one is refused.
	stale, _ := a.Net.NewSigned(context.Background(), bm, "POST", network.Prefix+"confirm", body)
	nw.Clock.Advance(2 * time.Minute)
	stale.Body = io.NopCloser(bytes.NewReader(body))
	if code := send(stale); code != http.StatusUnauthorized {
		t.Fatalf("stale request: %d", code)
	}
	// External tokens do not open the internal API.
	ext, _ := b.Admin().NewRequest(context.Background(), "POST", network.Prefix+"confirm", bytes.NewReader(body))
	if code := send(ext); code != http.StatusUnauthorized {
		t.Fatalf("token on the internal API: %d", code)
	}
}

func TestNetworkListing(t *testing.T) {
	nw := testnet.New(t, 3)
	a := nw.Nodes[0]
	members, err := a.Admin().Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 3 {
		t.Fatalf("members %+v", members)
	}
	for _, m := range members {
		if m.State != network.Alive || m.URL == "" {
			t.Fatalf("member %+v", m)
		}
	}
	var e *client.Error
	if _, err := a.User().Members(context.Background()); !errors.As(err, &e) || e.Status != http.StatusForbidden {
		t.Fatalf("user sees the network: %v", err)
	}
}
