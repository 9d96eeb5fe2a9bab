// Package testnet starts real nodes on loopback ports with temporary data
// directories, inside one test, and hands out clients for each role. Tests
// drive the nodes only through HTTP.
package testnet

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// Start is the fake clock every node of a test network starts at.
var Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Network is a set of running nodes sharing one fake clock.
type Network struct {
	t     testing.TB
	Clock *clock.Fake
	Nodes []*Node
	size  int      // nodes the network was made with: sets confirmations and copies
	opts  []Option // applied to every node, also to those added later
}

// Node is one node of the network, with a token per role.
type Node struct {
	*node.Node
	Config       node.Config
	Deps         node.Deps
	AdminToken   string
	UserToken    string
	PaymentToken string
	net          *Network
	addr         string
}

// Option changes the configuration (or the dependencies) of every node
// before it starts; i is the node's index.
type Option func(i int, s *Setup)

// Setup is what a node is opened with.
type Setup struct {
	node.Config
	Deps node.Deps
}

// New starts n nodes. They are closed when the test ends.
func New(t testing.TB, n int, opts ...Option) *Network {
	t.Helper()
	nw := &Network{t: t, Clock: clock.NewFake(Start), size: n, opts: opts}
	for i := 0; i < n; i++ {
		nw.add(t)
	}
	if n > 1 {
		nw.WaitMembers(t, n)
	}
	return nw
}

// Add starts one more node, joined through node 0 like the others, and
// waits until every running node knows it.
func (nw *Network) Add(t testing.TB) *Node {
	t.Helper()
	nd := nw.add(t)
	running := 0
	for _, o := range nw.Nodes {
		if o.Node != nil {
			running++
		}
	}
	nw.WaitMembers(t, running)
	return nd
}

