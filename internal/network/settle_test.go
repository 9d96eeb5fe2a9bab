package network_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// recordsRead is how many records a node's replication passes read so far.
func recordsRead(t *testing.T, nd *testnet.Node) int {
	t.Helper()
	total, seen := 0, false
	for _, line := range metricLines(t, nd) {
		if strings.HasPrefix(line, "dds_replication_records{") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			total, seen = total+n, true
		}
	}
	if !seen {
		t.Fatal("no dds_replication_records in /metrics")
	}
	return total
}

// A file whose copies are in place is not read again by the replication
// passes until its record or the membership changes: a pass costs what
// changed, not every file the node holds.
func TestSettledFilesAreNotReadAgain(t *testing.T) {
	nw := testnet.New(t, 4)
	content := make([]byte, 64<<10)
	rand.Read(content)
	f := upload(t, nw.Nodes[0], content)
	pay(t, nw.Nodes[0], f)
	nw.Replicate(t)
	nw.Replicate(t)
	hs := holders(nw, f.ID)
	if len(hs) != 3 {
		t.Fatalf("holders %v, want 3", hs)
	}
	// The passes so far ran at the instant membership last changed (the
	// fake clock stands still): they settle nothing for sure. A second on,
	// one more pass settles the file everywhere.
	nw.Clock.Advance(time.Second)
	nw.Replicate(t)
	nw.Clock.Advance(time.Second)
	before := map[int]int{}
	for i := range hs {
		before[i] = recordsRead(t, nw.Nodes[i])
	}
	nw.Replicate(t)
	nw.Replicate(t)
	for i := range hs {
		if got := recordsRead(t, nw.Nodes[i]); got != before[i] {
			t.Fatalf("node %d read %d records in passes over a settled file", i, got-before[i])
		}
	}
	// A change to the record (its attributes) is a new revision: read again
	// by the passes of the node it was made on (its housekeeper: the change
	// is forwarded there), and carried to the others.
	if _, err := nw.Nodes[0].User().Extend(context.Background(), f.ID, 0, map[string]any{"colour": "blue"}); err != nil {
		t.Fatal(err)
	}
	nw.Replicate(t)
	read := 0
	for i := range hs {
		read += recordsRead(t, nw.Nodes[i]) - before[i]
	}
	if read == 0 {
		t.Fatal("a changed file was not read by the next pass")
	}
	nw.Replicate(t)
	for i := range hs {
		g, err := nw.Nodes[i].Files.Get(context.Background(), f.ID)
		if err != nil || !strings.Contains(string(g.Additional), `"colour":"blue"`) {
			t.Fatalf("node %d has the file as %+v, %v", i, g, err)
		}
	}
	// A holder gone is a membership change: the others read the file again.
	nw.Clock.Advance(time.Second)
	nw.Replicate(t)
	nw.Clock.Advance(time.Second)
	var gone int
	for i := range hs {
		if i != 0 {
			gone = i
		}
	}
	for i := range hs {
		before[i] = recordsRead(t, nw.Nodes[i])
	}
	goneID := nw.Nodes[gone].Key.ID()
	nw.Nodes[gone].Stop(t)
	for i := range hs {
		if i != gone {
			waitGone(t, nw.Nodes[i], goneID)
		}
	}
	nw.Replicate(t)
	read = 0
	for i := range hs {
		if i != gone {
			read += recordsRead(t, nw.Nodes[i]) - before[i]
		}
	}
	if read == 0 {
		t.Fatal("no pass read the file after a holder left")
	}
}
