// Package ocean is the Ocean face: an Ocean Protocol "provider" that
// existing Ocean clients (ocean.js ProviderInstance, ocean.py) can talk to,
// with compute-to-data. It serves discovery, nonces, ECIES encryption of
// documents, file info, initialize (a signed provider fee) and download of
// the files of published asset documents (DDOs), the Aquarius-style read
// paths of those DDOs, and compute jobs on them.
//
// Orders: with EVM chains configured (--chain, chain.go), an order is a
// startOrder/reuseOrder transaction of the service's datatoken, verified on
// the asset's chain as the Ocean provider does (orders_onchain.go), and DDOs
// published on those chains are read from their metadata events
// (ddo_onchain.go). Without a chain (devnet), an order is a payment recorded
// through the Billing face for a document's service, and the payment id
// stands in for the transaction id (transferTxId). Signatures, nonces, the
// cipher and the fee signature follow the real provider byte for byte (see
// NOTES §4).
//
// Compute-to-data: consumers run a published algorithm on a published
// dataset inside this node, and only the algorithm's outputs and log leave
// it. Algorithms are WebAssembly (WASI preview 1) modules run by the sandbox
// package: the dataset's files are mounted read-only at
// /data/inputs/<did>/<fileIndex>, the documents at /data/ddos/<did>, the
// algorithm at /data/transformations/algorithm and the custom data at
// /data/inputs/algoCustomData.json; /data/outputs and /data/logs are
// writable. There is no network. Jobs are queued per environment in SQLite,
// run by that environment's workers, and their results are kept in the
// blob store for the retention period.
//
// A job that was running when the node stopped is marked failed (status
// 44) when the node starts again; a job still waiting in its queue (or
// taken by a worker that had not begun it) runs.
package ocean

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"flag"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/flagval"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/route"
	"github.com/prometheus-dds/dds/internal/safehttp"
)

// Version is the provider API version this face reports.
const Version = "2.0.0"

// ZeroAddress is the Ethereum zero address.
const ZeroAddress = "0x0000000000000000000000000000000000000000"

// Config configures the face. DefaultConfig holds the defaults; New fills a
// zero field with its default.
type Config struct {
	ChainID        int64          // Ocean's development chain by default
	Decrypters     []string       // addresses allowed to call decrypt; none by default
	AllowNetworks  []netip.Prefix // networks URL fetching may reach although private
	IPFSGateway    string
	ArweaveGateway string
	FeeToken       string // token address named in provider fees; the zero address by default
	// MaxChecksumBytes bounds how much fileinfo reads to checksum a URL.
	MaxChecksumBytes int64
	// Dir holds compute's scratch space (Dir/jobs) and, by default, its
	// cache of compiled algorithms (Dir/cache): DATA/compute in a node.
	Dir     string
	Compute ComputeConfig
	// Chains are the EVM chains orders are verified on (see chain.go);
	// none: orders are payments of the node's ledger.
	Chains []Chain
	// Confirmations an order transaction needs, its own block included.
	Confirmations uint64
}

// ComputeConfig configures compute-to-data.
type ComputeConfig struct {
	// Environments are the node's compute environments; none means one,
	// DefaultEnvironment.
	Environments []Environment
	// Retention is how long a finished job and its results are kept.
	Retention time.Duration
	// MaxQueue bounds the jobs waiting in one environment.
	MaxQueue int
	// CacheDir keeps compiled algorithms across runs and restarts; default
	// Config.Dir/cache.
	CacheDir string
	// OnStatus, if set, is told every status a job reaches, in order (tests).
	OnStatus func(jobID string, status int)
}

// DefaultConfig is the face's configuration when nothing is set.
func DefaultConfig() Config {
	return Config{
		ChainID:          8996,
		IPFSGateway:      "https://ipfs.io",
		ArweaveGateway:   "https://arweave.net",
		FeeToken:         ZeroAddress,
		MaxChecksumBytes: 1 << 30,
		Compute:          ComputeConfig{Retention: 7 * 24 * time.Hour, MaxQueue: 100},
		Confirmations:    1,
	}
}

