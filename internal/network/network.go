// Package network makes a node one peer of a network: membership through
// hashicorp/memberlist (SWIM gossip, membership.go), a node-to-node HTTP API
// under /internal/v1/ whose every request is authenticated by the sending
// node's key, signed or MAC'd under a key of the pair (sign.go, pairwise.go),
// peers confirming and signing a price before it is quoted (confirm.go), and
// R copies of every paid file kept on peers chosen by rendezvous hashing
// (replicate.go).
package network

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/flagval"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/route"
)

// Config configures this node's part in the network.
type Config struct {
	Peers          []string      // HTTP URLs of nodes to join through
	GossipListen   string        // host:port for gossip; port 0 picks one; "": 127.0.0.1:0
	Confirmations  int           // peers that must confirm a price (0: none)
	Replicas       int           // copies of a paid file in all, this node's included (0 or 1: no replication)
	RepairAfter    time.Duration // how long a holder may be gone before its copies are replaced
	ReplicateEvery time.Duration // replication pass interval; <=0 disables the background loop
	AccountsEvery  time.Duration // how often peers' account events are pulled; <=0 disables the background loop
	AuditEvery     time.Duration // mean time between audit passes (randomized); <=0 disables the background loop
	AuditTimeout   time.Duration // how long a holder has to answer an audit, plus the time to read its copy slowly
	AuditBytes     int64         // content one audit pass reaches at most (at least one file); the next goes on from there; <=0: all

	URL       string        // this node's HTTP base URL, as members reach it
	PeersFile string        // remembers the URLs of the members met, to rejoin after a restart without flags; "" forgets them
	MaxSkew   time.Duration // how far a signed request's time may be from ours

	// Shared: other processes serve this node from the same database. A
	// payment one of them takes wakes replication in the one that runs it.
	Shared bool
}

// DefaultConfig is 3 confirmations and 3 copies, repaired after 10 minutes.
func DefaultConfig() Config {
	return Config{Confirmations: 3, Replicas: 3,
		RepairAfter: 10 * time.Minute, ReplicateEvery: 10 * time.Second, AccountsEvery: time.Second,
		AuditEvery: 10 * time.Minute, AuditTimeout: 10 * time.Second, AuditBytes: 1 << 30, MaxSkew: time.Minute}
}

// RegisterFlags registers the network's flags, defaulting to c's values.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(flagval.List(&c.Peers), "peer", "URL of a node to join the network through (repeatable; DDS_PEER takes a comma-separated list)")
	fs.StringVar(&c.GossipListen, "gossip-listen", c.GossipListen, "host:port for membership gossip (UDP and TCP); default the listen host and a free port")
	fs.IntVar(&c.Confirmations, "confirmations", c.Confirmations, "peers that must confirm and sign a price before it is quoted (a node that never met a peer quotes alone)")
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "copies of a paid file in the network, this node's included")
	fs.DurationVar(&c.RepairAfter, "repair-after", c.RepairAfter, "how long a node holding a copy may be gone before another takes its place")
	fs.DurationVar(&c.ReplicateEvery, "replicate-every", c.ReplicateEvery, "how often copies are checked and repaired")
	fs.DurationVar(&c.AuditEvery, "audit-every", c.AuditEvery, "mean time between audits of the copies this node keeps house for, and scrubs of its own copies (each wait is random, from half to one and a half times this)")
	fs.DurationVar(&c.AuditTimeout, "audit-timeout", c.AuditTimeout, "how long a holder has to answer an audit, beyond the time to read its copy at 20 MB/s")
	fs.Var(flagval.Bytes(&c.AuditBytes), "audit-bytes", "content one audit pass audits and scrubs at most (at least one file; 1GiB, 500MiB); the next pass goes on from there, so every file comes round (0: every file every pass)")
}

// Key is this node's identity: it names the node, signs its confirmations
// and its requests to members whose public key it does not know yet, and
// derives the pairwise keys that authenticate the others (pairwise.go).
type Key interface {
	ID() string
	SignHash(hash []byte) ([]byte, error)
	PublicKey() []byte // compressed, 33 bytes
	SharedSecret(pub *btcec.PublicKey) []byte
}

// Blobs holds the content of the files and of the copies held for others.
type Blobs interface {
	Stage(r io.Reader, limit int64, extra ...hash.Hash) (*blob.Staged, error)
	Commit(ctx context.Context, st *blob.Staged, fn func(ctx context.Context) error) error
	Restore(st *blob.Staged, want string) error
	Open(hash string) (blob.Object, error)
	Verify(hash string) error // re-hash an object: an error if it is damaged or missing
}

// Files are the records of the files this node holds.
type Files interface {
	Get(ctx context.Context, id string) (files.File, error)
	Owned(ctx context.Context, owner string, after files.Cursor, limit int) ([]files.File, error)
	StoredAfter(ctx context.Context, after string, limit int) ([]files.File, error)
	Unsettled(ctx context.Context, before time.Time) ([]files.File, error)
	Settle(ctx context.Context, f files.File, at time.Time) (bool, error)
	HasContent(ctx context.Context, hash string) (bool, error)
	Update(ctx context.Context, f files.File) (files.File, error)
	Merge(ctx context.Context, f files.File) (files.File, error)
	Hold(ctx context.Context, id string) (files.File, error)
	SetReplicas(ctx context.Context, fileID, paymentID string, n int) error
}

