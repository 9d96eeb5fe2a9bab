// Package node wires the spine and the faces into one running node: the one
// place that knows every part.
package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/assets"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/billing"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/compute"
	"github.com/prometheus-dds/dds/internal/dds"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/pgp"
	"github.com/prometheus-dds/dds/internal/provider"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/storlets"
)

// Config is what a node is started with. The zero value of each field means
// its default.
type Config struct {
	DataDir          string
	Listen           string        // host:port; default 127.0.0.1:8080
	PublicURL        string        // how others reach this node; default http://<listen>
	PricePerGiBMonth money.Amount  // default: the ledger's
	MinPrice         money.Amount  // default 0
	QuoteTTL         time.Duration // default: the ledger's
	MaxFileSize      int64         // default: the DDS face's
	AssetQuota       int64         // bytes of DEP-7 asset content kept at most; 0: no limit
	SweepEvery       time.Duration // default 30s; <0 disables the background sweeper

	// The network.
	Peers          []string      // HTTP URLs of nodes to join through
	GossipListen   string        // host:port for gossip; default the listen host, port chosen by the system
	Confirmations  int           // peers that must confirm a price (0: none; the CLI defaults to the network's)
	Replicas       int           // copies of a paid file in all, this node's included (0 or 1: no replication; the CLI defaults to the network's)
	RepairAfter    time.Duration // how long a holder may be gone before its copies are replaced; default: the network's
	ReplicateEvery time.Duration // replication pass interval; <0 disables the background loop; default: the network's

	BitcoinNetwork string          // mainnet, testnet (default), signet or regtest: the deal module's
	DealConfirmer  deals.Confirmer // confirms deals' Bitcoin payments; default: an admin does (deals.Manual)

	Storlets     sandbox.Limits // limits of storlet runs; zero fields take the sandbox defaults
	WasmCacheDir string         // compiled storlet code, kept across restarts; default DATA/wasm-cache

	Clock    clock.Clock
	Logger   *slog.Logger
	Provider provider.Config // the Ocean provider face (chain id, decrypters, URL guard, gateways)
	Compute  compute.Config  // compute-to-data (environments, retention)
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	lc, dc, nc := ledger.DefaultConfig(), dds.DefaultConfig(), network.DefaultConfig()
	c.PricePerGiBMonth = cmp.Or(c.PricePerGiBMonth, lc.PricePerGiBMonth)
	c.QuoteTTL = cmp.Or(c.QuoteTTL, lc.QuoteTTL)
	c.MaxFileSize = cmp.Or(c.MaxFileSize, dc.MaxFileSize)
	c.RepairAfter = cmp.Or(c.RepairAfter, nc.RepairAfter)
	c.ReplicateEvery = cmp.Or(c.ReplicateEvery, nc.ReplicateEvery)
	if c.SweepEvery == 0 {
		c.SweepEvery = 30 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.GossipListen == "" {
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil || host == "" {
			host = "0.0.0.0"
		}
		c.GossipListen = net.JoinHostPort(host, "0")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Node is a running node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	lock     *os.File
	Key      *identity.Key
	DB       *store.DB
	Blobs    *blob.Store
	Auth     *auth.Service
	Ledger   *ledger.Ledger
	Files    *files.Registry
	DDS      *dds.Service
	Billing  *billing.Service
	Net      *network.Network
	Provider *provider.Service
	Deals    *deals.Service
	Assets   *assets.Service
	Sandbox  *sandbox.Runtime
	Storlets *storlets.Service
	Compute  *compute.Service
	Metrics  *metrics.Metrics
	handler  http.Handler

	srv  *http.Server
	ln   net.Listener
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Open opens (or, the first time, creates) the node's data directory and
// every part of the node. It does not listen yet: see Start.
func Open(ctx context.Context, cfg Config) (n *Node, err error) {
	cfg.defaults()
	if cfg.DataDir == "" {
		return nil, errors.New("node: no data directory: pass --data DIR (or set DDS_DATA)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: create data directory: %w", err)
	}
	n = &Node{cfg: cfg, log: cfg.Logger}
	opened := n // "return nil, err" clears n before this runs
	defer func() {
		if err != nil {
			if opened.Net != nil {
				opened.Net.Close()
			}
			if opened.ln != nil {
				opened.ln.Close()
			}
			opened.closeStores()
		}
	}()
	if n.lock, err = lockDir(cfg.DataDir); err != nil {
		return nil, err
	}
	var created bool
	if n.Key, created, err = identity.LoadOrCreate(filepath.Join(cfg.DataDir, "node.key")); err != nil {
		return nil, err
	}
	if created {
		n.log.Info("created node key", "path", filepath.Join(cfg.DataDir, "node.key"), "node", n.Key.ID())
	}
	if n.DB, err = OpenDB(cfg.DataDir); err != nil {
		return nil, err
	}
	if n.Blobs, err = blob.Open(ctx, filepath.Join(cfg.DataDir, "blobs"), n.DB, n.log); err != nil {
		return nil, err
	}
	if n.Auth, err = OpenAuth(ctx, cfg.DataDir, n.DB, cfg.Clock, n.Key); err != nil {
		return nil, err
	}
	schedule := ledger.Schedule{PerGiBMonth: cfg.PricePerGiBMonth, MinPrice: cfg.MinPrice}
	if n.Ledger, err = ledger.Open(ctx, n.DB, cfg.Clock, schedule, cfg.QuoteTTL); err != nil {
		return nil, err
	}
	if n.Files, err = files.New(ctx, files.DefaultConfig(), files.Deps{Node: n.Key.ID(), DB: n.DB, Ledger: n.Ledger, Blobs: n.Blobs, Clock: cfg.Clock, Log: n.log}); err != nil {
		return nil, err
	}
	// Listen now, so that peers learn a URL that answers.
	if n.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("node: listen on %s: %w", cfg.Listen, err)
	}
	ncfg := network.DefaultConfig()
	ncfg.Peers, ncfg.GossipListen, ncfg.URL, ncfg.PeersFile = cfg.Peers, cfg.GossipListen, n.URL(), filepath.Join(cfg.DataDir, "peers.json")
	ncfg.Confirmations, ncfg.Replicas, ncfg.RepairAfter, ncfg.ReplicateEvery = cfg.Confirmations, cfg.Replicas, cfg.RepairAfter, cfg.ReplicateEvery
	if n.Net, err = network.New(ctx, ncfg, network.Deps{Key: n.Key, DB: n.DB, Blobs: n.Blobs, Files: n.Files, Ledger: n.Ledger, Accounts: n.Auth,
		Clock: cfg.Clock, Log: n.log}); err != nil {
		return nil, err
	}
	if cfg.WasmCacheDir == "" {
		cfg.WasmCacheDir = filepath.Join(cfg.DataDir, "wasm-cache")
	}
	if n.Sandbox, err = sandbox.New(ctx, cfg.Storlets, cfg.WasmCacheDir); err != nil {
		return nil, err
	}
	if n.Storlets, err = storlets.New(ctx, storlets.Config{MaxDependency: cfg.MaxFileSize},
		storlets.Deps{DB: n.DB, Blobs: n.Blobs, Auth: n.Auth, Sandbox: n.Sandbox, Clock: cfg.Clock, Log: n.log}); err != nil {
		return nil, err
	}
	acfg := assets.DefaultConfig()
	acfg.MaxSize, acfg.Quota, acfg.PublicURL = cfg.MaxFileSize, cfg.AssetQuota, cfg.PublicURL
	if n.Assets, err = assets.New(ctx, acfg, assets.Deps{DB: n.DB, Blobs: n.Blobs, Auth: n.Auth, Key: n.Key,
		Filter: n.Storlets, Clock: cfg.Clock, Log: n.log}); err != nil {
		return nil, err
	}
	pcfg := cfg.Provider
	pcfg.Local = map[string]provider.LocalSource{"dds": ddsFiles{n.Files, n.Blobs}, "dep7": dep7Assets{n.Assets, n.Blobs}}
	if n.Provider, err = provider.New(ctx, pcfg, n.DB, n.Key, n.Ledger, n.Auth, cfg.Clock, n.log); err != nil {
		return nil, err
	}
	if n.Billing, err = billing.New(ctx, billing.DefaultConfig(), billing.Deps{Ledger: n.Ledger, Auth: n.Auth, Files: n.Files,
		Orders: n.Provider, Remote: n.Net, Log: n.log}); err != nil {
		return nil, err
	}
	if n.Deals, err = n.openDeals(ctx); err != nil {
		return nil, err
	}
	var replicas dds.Replicas // a node that keeps no copies elsewhere heals from none
	if cfg.Replicas > 1 {
		replicas = n.Net
	}
	if n.DDS, err = dds.New(ctx, dds.Config{MaxFileSize: cfg.MaxFileSize}, dds.Deps{DB: n.DB, Files: n.Files, Ledger: n.Ledger,
		Blobs: n.Blobs, Auth: n.Auth, Confirm: n.Net, Replicas: replicas, Filter: n.Storlets, Clock: cfg.Clock, Log: n.log}); err != nil {
		return nil, err
	}
	if n.Compute, err = compute.New(ctx, cfg.Compute, cfg.DataDir, n.DB, n.Blobs, n.Provider, n.Ledger, n.Key, cfg.Clock, n.log); err != nil {
		return nil, err
	}
	if err := n.ensureAdmin(ctx); err != nil {
		return nil, err
	}
	// What a crash may have left: temp files and objects nobody refers to.
	if removed, err := n.Blobs.Collect(ctx); err != nil {
		return nil, fmt.Errorf("node: collect blobs: %w", err)
	} else if removed > 0 {
		n.log.Info("collected unreferenced blobs left by an earlier run", "count", removed)
	}
	n.Metrics = metrics.New()
	n.Files.Gauges(n.Metrics)
	n.Ledger.Gauges(n.Metrics)
	n.Metrics.Gauges("dds_compute_jobs", "Compute jobs by status code.", "status", n.Compute.Counts)
	n.Blobs.Gauges(n.Metrics)
	n.Assets.Gauges(n.Metrics)
	n.Storlets.Gauges(n.Metrics)
	n.handler = n.routes()
	mode := "network"
	if n.Net.Standalone() {
		mode = "standalone: no peers yet, prices are quoted without confirmations until one joins"
	}
	n.log.Info("node ready", "node", n.Key.ID(), "data", cfg.DataDir, "url", n.URL(),
		"price_per_gib_month", cfg.PricePerGiBMonth.String(), "quote_ttl", cfg.QuoteTTL,
		"confirmations", cfg.Confirmations, "replicas", max(cfg.Replicas, 1), "mode", mode)
	return n, nil
}

// OpenDB opens the metadata store of a data directory.
func OpenDB(dataDir string) (*store.DB, error) {
	return store.Open(filepath.Join(dataDir, "meta.db"))
}

// OpenAuth opens the principals and tokens of a data directory (also for the
// commands that manage them while the node runs). Changes are signed with the
// node key, so the network takes them.
func OpenAuth(ctx context.Context, dataDir string, db *store.DB, c clock.Clock, key *identity.Key) (*auth.Service, error) {
	secretPath := filepath.Join(dataDir, "secret.key")
	raw, err := os.ReadFile(secretPath)
	if errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if err := identity.WriteSecret(secretPath, []byte(hex.EncodeToString(b)+"\n")); err != nil {
			return nil, err
		}
		raw = []byte(hex.EncodeToString(b))
	} else if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(secret) != 32 {
		return nil, fmt.Errorf("node: %s is not 32 hex-encoded bytes", secretPath)
	}
	return auth.New(ctx, auth.Config{Secret: secret}, auth.Deps{DB: db, Clock: c, Signer: key})
}

// ensureAdmin creates the first admin and its token on first start.
func (n *Node) ensureAdmin(ctx context.Context) error {
	var admins int
	if err := n.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM principals WHERE role=?`, string(auth.RoleAdmin)).Scan(&admins); err != nil {
		return err
	}
	if admins > 0 {
		return nil
	}
	p, err := n.Auth.CreatePrincipal(ctx, "admin", auth.RoleAdmin)
	if err != nil {
		return err
	}
	tok, err := n.Auth.IssueToken(ctx, p.ID, "first start")
	if err != nil {
		return err
	}
	path := filepath.Join(n.cfg.DataDir, "admin.token")
	if err := identity.WriteSecret(path, []byte(tok+"\n")); err != nil {
		return err
	}
	n.log.Info("created the admin account; its token is in the file", "path", path)
	return nil
}

// openDeals opens the deal module, with its OpenPGP key (created on first
// start) and the node key as the module key of its escrows.
func (n *Node) openDeals(ctx context.Context) (*deals.Service, error) {
	cfg := deals.DefaultConfig()
	if n.cfg.BitcoinNetwork != "" {
		cfg.Network = n.cfg.BitcoinNetwork
	}
	path := filepath.Join(n.cfg.DataDir, "deal-pgp.asc")
	key, created, err := pgp.LoadOrCreate(path, "Prometheus DDS node "+n.Key.ID(), n.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	if created {
		n.log.Info("created the deal module's OpenPGP key", "path", path, "fingerprint", key.Fingerprint())
	}
	return deals.New(ctx, cfg, deals.Deps{DB: n.DB, Auth: n.Auth, Ledger: n.Ledger, Key: n.Key, PGP: key,
		Confirmer: n.cfg.DealConfirmer, Clock: n.cfg.Clock, Log: n.log.With("face", "deals")})
}

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", n.Metrics.Handler())
	n.DDS.Routes(mux)
	n.Billing.Routes(mux)
	n.Net.Routes(mux)
	mux.HandleFunc("GET /network", n.network)
	n.Provider.Register(mux)
	n.Deals.Routes(mux)
	n.Assets.Routes(mux)
	n.Storlets.Routes(mux)
	n.Compute.Register(mux)
	return n.Metrics.Wrap(mux)
}

// Handler is the node's HTTP handler (every face).
func (n *Node) Handler() http.Handler { return n.handler }

// Start serves in the background, with the sweeper that ends terms and the
// replication loop.
func (n *Node) Start() error {
	n.srv = &http.Server{Handler: n.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("server stopped", "err", err)
		}
	}()
	if n.cfg.SweepEvery > 0 {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			t := time.NewTicker(n.cfg.SweepEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, err := n.Sweep(ctx); err != nil && ctx.Err() == nil {
						n.log.Error("sweep failed", "err", err)
					}
				}
			}
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.Net.Run(ctx)
	}()
	n.Compute.Start()
	n.log.Info("serving", "url", n.URL())
	return nil
}

// Sweep ends expired quotes and terms now, the copies held for others, and
// compute jobs past their retention: every clean-up on the one sweeper loop.
func (n *Node) Sweep(ctx context.Context) (int, error) {
	total := 0
	for _, sweep := range []func(context.Context) (int, error){n.Files.Sweep, n.Net.Sweep, n.Compute.Sweep} {
		k, err := sweep(ctx)
		total += k
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// network lists the members this node knows (admin).
func (n *Node) network(w http.ResponseWriter, r *http.Request) {
	p, err := n.Auth.Bearer(r)
	if err == nil && !p.IsAdmin() {
		err = apierr.Forbidden("the member list needs an admin token")
	}
	if err != nil {
		jsonapi.WriteError(w, n.log, err)
		return
	}
	var data []jsonapi.Out
	for _, m := range n.Net.Members() {
		data = append(data, jsonapi.Out{Type: "member", ID: m.ID, Attributes: m})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]any{
		"confirmations": n.cfg.Confirmations, "replicas": max(n.cfg.Replicas, 1), "standalone": n.Net.Standalone()}})
}

// URL is the node's base URL.
func (n *Node) URL() string {
	if n.cfg.PublicURL != "" {
		return strings.TrimRight(n.cfg.PublicURL, "/")
	}
	if n.ln != nil {
		return "http://" + n.ln.Addr().String()
	}
	return "http://" + n.cfg.Listen
}

// Close stops serving (letting requests in flight finish for a few seconds)
// and closes the stores.
func (n *Node) Close() error {
	if n.Net != nil {
		n.Net.Close()
	}
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.srv.Shutdown(ctx)
		n.stop()
		n.wg.Wait()
	} else if n.ln != nil {
		n.ln.Close()
	}
	return n.closeStores()
}

func (n *Node) closeStores() error {
	if n.Compute != nil {
		n.Compute.Close() // its runs use the stores
		n.Compute = nil
	}
	var err error
	if n.Sandbox != nil {
		n.Sandbox.Close(context.Background())
		n.Sandbox = nil
	}
	if n.DB != nil {
		err = n.DB.Close()
		n.DB = nil
	}
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
	return err
}

// lockDir takes an exclusive lock on the data directory, so two nodes never
// share one.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("node: data directory %s is in use by another dds process", dir)
	}
	return f, nil
}