// RegisterFlags registers the face's flags, each defaulting to c's value.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.ChainID, "provider-chain-id", c.ChainID, "chain id the Ocean provider face serves")
	fs.Var(flagval.List(&c.Decrypters), "provider-decrypters", "comma-separated addresses allowed to call the provider's decrypt endpoint (default: none)")
	fs.BoolFunc("provider-allow-private-urls", "let the provider fetch file URLs on loopback, private and link-local addresses (SSRF guard off)", func(s string) error {
		if s == "true" {
			c.AllowNetworks = append(c.AllowNetworks, safehttp.AllowAll...)
		} else if s != "false" {
			return fmt.Errorf("want true or false, got %q", s)
		}
		return nil
	})
	fs.Func("provider-allow-networks", "comma-separated CIDRs the provider may fetch file URLs from although they are private (e.g. 10.1.0.0/16)", func(s string) error {
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			p, err := netip.ParsePrefix(n)
			if err != nil {
				return err
			}
			c.AllowNetworks = append(c.AllowNetworks, p)
		}
		return nil
	})
	fs.StringVar(&c.IPFSGateway, "provider-ipfs-gateway", c.IPFSGateway, "IPFS gateway the provider fetches ipfs files through")
	fs.StringVar(&c.ArweaveGateway, "provider-arweave-gateway", c.ArweaveGateway, "Arweave gateway the provider fetches arweave files through")
	fs.StringVar(&c.FeeToken, "provider-fee-token", c.FeeToken, "token address named in the provider's signed fees")
	fs.Func("compute-env", `a compute environment, repeatable (several may also be separated by ";"): `+
		`"id=wasm,memory=256,max-jobs=2,max-duration=10m,max-input=1GiB,max-output=256MiB,price-min=0,desc=..." `+
		`(memory in MiB; price-min in tokens per started minute; desc last). Default: one environment "wasm" with those values`,
		func(s string) error {
			for _, one := range strings.Split(s, ";") {
				if one = strings.TrimSpace(one); one == "" {
					continue
				}
				e, err := ParseEnvironment(one)
				if err != nil {
					return err
				}
				c.Compute.Environments = append(c.Compute.Environments, e)
			}
			return nil
		})
	fs.DurationVar(&c.Compute.Retention, "compute-retention", c.Compute.Retention, "how long a finished compute job and its results are kept")
	fs.IntVar(&c.Compute.MaxQueue, "compute-max-queue", c.Compute.MaxQueue, "compute jobs that may wait in one environment")
	c.registerChainFlags(fs)
}

// fill gives every zero field its default.
func (c *Config) fill() {
	d := DefaultConfig()
	if c.ChainID == 0 {
		c.ChainID = d.ChainID
	}
	if c.IPFSGateway == "" {
		c.IPFSGateway = d.IPFSGateway
	}
	if c.ArweaveGateway == "" {
		c.ArweaveGateway = d.ArweaveGateway
	}
	c.IPFSGateway = strings.TrimRight(c.IPFSGateway, "/")
	c.ArweaveGateway = strings.TrimRight(c.ArweaveGateway, "/")
	if c.FeeToken == "" {
		c.FeeToken = d.FeeToken
	}
	if c.MaxChecksumBytes == 0 {
		c.MaxChecksumBytes = d.MaxChecksumBytes
	}
	if c.Compute.Retention <= 0 {
		c.Compute.Retention = d.Compute.Retention
	}
	if c.Compute.MaxQueue <= 0 {
		c.Compute.MaxQueue = d.Compute.MaxQueue
	}
	if c.Confirmations == 0 {
		c.Confirmations = d.Confirmations
	}
}

// Key is the node's key: it signs fees and decrypts what was encrypted for
// the provider.
type Key interface {
	Address() string
	SignHash(hash []byte) ([]byte, error)
	Private() *btcec.PrivateKey
}

// Ledger holds the payments that stand in for orders.
type Ledger interface {
	Payment(ctx context.Context, id string) (ledger.Payment, error)
	PaidWhere(ctx context.Context, attrs map[string]string, since time.Time) (money.Amount, time.Time, error)
}

