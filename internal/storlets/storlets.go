// Package storlets is the storlets controller face: an admin registers
// storlets (WebAssembly filters) and dependencies (files they read), uploads
// their data, and deploys them to accounts. Every GET of an account's objects
// then runs its deployed storlets, in deploy order, and a request may name
// one with X-Run-Storlet (on an upload, it transforms what is stored). The
// face implements filter.Filter for the faces that serve objects; the code
// runs in the sandbox package.
//
// The contract a storlet is written to (language "wasm", interface 1.0): a
// WASI preview 1 command module, from any source language (Go:
// GOOS=wasip1 GOARCH=wasm go build). Its entry point is the export named by
// main (default _start). stdin is the object, stdout the new object; stderr
// is a log (kept up to 16 KiB, shown in errors and the node's log). argv[0]
// is the storlet's name; the parameters follow as key=value arguments and
// are also in the environment as STORLET_PARAM_<KEY> (upper case, '-' and
// '.' as '_'). The dependencies it lists are files under /deps (read-only;
// $STORLET_DEPS). Exit code 0 is success; anything else fails the request
// (422). There is no network and no other file. Limits (flags): memory,
// wall-clock time, output size, concurrent runs; a storlet over one is
// stopped (422, or 503 when every slot is busy).
//
// A storlet may instead be a WASI reactor (it exports _initialize and no
// _start; Go: -buildmode=c-shared with a //go:wasmexport handler) whose
// main names the handler, taking nothing and returning nothing or an i32
// exit code. Its instance is initialized once and kept for the account's
// later reads of it with the same parameters, reset to its initial memory
// after each (see sandbox.Run.Reuse and the README's Storlets section).
package storlets

import (
	"context"
	"hash"
	"io"
	"log/slog"
	"sync"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/sandbox"
)

// Config is the face's configuration. The limits of runs are the sandbox's
// (sandbox.Limits), which the node builds once for storlets and compute.
type Config struct {
	MaxDependency int64 // largest dependency file, in bytes
}

// DefaultConfig returns the face's defaults: a dependency may be as large
// as a file the node stores (node passes its --max-file-size).
func DefaultConfig() Config { return Config{MaxDependency: 16 << 30} }

// Blobs keeps modules and dependency files.
type Blobs interface {
	Stage(r io.Reader, limit int64, extra ...hash.Hash) (*blob.Staged, error)
	Commit(ctx context.Context, st *blob.Staged, fn func(ctx context.Context) error) error
	Unref(ctx context.Context, hash string) error
	Open(hash string) (blob.Object, error)
}

// Auth knows the principals: admins use the controller, storlets are
// deployed to accounts.
type Auth interface {
	Authenticate(ctx context.Context, token string) (auth.Principal, error)
	Principal(ctx context.Context, idOrName string) (auth.Principal, error)
}

// Sandbox compiles and runs modules.
type Sandbox interface {
	Limits() sandbox.Limits
	Compile(ctx context.Context, wasm []byte, entry string) (*sandbox.Module, error)
	Run(ctx context.Context, m *sandbox.Module, run sandbox.Run) (sandbox.Result, error)
}

// Deps are what the face uses.
type Deps struct {
	Store   Store
	Blobs   Blobs
	Auth    Auth
	Sandbox Sandbox
	Clock   clock.Clock
	Log     *slog.Logger
}

// Service is the storlets face and filter.
type Service struct {
	cfg   Config
	store Store
	blobs Blobs
	auth  Auth
	rt    Sandbox
	clock clock.Clock
	log   *slog.Logger

	mu      sync.Mutex
	modules map[moduleKey]*compiled
	runs    map[string]int64 // runs by outcome, for metrics
}

// New opens the face.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{cfg: cfg, store: deps.Store, blobs: deps.Blobs, auth: deps.Auth, rt: deps.Sandbox,
		clock: deps.Clock, log: deps.Log, modules: map[moduleKey]*compiled{}, runs: map[string]int64{}}, nil
}

// Gauges registers the face's metrics: its records, and its runs by outcome.
func (s *Service) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_storlets", "Storlets, dependencies and their deployments.", "kind", s.counts)
	m.Gauges("dds_storlet_runs", "Storlet runs since start, by outcome.", "outcome", s.runCounts)
}

// counts returns how many storlets, dependencies and deployments there are.
func (s *Service) counts(ctx context.Context) (map[string]int64, error) {
	c, err := s.store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"storlets": c.Storlets, "dependencies": c.Dependencies,
		"storlet_deployments": c.StorletDeployments, "dependency_deployments": c.DependencyDeployments}, nil
}

// unref releases data a record no longer holds, in the transaction ctx
// carries.
func (s *Service) unref(ctx context.Context, hash string) error {
	if hash == "" {
		return nil
	}
	return s.blobs.Unref(ctx, hash)
}

// runCounts returns the number of storlet runs since start, by outcome.
func (s *Service) runCounts(context.Context) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{"ok": 0, "storlet_failed": 0, "storlet_timeout": 0, "storlet_memory_limit": 0, "storlet_output_limit": 0, "storlets_busy": 0}
	for k, v := range s.runs {
		out[k] = v
	}
	return out, nil
}

func (s *Service) countRun(outcome string) {
	s.mu.Lock()
	s.runs[outcome]++
	s.mu.Unlock()
}
