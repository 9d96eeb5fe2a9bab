// Package compute is compute-to-data for the Ocean provider face: consumers
// run a published algorithm on a published dataset inside this node, and
// only the algorithm's outputs and log leave it.
//
// Algorithms are WebAssembly (WASI preview 1) modules run by the sandbox
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
package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/provider"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
)

// Config configures compute-to-data. The zero value of each field means its
// default.
type Config struct {
	// Environments are the node's compute environments; default one,
	// DefaultEnvironment.
	Environments []Environment
	// Retention is how long a finished job and its results are kept;
	// default 7 days.
	Retention time.Duration
	// MaxQueue bounds the jobs waiting in one environment; default 100.
	MaxQueue int
	// CacheDir keeps compiled algorithms across runs and restarts; default
	// compute/cache in the data directory.
	CacheDir string
	// OnStatus, if set, is told every status a job reaches, in order (tests).
	OnStatus func(jobID string, status int)
}

func (c *Config) defaults() error {
	if len(c.Environments) == 0 {
		c.Environments = []Environment{DefaultEnvironment}
	}
	c.Environments = slices.Clone(c.Environments) // defaults are filled in the copy
	if c.Retention <= 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 100
	}
	seen := map[string]bool{}
	for i := range c.Environments {
		e := &c.Environments[i]
		e.defaults()
		if err := e.validate(); err != nil {
			return err
		}
		if seen[e.ID] {
			return fmt.Errorf("compute: environment %q is defined twice", e.ID)
		}
		seen[e.ID] = true
	}
	return nil
}

// Service is compute-to-data.
type Service struct {
	cfg      Config
	db       *store.DB
	blobs    *blob.Store
	prov     *provider.Service
	ledger   *ledger.Ledger
	key      *identity.Key
	clock    clock.Clock
	log      *slog.Logger
	workDir  string
	envs     map[string]*environment
	envOrder []*environment

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // job id → cancels its run

	stop context.CancelCauseFunc
	wg   sync.WaitGroup
}

// environment is an Environment with its sandbox and queue.
type environment struct {
	Environment
	rt   *sandbox.Runtime
	wake chan struct{} // a job may be waiting
}

var migrations = []string{
	`CREATE TABLE compute_jobs (
		id TEXT PRIMARY KEY,
		owner TEXT NOT NULL,        -- lowercase 0x address of the consumer
		did TEXT NOT NULL,          -- the main dataset
		environment TEXT NOT NULL,
		spec TEXT NOT NULL,         -- the validated request (JSON): datasets, algorithm, custom data
		status INTEGER NOT NULL,
		error TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL,
		finished_at TEXT,
		expires_at TEXT             -- when a finished job and its results are deleted
	);
	CREATE INDEX compute_jobs_owner ON compute_jobs(owner, created_at);
	CREATE INDEX compute_jobs_queue ON compute_jobs(environment, status, created_at);
	CREATE INDEX compute_jobs_expiry ON compute_jobs(expires_at);
	CREATE TABLE compute_results (
		job_id TEXT NOT NULL,
		idx INTEGER NOT NULL,
		name TEXT NOT NULL,
		type TEXT NOT NULL,         -- output | algorithmLog
		size INTEGER NOT NULL,
		hash TEXT NOT NULL,         -- blob store object
		PRIMARY KEY (job_id, idx)
	);`,
}

// New returns the service, creating its tables and marking the jobs an
// earlier run left running as failed. dataDir is the node's data directory.
func New(ctx context.Context, cfg Config, dataDir string, db *store.DB, blobs *blob.Store, prov *provider.Service,
	l *ledger.Ledger, key *identity.Key, c clock.Clock, log *slog.Logger) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(dataDir, "compute", "cache")
	}
	if err := db.Migrate(ctx, "compute", migrations); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, db: db, blobs: blobs, prov: prov, ledger: l, key: key, clock: c,
		log: log.With("face", "compute"), workDir: filepath.Join(dataDir, "compute", "jobs"),
		envs: map[string]*environment{}, running: map[string]context.CancelCauseFunc{}}
	// Work directories are scratch space of runs: what a crash left is junk.
	if err := os.RemoveAll(s.workDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.workDir, 0o700); err != nil {
		return nil, err
	}
	for _, e := range cfg.Environments {
		rt, err := sandbox.New(ctx, e.limits(), cfg.CacheDir)
		if err != nil {
			s.closeRuntimes()
			return nil, fmt.Errorf("compute: environment %s: %w", e.ID, err)
		}
		env := &environment{Environment: e, rt: rt, wake: make(chan struct{}, 1)}
		s.envs[e.ID] = env
		s.envOrder = append(s.envOrder, env)
	}
	n, err := s.recover(ctx)
	if err != nil {
		s.closeRuntimes()
		return nil, err
	}
	if n > 0 {
		s.log.Warn("jobs that were running when the node stopped are marked failed", "jobs", n, "status", StatusInterrupted)
	}
	prov.Advertise("computeEnvironments", "GET", "/api/services/computeEnvironments")
	prov.Advertise("initializeCompute", "POST", "/api/services/initializeCompute")
	prov.Advertise("computeStart", "POST", "/api/services/compute")
	prov.Advertise("computeStatus", "GET", "/api/services/compute")
	prov.Advertise("computeStop", "PUT", "/api/services/compute")
	prov.Advertise("computeDelete", "DELETE", "/api/services/compute")
	prov.Advertise("computeResult", "GET", "/api/services/computeResult")
	for _, e := range s.envOrder {
		s.log.Info("compute environment", "id", e.ID, "max_jobs", e.MaxJobs, "memory_mib", e.MemoryMiB,
			"max_job_duration", e.MaxJobDuration, "max_output_bytes", e.MaxOutput, "price_per_minute", e.PriceMin.String())
	}
	return s, nil
}