// Auth names the principal of a request that publishes or unpublishes a DDO.
type Auth interface {
	Bearer(r *http.Request) (auth.Principal, error)
}

// Blobs keeps compute results.
type Blobs interface {
	Open(hash string) (blob.Object, error)
	Stage(r io.Reader, limit int64, extra ...hash.Hash) (*blob.Staged, error)
	Commit(ctx context.Context, st *blob.Staged, fn func(ctx context.Context) error) error
	Unref(ctx context.Context, hash string) error
}

// Deps are what the face uses.
type Deps struct {
	Store  Store
	Jobs   JobStore
	Key    Key
	Ledger Ledger
	Auth   Auth
	Blobs  Blobs
	// Local are the native file types: content stored on this node, by type
	// name ("dds" for DDS files, "dep7" for DEP-7 assets).
	Local map[string]LocalSource
	Clock clock.Clock
	Log   *slog.Logger
}

// Service is the Ocean face.
type Service struct {
	cfg        Config
	provStore  Store    // the provider's records
	jobStore   JobStore // compute's
	key        Key
	ledger     Ledger
	auth       Auth
	blobs      Blobs
	local      map[string]LocalSource
	clock      clock.Clock
	log        *slog.Logger
	fetch      *http.Client
	jwtKey     []byte
	decrypters map[string]bool
	chains     map[int64]*chain // connected chains by id
	plainFiles plainCache       // decrypted file lists: ECIES costs more than the rest of a download's checks

	// Compute-to-data.
	workDir  string
	envs     map[string]*environment
	envOrder []*environment
	mu       sync.Mutex
	running  map[string]context.CancelCauseFunc // job id → cancels its run
	wg       sync.WaitGroup
}

// New returns the face with its compute environments ready.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	cfg.fill()
	s := &Service{cfg: cfg, provStore: deps.Store, jobStore: deps.Jobs, key: deps.Key, ledger: deps.Ledger, auth: deps.Auth, blobs: deps.Blobs,
		local: deps.Local, clock: deps.Clock, log: deps.Log.With("face", "ocean"), decrypters: map[string]bool{}}
	for _, d := range cfg.Decrypters {
		if !identity.ValidAddress(d) {
			return nil, fmt.Errorf("provider: authorized decrypter %q is not a 0x address", d)
		}
		s.decrypters[strings.ToLower(d)] = true
	}
	if !identity.ValidAddress(cfg.FeeToken) {
		return nil, fmt.Errorf("provider: fee token %q is not a 0x address", cfg.FeeToken)
	}
	guard := &safehttp.Guard{Allow: cfg.AllowNetworks}
	s.fetch = guard.Client(5)
	// Auth tokens are signed with a key derived from the node key, so they
	// survive restarts and need no extra secret file.
	jk, err := hkdf.Key(sha256.New, s.key.Private().Serialize(), nil, "dds ocean provider auth tokens v1", 32)
	if err != nil {
		return nil, err
	}
	s.jwtKey = jk
	if s.chains, err = openChains(ctx, cfg.Chains); err != nil {
		return nil, err
	}
	s.log.Info("ocean provider ready", "provider_address", s.key.Address(), "chain_id", cfg.ChainID, "chains", cfg.Chains,
		"authorized_decrypters", len(s.decrypters), "url_guard_allows", cfg.AllowNetworks)
	if err := s.openCompute(ctx); err != nil {
		closeChains(s.chains)
		return nil, err
	}
	return s, nil
}

// endpoints are the routes clients discover: name → method and path.
type endpoint struct{ name, method, path string }