func (nw *Network) add(t testing.TB) *Node {
	t.Helper()
	i := len(nw.Nodes)
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Meta = testtool.Meta(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.Blobs.Location = testtool.Blobs(t) // DDS_TEST_BLOBS=s3: a fresh bucket
	cfg.SweepEvery = -1                    // tests sweep and replicate explicitly, after moving the clock
	cfg.Network.ReplicateEvery = -1
	cfg.Network.Confirmations = min(3, nw.size-1)
	cfg.Network.Replicas = min(3, nw.size)
	if i > 0 {
		cfg.Network.Peers = []string{nw.Nodes[0].URL()}
	}
	setup := Setup{Config: cfg, Deps: node.Deps{Clock: nw.Clock, Log: logger(t).With("node", i)}}
	for _, o := range nw.opts {
		o(i, &setup)
	}
	nd := &Node{Config: setup.Config, Deps: setup.Deps, net: nw}
	// Registered after the data directory's own clean-up, so it runs first:
	// the node is closed before its directory is removed.
	t.Cleanup(func() {
		if nd.Node != nil {
			nd.Node.Close()
		}
	})
	nd.start(t)
	nd.AdminToken = nd.token(t, auth.RoleAdmin)
	nd.UserToken = nd.token(t, auth.RoleUser)
	nd.PaymentToken = nd.token(t, auth.RolePayment)
	nw.Nodes = append(nw.Nodes, nd)
	return nd
}

func logger(t testing.TB) *slog.Logger {
	if os.Getenv("DDS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (nd *Node) start(t testing.TB) {
	t.Helper()
	cfg := nd.Config
	if nd.addr != "" {
		cfg.Listen = nd.addr // a restart keeps its address
	}
	n, err := node.Open(context.Background(), cfg, nd.Deps)
	if err != nil {
		t.Fatal(err)
	}
	nd.addr = strings.TrimPrefix(n.URL(), "http://")
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	nd.Node = n
}

func (nd *Node) token(t testing.TB, role auth.Role) string {
	t.Helper()
	ctx := context.Background()
	p, err := nd.Auth.CreatePrincipal(ctx, "", role)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := nd.Auth.IssueToken(ctx, p.ID, "testnet")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// NewUser creates another user principal and returns its token.
func (nd *Node) NewUser(t testing.TB) string { return nd.token(t, auth.RoleUser) }

// URL is the node's base URL (stable across restarts).
func (nd *Node) URL() string { return "http://" + nd.addr }

// Client returns a client of this node using token.
func (nd *Node) Client(token string) *client.Client { return client.New(nd.URL(), token) }

// User, Payer and Admin return clients with the role's token.
func (nd *Node) User() *client.Client  { return nd.Client(nd.UserToken) }
func (nd *Node) Payer() *client.Client { return nd.Client(nd.PaymentToken) }
func (nd *Node) Admin() *client.Client { return nd.Client(nd.AdminToken) }

// Stop stops the node, keeping its data directory.
func (nd *Node) Stop(t testing.TB) {
	t.Helper()
	if nd.Node != nil {
		if err := nd.Node.Close(); err != nil {
			t.Fatal(err)
		}
		nd.Node = nil
	}
}

// Restart stops the node if it runs and starts it again on the same address
// and data directory.
func (nd *Node) Restart(t testing.TB) {
	t.Helper()
	nd.Stop(t)
	nd.start(t)
}

// Sweep runs every node's sweeper now.
func (nw *Network) Sweep(t testing.TB) {
	t.Helper()
	for _, nd := range nw.Nodes {
		if nd.Node != nil {
			if _, err := nd.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Replicate runs every node's replication pass now.
func (nw *Network) Replicate(t testing.TB) {
	t.Helper()
	for _, nd := range nw.Nodes {
		if nd.Node != nil {
			if err := nd.Net.Sync(context.Background()); err != nil {
				t.Logf("replication pass: %v", err)
			}
		}
	}
}

// WaitMembers waits until every running node sees want members alive
// (itself included), or fails the test after a while.
func (nw *Network) WaitMembers(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, nd := range nw.Nodes {
			if nd.Node != nil && len(nd.Net.Alive()) != want {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for i, nd := range nw.Nodes {
				if nd.Node != nil {
					t.Logf("node %d sees %d alive", i, len(nd.Net.Alive()))
				}
			}
			t.Fatalf("the network did not settle on %d live members", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AddProcess starts another process of node i: a second node.Node on the
// same data directory (both must run with Config.Shared), as an operator
// runs several processes of one node behind one address. It is not one of
// nw.Nodes: the network still has as many members.
func (nw *Network) AddProcess(t testing.TB, i int) *Node {
	t.Helper()
	of := nw.Nodes[i]
	cfg := of.Config
	cfg.Listen = "127.0.0.1:0"
	cfg.Network.GossipListen = ""
	nd := &Node{Config: cfg, Deps: of.Deps, net: nw,
		AdminToken: of.AdminToken, UserToken: of.UserToken, PaymentToken: of.PaymentToken}
	t.Cleanup(func() {
		if nd.Node != nil {
			nd.Node.Close()
		}
	})
	nd.start(t)
	return nd
}

// SetBlob replaces the bytes the node keeps for hash with content, or
// removes them if content is nil: damage or loss behind the node's back,
// in its metadata row (a small object), its directory or its bucket.
func (nd *Node) SetBlob(t testing.TB, hash string, content []byte) {
	t.Helper()
	ctx := context.Background()
	refs := persist.NewBlobs(nd.DB)
	key, inline, ok, err := refs.Find(ctx, hash)
	if err != nil || !ok {
		t.Fatalf("the row of blob %s: %v", hash, err)
	}
	if inline != nil {
		if err := refs.Move(ctx, hash, key, content); err != nil {
			t.Fatal(err)
		}
		return
	}
	if nd.Config.Blobs.Location == "" {
		p := filepath.Join(nd.Config.DataDir, "blobs", "objects", hash[:2], hash)
		if content == nil {
			err = os.Remove(p)
		} else {
			err = os.WriteFile(p, content, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	loc, err := blob.ParseS3(nd.Config.Blobs.Location)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := minio.New(loc.Endpoint, &minio.Options{Creds: credentials.NewEnvAWS(), Secure: !loc.Insecure})
	if err != nil {
		t.Fatal(err)
	}
	if content == nil {
		err = cl.RemoveObject(ctx, loc.Bucket, key, minio.RemoveObjectOptions{})
	} else {
		_, err = cl.PutObject(ctx, loc.Bucket, key, bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}
