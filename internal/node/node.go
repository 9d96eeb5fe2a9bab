// Package node wires the spine and the faces into one running node: the one
// place that knows every part. Each part is built once, in dependency order,
// with New(ctx, its Config, its Deps); node then treats them alike through
// the small interfaces below (routes, gauges, sweeps, background work).
package node

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/accounts"
	"github.com/prometheus-dds/dds/internal/assets"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/billing"
	"github.com/prometheus-dds/dds/internal/bitcoin"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/console"
	"github.com/prometheus-dds/dds/internal/dds"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/lease"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/openapi"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/route"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/storlets"
)

// Config is what a node is started with: its own few settings and each
// part's Config, whose defaults and flags the part owns.
type Config struct {
	DataDir string
	// Meta is the metadata database: "" for DATA/meta.db (SQLite), or
	// postgres://user:password@host:port/database.
	Meta       string
	Listen     string        // host:port
	PublicURL  string        // how others reach this node; "" means http://<listen>
	SweepEvery time.Duration // how often ended terms, lapsed quotes and old jobs are swept; <=0: never in the background
	AccessLog  bool          // log every request at info level
	// Shared lets several processes serve this one node, sharing its data
	// directory and database: the directory is not locked, and each piece of
	// background work runs in whichever process holds its lease.
	Shared bool
	Lease  lease.Config
	Pprof  bool // serve Go's profiler under /debug/pprof/ to admins
	// WasmCacheDir keeps compiled storlet code across restarts; "" means
	// DATA/wasm-cache.
	WasmCacheDir string

	Blobs    blob.Config // "" location: DATA/blobs
	Ledger   ledger.Config
	DDS      dds.Config // its MaxFileSize bounds every face's uploads
	Network  network.Config
	Assets   assets.Config
	Deals    deals.Config
	Sandbox  sandbox.Limits // storlet runs
	Storlets storlets.Config
	Ocean    ocean.Config
	Limits   limits.Config // request bodies, every face
	Metrics  metrics.Config
}

// DefaultConfig is every part's defaults, listening on 127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{
		Listen:     "127.0.0.1:8080",
		SweepEvery: 30 * time.Second,
		Lease:      lease.DefaultConfig(),
		Blobs:      blob.DefaultConfig(),
		Ledger:     ledger.DefaultConfig(),
		DDS:        dds.DefaultConfig(),
		Network:    network.DefaultConfig(),
		Assets:     assets.DefaultConfig(),
		Deals:      deals.DefaultConfig(),
		Sandbox:    sandbox.DefaultLimits(),
		Storlets:   storlets.DefaultConfig(),
		Ocean:      ocean.DefaultConfig(),
		Limits:     limits.DefaultConfig(),
		Metrics:    metrics.DefaultConfig(),
	}
}

// RegisterFlags registers the flags of the node and of every part, each
// defaulting to c's value. The data directory and the listen address are
// left to the command, whose defaults differ (serve, devnet).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.SweepEvery, "sweep-every", c.SweepEvery, "how often ended terms and expired quotes are swept")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log every request (method, path, status, bytes, time; never query strings or tokens)")
	fs.BoolVar(&c.Shared, "shared", c.Shared, "several dds processes serve this one node, sharing its --meta database and --blobs (or one data directory): the node's keys are kept in the database for them, and each piece of background work (sweeps, replication, compute, deal watching) runs in one of them at a time, under a lease")
	fs.DurationVar(&c.Lease.TTL, "lease-ttl", c.Lease.TTL, "with --shared: how soon another process takes over the background work of one that died")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve Go's profiler (net/http/pprof) under /debug/pprof/ to admin tokens")
	c.Blobs.RegisterFlags(fs)
	c.Ledger.RegisterFlags(fs)
	c.DDS.RegisterFlags(fs)
	c.Network.RegisterFlags(fs)
	c.Assets.RegisterFlags(fs)
	c.Deals.RegisterFlags(fs)
	c.Sandbox.RegisterFlags(fs)
	c.Ocean.RegisterFlags(fs)
	c.Limits.RegisterFlags(fs)
	c.Metrics.RegisterFlags(fs)
}

// Deps are what a node is given rather than configured with.
type Deps struct {
	Clock clock.Clock  // default the real clock
	Log   *slog.Logger // default slog.Default()
	// DealConfirmer confirms deals' Bitcoin payments; nil: an admin does
	// (deals.Manual).
	DealConfirmer deals.Confirmer
}

// What node does with its parts, each optional: a part that has routes
// serves them, one with gauges reports them, and so on.
type (
	router  interface{ Routes(mux route.Mux) }
	gauged  interface{ Gauges(m *metrics.Metrics) }
	sweeper interface {
		Sweep(ctx context.Context) (int, error)
	}
	runner interface{ Run(ctx context.Context) }
	closer interface{ Close() error }
)

