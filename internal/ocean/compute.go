package ocean

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
)

// environment is an Environment with its sandbox and queue.
type environment struct {
	Environment
	rt   *sandbox.Runtime
	wake chan struct{} // a job may be waiting

	// Compiled algorithms by content hash: decoding and validating a
	// Go-built module takes tens of milliseconds even when its machine code
	// comes from the cache on disk.
	mu       sync.Mutex
	compiled map[[32]byte]*compiledModule
}

type compiledModule struct {
	mod   *sandbox.Module
	users int // runs using it: it is closed only when unused
}

// maxCompiled bounds the compiled modules an environment keeps.
const maxCompiled = 8

// compile returns wasm compiled, and the function to call once the run
// no longer needs it.
func (e *environment) compile(ctx context.Context, wasm []byte) (*sandbox.Module, func(), error) {
	key := sha256.Sum256(wasm)
	e.mu.Lock()
	if c, ok := e.compiled[key]; ok {
		c.users++
		e.mu.Unlock()
		return c.mod, e.release(c), nil
	}
	e.mu.Unlock()
	mod, err := e.rt.Compile(ctx, wasm, "")
	if err != nil {
		return nil, nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.compiled[key]; ok { // compiled meanwhile by another run
		mod.Close(context.Background())
		c.users++
		return c.mod, e.release(c), nil
	}
	if e.compiled == nil {
		e.compiled = map[[32]byte]*compiledModule{}
	}
	for k, c := range e.compiled {
		if len(e.compiled) < maxCompiled {
			break
		}
		if c.users == 0 {
			c.mod.Close(context.Background())
			delete(e.compiled, k)
		}
	}
	c := &compiledModule{mod: mod, users: 1}
	if len(e.compiled) < maxCompiled {
		e.compiled[key] = c
		return mod, e.release(c), nil
	}
	// Every kept module is in use: this one is the run's alone.
	return mod, func() { mod.Close(context.Background()) }, nil
}

func (e *environment) release(c *compiledModule) func() {
	return func() {
		e.mu.Lock()
		c.users--
		e.mu.Unlock()
	}
}

// openCompute creates compute's tables, its environments' sandboxes and its
// scratch space, and marks the jobs an earlier run left running as failed.
func (s *Service) openCompute(ctx context.Context) error {
	if s.cfg.Dir == "" {
		// Its jobs directory is emptied at every start: never the current one.
		return errors.New("ocean: Config.Dir, compute's directory, is required")
	}
	c := &s.cfg.Compute
	if len(c.Environments) == 0 {
		c.Environments = []Environment{DefaultEnvironment}
	}
	c.Environments = slices.Clone(c.Environments) // defaults are filled in the copy
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
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(s.cfg.Dir, "cache")
	}
	s.workDir = filepath.Join(s.cfg.Dir, "jobs")
	s.envs, s.running = map[string]*environment{}, map[string]context.CancelCauseFunc{}
	if err := os.MkdirAll(s.workDir, 0o700); err != nil {
		return err
	}
	for _, e := range c.Environments {
		rt, err := sandbox.New(ctx, e.limits(), c.CacheDir)
		if err != nil {
			s.Close()
			return fmt.Errorf("compute: environment %s: %w", e.ID, err)
		}
		env := &environment{Environment: e, rt: rt, wake: make(chan struct{}, 1)}
		s.envs[e.ID] = env
		s.envOrder = append(s.envOrder, env)
	}
	for _, e := range s.envOrder {
		s.log.Info("compute environment", "id", e.ID, "max_jobs", e.MaxJobs, "memory_mib", e.MemoryMiB,
			"max_job_duration", e.MaxJobDuration, "max_output_bytes", e.MaxOutput, "price_per_minute", e.PriceMin.String())
	}
	return nil
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
				StatusInterrupted, "the node stopped while the job ran", store.Time(now), store.Time(now.Add(s.cfg.Compute.Retention)), id); err != nil {
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
				StatusInterrupted, "its compute environment "+env+" is no longer offered", store.Time(now), store.Time(now.Add(s.cfg.Compute.Retention)), id); err != nil {
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
		if err := s.blobs.Unref(store.WithTx(context.Background(), tx), h); err != nil {
			return err
		}
	}
	_, err = tx.Exec(`DELETE FROM compute_results WHERE job_id=?`, jobID)
	return err
}

// Run runs the environments' workers (and the chains' DDO scans) until ctx
// ends; the jobs they run then are left to be marked failed on the next
// start.
func (s *Service) Run(ctx context.Context) {
	// Run holds the node's compute lease: the jobs an earlier holder (this
	// process before a crash, or another process of the node) left running
	// are failed now, and its work directories are junk.
	if err := os.RemoveAll(s.workDir); err != nil {
		s.log.Warn("cannot clear compute work directories", "err", err)
	}
	_ = os.MkdirAll(s.workDir, 0o700)
	if n, err := s.recover(ctx); err != nil {
		s.log.Error("cannot mark interrupted compute jobs; they stay as they were", "err", err)
	} else if n > 0 {
		s.log.Warn("jobs that were running when the node stopped are marked failed", "jobs", n, "status", StatusInterrupted)
	}
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
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watchChains(ctx)
	}()
	<-ctx.Done()
	s.wg.Wait()
}

// Close releases the sandboxes (after Run has returned).
func (s *Service) Close() error {
	for _, e := range s.envOrder {
		e.rt.Close(context.Background())
	}
	closeChains(s.chains)
	return nil
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

// jobCounts is the number of jobs by status code.
func (s *Service) jobCounts(ctx context.Context) (map[string]int64, error) {
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