// recover marks the jobs that were running when the node stopped as failed
// and drops the results they had published so far. A job a worker had
// taken but not begun to stage goes back to its queue.
func (s *Service) recover(ctx context.Context) (int, error) {
	var n int
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(`UPDATE compute_jobs SET status=? WHERE status=?`, StatusWarmingUp, StatusStarted); err != nil {
			return err
		}
		ids, err := jobIDs(tx, `SELECT id FROM compute_jobs WHERE status IN `+runningSQL)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		for _, id := range ids {
			if err := s.dropResults(tx, id); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE compute_jobs SET status=?, error=?, finished_at=?, expires_at=? WHERE id=?`,
				StatusInterrupted, "the node stopped while the job ran", store.Time(now), store.Time(now.Add(s.cfg.Retention)), id); err != nil {
				return err
			}
		}
		n = len(ids)
		// A queue of an environment no longer offered would never move.
		waiting, err := jobIDs(tx, `SELECT id FROM compute_jobs WHERE status=?`, StatusWarmingUp)
		if err != nil {
			return err
		}
		for _, id := range waiting {
			var env string
			if err := tx.QueryRow(`SELECT environment FROM compute_jobs WHERE id=?`, id).Scan(&env); err != nil {
				return err
			}
			if _, ok := s.envs[env]; ok {
				continue
			}
			if _, err := tx.Exec(`UPDATE compute_jobs SET status=?, error=?, finished_at=?, expires_at=? WHERE id=?`,
				StatusInterrupted, "its compute environment "+env+" is no longer offered", store.Time(now), store.Time(now.Add(s.cfg.Retention)), id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func jobIDs(tx *store.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// dropResults removes a job's results, releasing their blobs.
func (s *Service) dropResults(tx *store.Tx, jobID string) error {
	rows, err := tx.Query(`SELECT hash FROM compute_results WHERE job_id=?`, jobID)
	if err != nil {
		return err
	}
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return err
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hashes {
		if err := s.blobs.Unref(tx, h); err != nil {
			return err
		}
	}
	_, err = tx.Exec(`DELETE FROM compute_results WHERE job_id=?`, jobID)
	return err
}

// Start runs the environments' workers and the sweeper until Close.
func (s *Service) Start() {
	ctx, cancel := context.WithCancelCause(context.Background())
	s.stop = cancel
	for _, e := range s.envOrder {
		for range e.MaxJobs {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.worker(ctx, e)
			}()
		}
		nudge(e.wake)
	}
}

// errShutdown ends the runs in progress when the node stops; they are
// marked failed when it starts again.
var errShutdown = errors.New("the node is stopping")

// Close stops the workers (the jobs they run are left to be marked failed
// on the next start) and releases the sandboxes.
func (s *Service) Close() {
	if s.stop != nil {
		s.stop(errShutdown)
		s.wg.Wait()
	}
	s.closeRuntimes()
}

func (s *Service) closeRuntimes() {
	for _, e := range s.envOrder {
		e.rt.Close(context.Background())
	}
}

func nudge(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Sweep deletes the finished jobs whose retention has passed, with their
// results.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	var n int
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		ids, err := jobIDs(tx, `SELECT id FROM compute_jobs WHERE expires_at IS NOT NULL AND expires_at<=? AND status NOT IN `+activeSQL,
			store.Time(s.clock.Now()))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.dropResults(tx, id); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM compute_jobs WHERE id=?`, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if n > 0 {
		s.log.Info("expired compute jobs deleted", "jobs", n)
	}
	return n, err
}

// Register adds the compute routes.
func (s *Service) Register(mux *http.ServeMux) {
	h := s.prov.Handle
	mux.HandleFunc("GET /api/services/computeEnvironments", h(s.environments))
	mux.HandleFunc("POST /api/services/initializeCompute", h(s.initialize))
	mux.HandleFunc("POST /api/services/compute", h(s.start))
	mux.HandleFunc("GET /api/services/compute", h(s.status))
	mux.HandleFunc("PUT /api/services/compute", h(s.stopJobs))
	mux.HandleFunc("DELETE /api/services/compute", h(s.deleteJobs))
	mux.HandleFunc("GET /api/services/computeResult", h(s.result))
}

// Counts is the number of jobs by status code (for metrics).
func (s *Service) Counts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM compute_jobs GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var status int
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		out[strconv.Itoa(status)] = n
	}
	return out, rows.Err()
}