// Ledger prices what peers ask to confirm; it tells of paid quotes, whose
// files need copies, and of the open quotes that payments are for.
type Ledger interface {
	Price(size int64, d time.Duration) (money.Amount, error)
	Version() string // of the price schedule
	QuoteTTL() time.Duration
	OpenQuote(ctx context.Context, fileID string) (ledger.Quote, error)
	OnPaid(f ledger.PaidFunc)
}

// Deps are the network's dependencies.
type Deps struct {
	Key    Key
	Store  Store
	Blobs  Blobs
	Files  Files
	Ledger Ledger
	// Accounts are replicated to and from every peer; nil keeps them on
	// this node.
	Accounts Accounts
	// Admins may list the members (GET /network); nil serves no list.
	Admins Admins
	Clock  clock.Clock
	Log    *slog.Logger
}

// New joins (or starts) the network.
func New(ctx context.Context, cfg Config, deps Deps) (*Network, error) {
	cfg.MaxSkew = cmp.Or(cfg.MaxSkew, DefaultConfig().MaxSkew)
	cfg.GossipListen = cmp.Or(cfg.GossipListen, "127.0.0.1:0")
	n := &Network{cfg: cfg, key: deps.Key, clock: deps.Clock, log: deps.Log, members: map[string]*Member{}, procs: map[string]map[string]process{}, proc: newProcessID(),
		client: &http.Client{Transport: transport()}, pubHex: hex.EncodeToString(deps.Key.PublicKey()), nonces: newRecentNonces(2 * cfg.MaxSkew), store: deps.Store, blobs: deps.Blobs, files: deps.Files, ledger: deps.Ledger, accounts: deps.Accounts, admins: deps.Admins, kicks: make(chan struct{}, 1)}
	if err := n.loadAudits(ctx); err != nil {
		return nil, err
	}
	if err := n.join(ctx); err != nil {
		return nil, err
	}
	// A paid file needs its copies: place them soon.
	deps.Ledger.OnPaid(n.paid)
	return n, nil
}

// Routes adds the node-to-node endpoints.
func (n *Network) Routes(mux route.Mux) {
	n.serveHello(mux)
	n.handle(mux, "POST "+Prefix+"confirm", n.wrap(n.confirmFor))
	n.handle(mux, "POST "+Prefix+"records", n.wrap(n.accept))
	n.handle(mux, "GET "+Prefix+"records/{id}", n.wrap(n.serveRecord))
	n.handle(mux, "GET "+Prefix+"owners/{principal}/records", n.wrap(n.serveOwned))
	n.handle(mux, Prefix+"as/{principal}/{role}/{rest...}", n.wrap(func(w http.ResponseWriter, r *http.Request) error { return n.serveAs(mux, w, r) }))
	n.handle(mux, "GET "+Prefix+"blobs/{hash}", n.wrap(n.serveBlob))
	if n.accounts != nil {
		n.handle(mux, "POST "+accountsPath, n.wrap(n.serveAccounts))
	}
	if n.admins != nil {
		mux.HandleFunc("GET /network", n.serveMembers)
	}
	n.handle(mux, "POST "+Prefix+"audit", n.wrap(n.prove))
}

// Run pulls the peers' account events every AccountsEvery and replicates
// every ReplicateEvery, and soon after a payment, until ctx ends.
func (n *Network) Run(ctx context.Context) {
	if n.accounts != nil && n.cfg.AccountsEvery > 0 {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			clock.Every(ctx, n.cfg.AccountsEvery, nil, n.SyncAccounts)
		}()
	}
	if n.cfg.AuditEvery > 0 {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			n.auditLoop(ctx)
		}()
	}
	if n.cfg.ReplicateEvery <= 0 || n.cfg.Replicas <= 1 {
		<-ctx.Done()
		return
	}
	n.replicating.Store(true)
	defer n.replicating.Store(false)
	n.resettle() // settled by another process, or by this one before it replicated
	if n.cfg.Shared {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			clock.Every(ctx, wakePoll, nil, n.pollWakes)
		}()
	}
	// The periodic pass reads the files changed or not settled since
	// membership last changed; paced to a twentieth of the time, it stays a
	// bounded background cost when membership changes and every file is
	// read. A payment's kick runs a pass over its file alone, at once.
	report := func(err error) {
		if err != nil && ctx.Err() == nil {
			n.log.Warn("replication pass failed", "err", err)
		}
	}
	clock.Paced(ctx, n.cfg.ReplicateEvery, 20, n.kicks,
		func(ctx context.Context) { report(n.Sync(ctx)) },
		func(ctx context.Context) { report(n.syncKicked(ctx)) })
}

// Close leaves the network gracefully.
func (n *Network) Close() error {
	_ = n.ml.Leave(2 * time.Second)
	return n.ml.Shutdown()
}

// transport is the node-to-node HTTP transport: keep-alive connections to
// every member, and large buffers, since copies and proxied reads move whole
// files through it.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.ReadBufferSize = 256 << 10
	t.WriteBufferSize = 256 << 10
	return t
}

// newProcessID names this start of the process among the node's others.
func newProcessID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