// Node is a running node.
type Node struct {
	cfg  Config
	log  *slog.Logger
	lock *os.File

	Key      *identity.Key
	DB       *store.DB
	Leases   *lease.Leases
	Blobs    *blob.Store
	Auth     *auth.Service
	Ledger   *ledger.Ledger
	Files    *files.Registry
	Net      *network.Network
	Sandbox  *sandbox.Runtime
	Storlets *storlets.Service
	Assets   *assets.Service
	Ocean    *ocean.Service
	Billing  *billing.Service
	Deals    *deals.Service
	DDS      *dds.Service
	Accounts *accounts.Service
	Metrics  *metrics.Metrics

	parts   []any // the parts above, in the order built
	handler http.Handler
	routes  []string // every pattern on the mux, for the OpenAPI test
	srv     *http.Server
	ln      net.Listener
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// Open opens (or, the first time, creates) the node's data directory and
// every part of the node. It listens, so that peers learn a URL that
// answers, but serves only after Start.
func Open(ctx context.Context, cfg Config, deps Deps) (n *Node, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: no data directory: pass --data DIR (or set DDS_DATA)")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultConfig().Listen
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: create data directory: %w", err)
	}
	n = &Node{cfg: cfg, log: deps.Log}
	opened := n // "return nil, err" clears n before this runs
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	if err := n.open(ctx, deps); err != nil {
		return nil, err
	}
	n.Metrics = metrics.New()
	n.Leases.Gauges(n.Metrics)
	for _, p := range n.parts {
		if g, ok := p.(gauged); ok {
			g.Gauges(n.Metrics)
		}
	}
	n.handler = n.buildHandler()
	mode := "network"
	if n.Net.Standalone() {
		mode = "standalone: no peers yet, prices are quoted without confirmations until one joins"
	}
	n.log.Info("node ready", "node", n.Key.ID(), "data", cfg.DataDir, "url", n.URL(),
		"price_per_gib_month", cfg.Ledger.PricePerGiBMonth.String(), "quote_ttl", cfg.Ledger.QuoteTTL,
		"confirmations", cfg.Network.Confirmations, "replicas", max(cfg.Network.Replicas, 1), "mode", mode)
	return n, nil
}

