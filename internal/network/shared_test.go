package network_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/testnet"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// Two processes serve one node (one key, one membership identity, one data
// directory): any of them answers any request, the background work runs in
// one of them at a time, and when one stops the other carries on.
func TestTwoProcessesOneNode(t *testing.T) {
	ctx := context.Background()
	// Node 0's processes are behind one address, as behind a load balancer.
	lb := testtool.NewBalancer(t)
	first := freeAddr(t)
	lb.Set(first)
	nw := testnet.New(t, 3, func(i int, s *testnet.Setup) {
		if i == 0 {
			s.PublicURL, s.Listen = lb.URL, first
		}
		s.Shared = true
		s.SweepEvery = time.Hour // the sweep's lease is held, the sweep itself waits
		s.Lease.TTL, s.Lease.Renew = time.Second, 100*time.Millisecond
	})
	a := nw.Nodes[0]
	b := nw.AddProcess(t, 0)
	lb.Set(a.Addr(), b.Addr())
	if a.Key.ID() != b.Key.ID() {
		t.Fatalf("two processes, two ids: %s %s", a.Key.ID(), b.Key.ID())
	}
	time.Sleep(300 * time.Millisecond)
	for i, nd := range nw.Nodes {
		if got := len(nd.Net.Alive()); got != 3 {
			t.Fatalf("node %d sees %d members alive with a second process of node 0; want 3", i, got)
		}
	}
	if got := len(b.Net.Alive()); got != 3 {
		t.Fatalf("the second process sees %d members; want 3", got)
	}

	// Each piece of background work runs in exactly one of the processes.
	want := []string{"run deals", "run network", "run ocean", "sweep"}
	waitLeases(t, want, a, b)

	// Upload through one, pay, read and extend through the other.
	content := make([]byte, 200<<10)
	rand.Read(content)
	f := upload(t, a, content)
	bc := client.New("http://"+b.Addr(), a.UserToken) // this process directly, not through the balancer
	info, err := bc.Info(ctx, f.ID)
	if err != nil || info.State != "pending" {
		t.Fatalf("info through the other process: %+v %v", info, err)
	}
	pay(t, b, f)
	nw.Replicate(t)
	var buf bytes.Buffer
	if _, err := bc.Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download through the other process: %v", err)
	}
	ext, err := bc.Extend(ctx, f.ID, 30*24*time.Hour, nil)
	if err != nil || !ext.PaymentRequired {
		t.Fatalf("extend through the other process: %+v %v", ext, err)
	}
	if _, err := b.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: ext.Quote.Price}); err != nil {
		t.Fatal(err)
	}

	// One process stops: the other takes all the work, peers still see the
	// node alive, and the file is still served.
	lb.Set(b.Addr())
	a.Stop(t)
	waitLeases(t, want, b)
	time.Sleep(2 * time.Second) // longer than the suspicion timeout
	for i := 1; i < 3; i++ {
		m, ok := nw.Nodes[i].Net.Member(b.Key.ID())
		if !ok || m.State != "alive" {
			t.Fatalf("node %d sees node 0 as %+v after one of its processes stopped", i, m)
		}
	}
	buf.Reset()
	if _, err := bc.Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download after the other process stopped: %v", err)
	}
	peer := nw.Nodes[1].Client(a.UserToken)
	waitAccount(t, peer, f.ID)
	got, err := peer.Info(ctx, f.ID)
	if err != nil || got.State != "stored" {
		t.Fatalf("info through a peer: %+v %v", got, err)
	}
}

// waitLeases waits until the processes hold the leases named, each exactly once.
func waitLeases(t *testing.T, want []string, procs ...*testnet.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var held []string
		for _, p := range procs {
			held = append(held, p.Leases.Held()...)
		}
		slices.Sort(held)
		if slices.Equal(held, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases held: %v; want each of %v once", held, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A signed write taken by one process of a node is refused as a replay by
// every other process of the node (they share its nonce through the
// database), as by the one that took it. A read, whose replay does no harm,
// is refused by the process that answered it only.
func TestReplayRefusedByEveryProcess(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 2, func(i int, s *testnet.Setup) { s.Shared = true })
	a, peer := nw.Nodes[0], nw.Nodes[1]
	b := nw.AddProcess(t, 0)
	to, ok := peer.Net.Member(a.Key.ID())
	if !ok {
		t.Fatal("the peer does not know node 0")
	}
	try := func(method, path string, body []byte, procs []*testnet.Node, want []int) {
		t.Helper()
		signed, err := peer.Net.NewSigned(ctx, to, method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i, proc := range procs {
			r := signed.Clone(ctx)
			r.URL.Host = proc.Addr()
			r.Body = io.NopCloser(bytes.NewReader(body))
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want[i] {
				t.Fatalf("%s %s, request %d (to process %s): %d, want %d", method, path, i, proc.Addr(), resp.StatusCode, want[i])
			}
		}
	}
	// A record push that is not JSON is refused by the handler (400), after
	// its nonce is taken.
	try("POST", network.Prefix+"records", []byte("not json"), []*testnet.Node{a, b, a}, []int{400, 409, 409})
	try("GET", network.Prefix+"records/x", nil, []*testnet.Node{a, a, b}, []int{404, 409, 404})
}

// A payment taken by a process of a node that does not run replication
// wakes the one that does: the copies are placed well before the next
// periodic pass.
func TestPaymentWakesTheReplicatingProcess(t *testing.T) {
	const every = 10 * time.Second
	nw := testnet.New(t, 2, func(i int, s *testnet.Setup) {
		s.Shared = true
		s.Network.ReplicateEvery = every
	})
	a := nw.Nodes[0]
	b := nw.AddProcess(t, 0)
	waitLeases(t, []string{"run deals", "run network", "run ocean"}, a, b)
	idle := b // the process that does not replicate
	if slices.Contains(b.Leases.Held(), "run network") {
		idle = a
	}
	content := make([]byte, 64<<10)
	rand.Read(content)
	f := upload(t, idle, content)
	time.Sleep(every / 4) // away from the periodic pass that started with the node
	start := time.Now()
	pay(t, idle, f)
	for {
		if _, ok := holders(nw, f.ID)[1]; ok {
			break
		}
		if time.Since(start) > 2*every {
			t.Fatal("the peer never got its copy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := time.Since(start)
	t.Logf("the peer holds its copy %v after the payment", d)
	if d > every/4 {
		t.Fatalf("the peer got its copy %v after the payment, as if at the next periodic pass (every %v)", d, every)
	}
}