var endpoints = []endpoint{
	{"nonce", "GET", "/api/services/nonce"},
	{"encrypt", "POST", "/api/services/encrypt"},
	{"decrypt", "POST", "/api/services/decrypt"},
	{"fileinfo", "POST", "/api/services/fileinfo"},
	{"initialize", "GET", "/api/services/initialize"},
	{"download", "GET", "/api/services/download"},
	{"create_auth_token", "GET", "/api/services/createAuthToken"},
	{"delete_auth_token", "DELETE", "/api/services/deleteAuthToken"},
	// The names ocean.js 4.x looks up for the same two routes.
	{"generateAuthToken", "POST", "/api/services/createAuthToken"},
	{"invalidateAuthToken", "POST", "/api/services/deleteAuthToken"},
	{"computeEnvironments", "GET", "/api/services/computeEnvironments"},
	{"initializeCompute", "POST", "/api/services/initializeCompute"},
	{"computeStart", "POST", "/api/services/compute"},
	{"computeStatus", "GET", "/api/services/compute"},
	{"computeStop", "PUT", "/api/services/compute"},
	{"computeDelete", "DELETE", "/api/services/compute"},
	{"computeResult", "GET", "/api/services/computeResult"},
}

// Routes adds the face's routes.
func (s *Service) Routes(mux route.Mux) {
	mux.HandleFunc("GET /{$}", s.handle(s.discovery))
	mux.HandleFunc("GET /api/services/nonce", s.handle(s.nonce))
	mux.HandleFunc("POST /api/services/encrypt", s.handle(s.encrypt))
	mux.HandleFunc("POST /api/services/decrypt", s.handle(s.decrypt))
	mux.HandleFunc("POST /api/services/fileinfo", s.handle(s.fileinfo))
	mux.HandleFunc("GET /api/services/initialize", s.handle(s.initialize))
	mux.HandleFunc("GET /api/services/download", s.handle(s.download))
	mux.HandleFunc("GET /api/services/createAuthToken", s.handle(s.createAuthToken))
	mux.HandleFunc("POST /api/services/createAuthToken", s.handle(s.createAuthToken))
	mux.HandleFunc("DELETE /api/services/deleteAuthToken", s.handle(s.deleteAuthToken))
	mux.HandleFunc("POST /api/services/deleteAuthToken", s.handle(s.deleteAuthToken))
	mux.HandleFunc("POST /api/aquarius/assets/ddo", s.handle(s.publish))
	mux.HandleFunc("GET /api/aquarius/assets/ddo", s.handle(s.listDDOs))
	mux.HandleFunc("GET /api/aquarius/assets/ddo/{did}", s.handle(s.getDDO))
	mux.HandleFunc("DELETE /api/aquarius/assets/ddo/{did}", s.handle(s.deleteDDO))
	mux.HandleFunc("GET /api/aquarius/assets/metadata/{did}", s.handle(s.getMetadata))
	mux.HandleFunc("GET /api/services/computeEnvironments", s.handle(s.environments))
	mux.HandleFunc("POST /api/services/initializeCompute", s.handle(s.initializeCompute))
	mux.HandleFunc("POST /api/services/compute", s.handle(s.start))
	mux.HandleFunc("GET /api/services/compute", s.handle(s.status))
	mux.HandleFunc("PUT /api/services/compute", s.handle(s.stopJobs))
	mux.HandleFunc("DELETE /api/services/compute", s.handle(s.deleteJobs))
	mux.HandleFunc("GET /api/services/computeResult", s.handle(s.result))
}

// Gauges registers the face's gauges.
func (s *Service) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_compute_jobs", "Compute jobs by status code.", "status", s.jobCounts)
}

func (s *Service) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// writeError renders err in the provider's convention: {"error": "..."}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apierr.As(err)
	if !ok {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	apierr.RetryAfter(w, e)
	httpjson.Write(w, e.Status, map[string]string{"error": e.Detail})
}

func (s *Service) discovery(w http.ResponseWriter, r *http.Request) error {
	eps := map[string][2]string{}
	for _, e := range endpoints {
		eps[e.name] = [2]string{e.method, e.path}
	}
	addr := s.key.Address()
	addrs := map[string]string{}
	for _, id := range s.chainIDs() {
		addrs[strconv.FormatInt(id, 10)] = addr
	}
	httpjson.Write(w, http.StatusOK, api.OceanDiscovery{
		Software:          "Provider",
		Version:           Version,
		Implementation:    "prometheus-dds",
		ChainIDs:          s.chainIDs(),
		ProviderAddress:   addr,
		ProviderAddresses: addrs,
		ProviderFeeToken:  s.cfg.FeeToken,
		ServiceEndpoints:  eps,
	})
	return nil
}