// open builds the spine, then the faces on it, each part from those built
// before it.
func (n *Node) open(ctx context.Context, deps Deps) (err error) {
	cfg, c, log := n.cfg, deps.Clock, deps.Log
	if !cfg.Shared {
		if n.lock, err = lockDir(cfg.DataDir); err != nil {
			return err
		}
	}
	if n.DB, err = OpenDB(ctx, cfg.Meta, cfg.DataDir); err != nil {
		return err
	}
	if err := adoptSecrets(ctx, persist.NewSecrets(n.DB), cfg.DataDir); err != nil {
		return err
	}
	if n.Key, err = loadKey(cfg.DataDir, log); err != nil {
		return err
	}
	if n.Leases, err = lease.New(ctx, cfg.Lease, lease.Deps{Store: persist.NewLeases(n.DB), Log: log}); err != nil {
		return err
	}
	bcfg := cfg.Blobs
	bcfg.Dir = filepath.Join(cfg.DataDir, "blobs")
	bcfg.Shared = cfg.Shared
	if n.Blobs, err = blob.New(ctx, bcfg, blob.Deps{Refs: persist.NewBlobs(n.DB), Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Blobs)
	if n.Auth, err = OpenAuth(ctx, cfg.DataDir, n.DB, c, n.Key); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Auth)
	if n.Ledger, err = ledger.New(ctx, cfg.Ledger, ledger.Deps{Store: persist.NewLedger(n.DB), Clock: c}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Ledger)
	if n.Files, err = files.New(ctx, files.DefaultConfig(), files.Deps{Node: n.Key.ID(), Store: persist.NewFiles(n.DB), Ledger: n.Ledger, Blobs: n.Blobs, Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Files)
	if n.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("node: listen on %s: %w", cfg.Listen, err)
	}
	ncfg := cfg.Network
	ncfg.URL, ncfg.PeersFile = n.URL(), filepath.Join(cfg.DataDir, "peers.json")
	ncfg.Shared = cfg.Shared
	if ncfg.GossipListen == "" { // the listen host, a port of the system's choice
		host, _, _ := net.SplitHostPort(cfg.Listen)
		ncfg.GossipListen = net.JoinHostPort(host, "0")
	}
	if n.Net, err = network.New(ctx, ncfg, network.Deps{Key: n.Key, Store: persist.NewNetwork(n.DB), Blobs: n.Blobs, Files: n.Files, Ledger: n.Ledger,
		Accounts: n.Auth, Admins: n.Auth, Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Net)
	cache := cmp.Or(cfg.WasmCacheDir, filepath.Join(cfg.DataDir, "wasm-cache"))
	if n.Sandbox, err = sandbox.New(ctx, cfg.Sandbox, cache); err != nil {
		return err
	}
	if err := n.openFaces(ctx, deps); err != nil {
		return err
	}
	if err := ensureAdmin(ctx, cfg.DataDir, n.Auth, log); err != nil {
		return err
	}
	if cfg.Shared { // the database then holds the keys: guard it as the key files
		if err := publishSecrets(ctx, persist.NewSecrets(n.DB), cfg.DataDir); err != nil {
			return err
		}
	}
	// What a crash may have left: temp files and objects nobody refers to.
	// Not while other processes may be writing them.
	if cfg.Shared {
		return nil
	}
	if removed, err := n.Blobs.Collect(ctx); err != nil {
		return fmt.Errorf("node: collect blobs: %w", err)
	} else if removed > 0 {
		log.Info("collected unreferenced blobs left by an earlier run", "count", removed)
	}
	return nil
}

// openFaces builds the faces on the spine.
func (n *Node) openFaces(ctx context.Context, deps Deps) (err error) {
	cfg, c, log := n.cfg, deps.Clock, deps.Log
	// One limit on the size of what any face stores.
	scfg := cfg.Storlets
	scfg.MaxDependency = cfg.DDS.MaxFileSize
	if n.Storlets, err = storlets.New(ctx, scfg, storlets.Deps{Store: persist.NewStorlets(n.DB), Blobs: n.Blobs, Auth: n.Auth, Sandbox: n.Sandbox,
		Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Storlets)
	acfg := cfg.Assets
	acfg.MaxSize, acfg.PublicURL = cfg.DDS.MaxFileSize, cfg.PublicURL
	if n.Assets, err = assets.New(ctx, acfg, assets.Deps{Store: persist.NewAssets(n.DB), Blobs: n.Blobs, Auth: n.Auth, Key: n.Key,
		Filter: n.Storlets, Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Assets)
	ocfg := cfg.Ocean
	ocfg.Dir = filepath.Join(cfg.DataDir, "compute")
	if n.Ocean, err = ocean.New(ctx, ocfg, ocean.Deps{Store: persist.NewOcean(n.DB), Jobs: persist.NewCompute(n.DB), Key: n.Key, Ledger: n.Ledger, Auth: n.Auth, Blobs: n.Blobs,
		Local: map[string]ocean.LocalSource{"dds": ddsFiles{n.Files, n.Blobs}, "dep7": dep7Assets{n.Assets, n.Blobs}},
		Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Ocean)
	if n.Billing, err = billing.New(ctx, billing.DefaultConfig(), billing.Deps{Ledger: n.Ledger, Auth: n.Auth, Files: n.Files,
		Remote: n.Net, Orders: n.Ocean, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Billing)
	pgpKey, err := loadPGP(cfg.DataDir, n.Key, c, log)
	if err != nil {
		return err
	}
	var chain deals.Chain // nil: no Bitcoin node, an admin confirms payments
	if btcNode, err := bitcoin.New(cfg.Deals.Chain, cfg.Deals.Network); err != nil {
		return err
	} else if btcNode != nil {
		chain = btcNode
	}
	if n.Deals, err = deals.New(ctx, cfg.Deals, deals.Deps{Store: persist.NewDeals(n.DB), Auth: n.Auth, Ledger: n.Ledger, Key: n.Key, PGP: pgpKey,
		Confirmer: deps.DealConfirmer, Chain: chain, Clock: c, Log: log.With("face", "deals")}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Deals)
	var replicas dds.Replicas // a node that keeps no copies elsewhere heals from none
	if cfg.Network.Replicas > 1 {
		replicas = n.Net
	}
	if n.DDS, err = dds.New(ctx, cfg.DDS, dds.Deps{Store: persist.NewDDS(n.DB), Files: n.Files, Ledger: n.Ledger, Blobs: n.Blobs, Auth: n.Auth,
		Confirm: n.Net, Replicas: replicas, Filter: n.Storlets, Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.DDS)
	if n.Accounts, err = accounts.New(ctx, accounts.DefaultConfig(), accounts.Deps{Auth: n.Auth, Clock: c, Log: log}); err != nil {
		return err
	}
	n.parts = append(n.parts, n.Accounts)
	cons, err := console.New(ctx, console.Config{DataDir: cfg.DataDir}, console.Deps{Auth: n.Auth, Ledger: n.Ledger,
		Files: n.Files, Blobs: n.Blobs, Assets: n.Assets, Jobs: n.Ocean, Deals: n.Deals, Clock: c, Log: log})
	if err != nil {
		return err
	}
	n.parts = append(n.parts, cons)
	return nil
}

func (n *Node) buildHandler() http.Handler {
	mux := route.NewRecorder()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", n.Metrics.Handler(n.cfg.Metrics, func(r *http.Request) (bool, error) {
		p, err := n.Auth.Bearer(r)
		return err == nil && p.IsAdmin(), err
	}))
	n.profileRoutes(mux)
	for _, p := range n.parts {
		if r, ok := p.(router); ok {
			r.Routes(mux)
		}
	}
	mux.Handle("GET /openapi.json", openapi.Handler())
	mux.Handle("/", unmatched(mux)) // what no route takes: a 404 or 405 in the face's format
	n.routes = mux.Patterns()
	// Every face's request bodies are guarded: slow or stalled ones are
	// cut, uploads in flight are capped. Browsers asking for / get the console.
	var access *slog.Logger
	if n.cfg.AccessLog {
		access = n.log.With("log", "access")
	}
	return console.RedirectBrowsers(limits.New(n.cfg.Limits, n.log).Wrap(retryAfter(n.Metrics.Wrap(mux, access))))
}

// Routes lists the patterns of every route the node serves, as registered on
// its mux (a mounted table's routes joined to its root).
func (n *Node) Routes() []string { return n.routes }

// retryAfter tells a client refused with 503 (storage or database gone for
// a while) when to retry, whichever face refused it.
func retryAfter(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&unavailableWriter{ResponseWriter: w}, r)
	})
}

