package network_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// flipByte damages one byte in the middle of a node's stored copy; the size
// stays the same, so only hashing finds it.
func flipByte(t *testing.T, nd *testnet.Node, hash string) {
	t.Helper()
	f, err := nd.Blobs.Open(hash)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	nd.SetBlob(t, hash, b)
}

// metricLines is a node's /metrics, line by line.
func metricLines(t *testing.T, nd *testnet.Node) []string {
	t.Helper()
	req, _ := nd.Admin().NewRequest(context.Background(), http.MethodGet, "/metrics", nil)
	resp, err := nd.Admin().HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Split(string(body), "\n")
}

func auditMetric(t *testing.T, nd *testnet.Node, result string) string {
	t.Helper()
	for _, line := range metricLines(t, nd) {
		if strings.HasPrefix(line, `dds_audits{result="`+result+`"}`) {
			return strings.Fields(line)[1]
		}
	}
	return ""
}

type auditedCopy struct {
	Node, State string
	Audit       *network.Audit `json:"last_audit"`
}

// Holders prove they keep their copies: a damaged copy fails its audit, its
// holder loses it and the copy is placed elsewhere; a node that finds its
// own copy damaged heals it from a holder.
func TestAuditsFindDamagedCopies(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 4)
	content := make([]byte, 300_000) // 19 leaves: an audit picks one at random
	rand.Read(content)
	f := upload(t, nw.Nodes[0], content)
	pay(t, nw.Nodes[0], f)
	nw.Replicate(t)
	nw.Replicate(t)
	held := holders(nw, f.ID)
	if len(held) != 3 {
		t.Fatalf("copies on %d nodes, want 3", len(held))
	}

	// The housekeeper audits the other holders: all pass.
	rec, err := nw.Nodes[0].Files.Get(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var keeper *testnet.Node
	victim := -1
	for i := range held {
		if nw.Nodes[i].Key.ID() == nw.Nodes[0].Net.Keeper(rec) {
			keeper = nw.Nodes[i]
		} else if victim < 0 {
			victim = i
		}
	}
	if keeper == nil || victim < 0 {
		t.Fatalf("no keeper among holders %v", held)
	}
	if err := keeper.Net.Audit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := auditMetric(t, keeper, "passed"); got != "2" {
		t.Fatalf("passed audits: %s, want 2", got)
	}

	// One flipped byte in a holder's copy: its next audit fails, it loses
	// the copy, and the fourth node takes it.
	flipByte(t, nw.Nodes[victim], f.ContentHash)
	if err := keeper.Net.Audit(ctx); err != nil {
		t.Logf("audit pass: %v", err)
	}
	if got := auditMetric(t, keeper, "failed"); got != "1" {
		t.Fatalf("failed audits: %s, want 1", got)
	}
	owner := keeper.Client(nw.Nodes[0].UserToken)
	waitAccount(t, owner, f.ID)
	info, err := owner.Info(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Copies []auditedCopy }
	if err := json.Unmarshal(info.Meta, &meta); err != nil {
		t.Fatal(err)
	}
	original := map[string]bool{}
	for i := range held {
		original[nw.Nodes[i].Key.ID()] = true
	}
	found := false
	for _, c := range meta.Copies {
		if c.Node == nw.Nodes[victim].Key.ID() {
			found = true
			if c.State != "lost" || c.Audit == nil || c.Audit.Passed || c.Audit.Detail == "" {
				t.Fatalf("the damaged copy shows %+v", c)
			}
		} else if original[c.Node] && c.Node != keeper.Key.ID() && (c.Audit == nil || !c.Audit.Passed) {
			t.Fatalf("a good copy shows %+v", c)
		}
	}
	if !found {
		t.Fatalf("the damaged copy is not listed: %+v", meta.Copies)
	}
	nw.Replicate(t)
	nw.Replicate(t)
	now := holders(nw, f.ID)
	if _, still := now[victim]; still || len(now) != 3 {
		t.Fatalf("after the failed audit copies are on %v (victim %d)", now, victim)
	}
	for i, h := range now {
		if err := nw.Nodes[i].Blobs.Verify(h); err != nil {
			t.Fatalf("node %d copy: %v", i, err)
		}
	}

	// The keeper's own copy damaged: its pass scrubs and heals it.
	flipByte(t, keeper, f.ContentHash)
	if keeper.Blobs.Verify(f.ContentHash) == nil {
		t.Fatal("the flip did not damage the copy")
	}
	if err := keeper.Net.Audit(ctx); err != nil {
		t.Logf("audit pass: %v", err)
	}
	if err := keeper.Blobs.Verify(f.ContentHash); err != nil {
		t.Fatalf("own copy not healed: %v", err)
	}
	var got []byte
	for i := range now {
		c := nw.Nodes[i].Client(nw.Nodes[0].UserToken)
		waitAccount(t, c, f.ID)
		if got, err = io.ReadAll(mustOpen(t, c, f.ID)); err != nil || string(got) != string(content) {
			t.Fatalf("node %d serves other bytes (%v)", i, err)
		}
	}
}

func mustOpen(t *testing.T, c *client.Client, id string) io.Reader {
	t.Helper()
	body, _, err := c.Open(context.Background(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { body.Close() })
	return body
}

// A pass reaches at most --audit-bytes of content (at least one file) and
// the next goes on from there: with room for one file a pass, every file is
// audited once in as many passes as there are files.
func TestAuditPassesTakeTurns(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 3, func(_ int, c *testnet.Setup) { c.Network.AuditBytes = 1 })
	var ids []string
	for range 3 {
		content := make([]byte, 50_000)
		rand.Read(content)
		f := upload(t, nw.Nodes[0], content)
		pay(t, nw.Nodes[0], f)
		ids = append(ids, f.ID)
	}
	nw.Replicate(t)
	nw.Replicate(t)
	// The node that keeps house for the most of them audits their two other
	// holders each.
	kept := map[*testnet.Node]int{}
	for _, id := range ids {
		if n := len(holders(nw, id)); n != 3 {
			t.Fatalf("file %s has %d copies, want 3", id, n)
		}
		rec, err := nw.Nodes[0].Files.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, nd := range nw.Nodes {
			if nd.Key.ID() == nw.Nodes[0].Net.Keeper(rec) {
				kept[nd]++
			}
		}
	}
	var keeper *testnet.Node
	for nd, k := range kept {
		if keeper == nil || k > kept[keeper] {
			keeper = nd
		}
	}
	// Each pass goes on after the file the last one reached, kept in the
	// store, so a restart between passes changes nothing.
	slices.Sort(ids)
	cursor := func() string {
		c, err := persist.NewNetwork(keeper.DB).AuditCursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for round := 1; round <= 2; round++ {
		for i := range ids {
			if round == 1 && i == 1 {
				keeper.Restart(t)
			}
			if err := keeper.Net.Audit(ctx); err != nil {
				t.Fatal(err)
			}
			if c := cursor(); c != ids[i] {
				t.Fatalf("round %d, pass %d reached %s, want %s", round, i+1, c, ids[i])
			}
		}
		if got, want := auditMetric(t, keeper, "passed"), fmt.Sprint(2*kept[keeper]*round); got != want {
			t.Fatalf("after %d rounds of %d passes: %s passed audits, want %s", round, len(ids), got, want)
		}
	}
}
