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

// compile returns the module whose SHA-256 is key compiled, and the
// function to call once the run no longer needs it. load reads the module,
// if it is not compiled yet.
func (e *environment) compile(ctx context.Context, key [sha256.Size]byte, load func() ([]byte, error)) (*sandbox.Module, func(), error) {
	e.mu.Lock()
	if c, ok := e.compiled[key]; ok {
		c.users++
		e.mu.Unlock()
		return c.mod, e.release(c), nil
	}
	e.mu.Unlock()
	wasm, err := load()
	if err != nil {
		return nil, nil, err
	}
	if sha256.Sum256(wasm) != key {
		return nil, nil, errors.New("the algorithm changed while it was staged")
	}
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

// openCompute checks the compute environments and makes their sandboxes and
// scratch space (jobs an earlier run left running are failed by Run, under
// the node's lease).
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
	err := s.jobStore.InTx(ctx, func(ctx context.Context) error {
		if err := s.jobStore.Requeue(ctx); err != nil {
			return err
		}
		ids, err := s.jobStore.Running(ctx)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		expires := now.Add(s.cfg.Compute.Retention)
		for _, id := range ids {
			if err := s.dropResults(ctx, id); err != nil {
				return err
			}
			if err := s.jobStore.Interrupt(ctx, id, "the node stopped while the job ran", now, expires); err != nil {
				return err
			}
		}
		n = len(ids)
		// A queue of an environment no longer offered would never move.
		waiting, err := s.jobStore.Queued(ctx)
		if err != nil {
			return err
		}
		for _, j := range waiting {
			if _, ok := s.envs[j.Environment]; ok {
				continue
			}
			if err := s.jobStore.Interrupt(ctx, j.ID, "its compute environment "+j.Environment+" is no longer offered", now, expires); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// dropResults removes a job's results, releasing their blobs, in ctx's
// transaction.
func (s *Service) dropResults(ctx context.Context, jobID string) error {
	hashes, err := s.jobStore.DropResults(ctx, jobID)
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if err := s.blobs.Unref(ctx, h); err != nil {
			return err
		}
	}
	return nil
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
	err := s.jobStore.InTx(ctx, func(ctx context.Context) error {
		ids, err := s.jobStore.Expired(ctx, s.clock.Now())
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.dropResults(ctx, id); err != nil {
				return err
			}
			if err := s.jobStore.DeleteJob(ctx, id); err != nil {
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
	counts, err := s.jobStore.StatusCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for status, n := range counts {
		out[strconv.Itoa(status)] = n
	}
	return out, nil
}