type unavailableWriter struct{ http.ResponseWriter }

func (w *unavailableWriter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *unavailableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom keeps the server's own ReadFrom reachable (through the metrics
// recorder's), so that http.ServeContent sends a file by sendfile(2) rather
// than through a 32 KiB buffer: without it every download took the copy.
func (w *unavailableWriter) ReadFrom(src io.Reader) (int64, error) {
	return io.Copy(w.ResponseWriter, src)
}

// Handler is the node's HTTP handler (every face).
func (n *Node) Handler() http.Handler { return n.handler }

// Start serves, and runs every part's background work and the sweeper.
func (n *Node) Start() error {
	// No ReadTimeout or WriteTimeout: a large upload or download may take
	// hours; request bodies are guarded by rate instead (limits).
	n.srv = &http.Server{Handler: n.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.background(func() {
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("server stopped", "err", err)
		}
	})
	// Background work runs under leases: in one process of the node at a
	// time (a node of one process takes them all at once).
	if n.cfg.SweepEvery > 0 {
		n.background(func() {
			n.Leases.Hold(ctx, "sweep", func(ctx context.Context) {
				clock.Every(ctx, n.cfg.SweepEvery, nil, func(ctx context.Context) {
					if _, err := n.Sweep(ctx); err != nil && ctx.Err() == nil {
						n.log.Error("sweep failed", "err", err)
					}
				})
			})
		})
	}
	for _, p := range n.parts {
		if r, ok := p.(runner); ok {
			n.background(func() { n.Leases.Hold(ctx, "run "+partName(p), r.Run) })
		}
	}
	n.log.Info("serving", "url", n.URL())
	return nil
}

// partName names a part by its package: "network", "ocean", "deals".
func partName(p any) string {
	t := reflect.TypeOf(p)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return path.Base(t.PkgPath())
}

func (n *Node) background(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Sweep runs every part's clean-up now (lapsed quotes, ended terms, copies
// held for others, compute jobs past their retention) and says how many
// things it ended.
func (n *Node) Sweep(ctx context.Context) (int, error) {
	total := 0
	for _, p := range n.parts {
		if s, ok := p.(sweeper); ok {
			k, err := s.Sweep(ctx)
			total += k
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// Addr is the address this process listens on (URL may be another: a
// public address in front of several processes).
func (n *Node) Addr() string {
	if n.ln != nil {
		return n.ln.Addr().String()
	}
	return n.cfg.Listen
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

// Close leaves the network, stops serving (letting requests in flight finish
// for a few seconds), ends the background work and closes the parts, the
// stores last. It is also what a failed Open calls on what it opened.
func (n *Node) Close() error {
	if n.Net != nil {
		n.Net.Close() // first, so peers stop sending while the rest closes
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
	var errs []error
	for i := len(n.parts) - 1; i >= 0; i-- {
		if c, ok := n.parts[i].(closer); ok && n.parts[i] != any(n.Net) {
			errs = append(errs, c.Close())
		}
	}
	n.parts = nil
	if n.Sandbox != nil {
		errs = append(errs, n.Sandbox.Close(context.Background()))
		n.Sandbox = nil
	}
	if n.DB != nil {
		errs = append(errs, n.DB.Close())
		n.DB = nil
	}
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
	return errors.Join(errs...)
}
