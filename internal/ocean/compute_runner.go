package ocean

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/sandbox"
)

// maxAlgorithm bounds an algorithm module.
const maxAlgorithm = 64 << 20

// worker runs the jobs of one environment, oldest first, until ctx ends.
func (s *Service) worker(ctx context.Context, env *environment) {
	for ctx.Err() == nil {
		id, spec, err := s.claim(ctx, env)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("compute: claiming a job failed", "environment", env.ID, "err", err)
			id = ""
		}
		if id == "" {
			select {
			case <-ctx.Done():
				return
			case <-env.wake:
				continue
			case <-time.After(time.Minute): // a missed wake-up costs at most this
				continue
			}
		}
		nudge(env.wake) // more may be waiting for another worker
		s.run(ctx, env, id, spec)
	}
}

// claim takes the oldest waiting job of env, moving it to started.
func (s *Service) claim(ctx context.Context, env *environment) (string, jobSpec, error) {
	var spec jobSpec
	j, ok, err := s.jobStore.Claim(ctx, env.ID)
	if err != nil || !ok {
		return "", spec, err
	}
	if jerr := json.Unmarshal(j.Spec, &spec); jerr != nil {
		return j.ID, spec, fmt.Errorf("job %s: stored spec: %w", j.ID, jerr)
	}
	s.notify(j.ID, StatusStarted)
	return j.ID, spec, nil
}

// jobFailure ends a job with a failure status.
type jobFailure struct {
	status int
	msg    string
}

func (f *jobFailure) Error() string { return f.msg }

func failure(status int, format string, args ...any) error {
	return &jobFailure{status: status, msg: fmt.Sprintf(format, args...)}
}

// errGone: the job was stopped or deleted while a step ran.
var errGone = errors.New("the job was stopped or deleted")

// run takes a claimed job through its statuses.
func (s *Service) run(ctx context.Context, env *environment, id string, spec jobSpec) {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	s.running[id] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()
	dir := filepath.Join(s.workDir, id)
	defer os.RemoveAll(dir)
	log := s.log.With("job", id, "environment", env.ID)
	// A stop or delete that reached another process of the node is seen in
	// the job's row: end the run then too.
	go s.watchEnded(jctx, id, cancel)

	err := s.execute(jctx, env, id, spec, dir)
	var jf *jobFailure
	switch {
	case err == nil:
		log.Info("compute job finished")
	case errors.Is(err, errGone) || context.Cause(jctx) == errStopped || context.Cause(jctx) == errDeleted:
		log.Info("compute job ended by its owner")
	case ctx.Err() != nil:
		log.Warn("compute job interrupted: the node is stopping")
	case errors.As(err, &jf):
		log.Info("compute job failed", "status", jf.status, "reason", jf.msg)
		if err := s.finish(ctx, id, jf.status, jf.msg); err != nil && !errors.Is(err, errGone) {
			log.Error("compute: recording a failure failed", "err", err)
		}
	default:
		log.Error("compute job failed", "err", err)
		if err := s.finish(ctx, id, StatusPublishFailed, "internal error"); err != nil && !errors.Is(err, errGone) {
			log.Error("compute: recording a failure failed", "err", err)
		}
	}
}

// watchEnded cancels the run of job id once its row says it has ended (or
// is gone), until ctx ends.
func (s *Service) watchEnded(ctx context.Context, id string, cancel context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		active, err := s.jobStore.Active(ctx, id)
		if err == nil && !active {
			cancel(errStopped)
			return
		}
	}
}

// advance moves a job that has not ended to status.
func (s *Service) advance(ctx context.Context, id string, status int) error {
	ok, err := s.jobStore.Advance(ctx, id, status)
	if err != nil {
		if ctx.Err() != nil {
			return errGone
		}
		return err
	}
	if !ok {
		return errGone
	}
	s.notify(id, status)
	return nil
}

// finish ends a job that has not ended with a final status. A job whose
// results could not all be published keeps none of them.
func (s *Service) finish(ctx context.Context, id string, status int, msg string) error {
	now := s.clock.Now()
	err := s.jobStore.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.jobStore.Finish(ctx, id, status, msg, now, now.Add(s.cfg.Compute.Retention))
		if err != nil {
			return err
		}
		if !ok {
			return errGone
		}
		if status == StatusPublishFailed {
			return s.dropResults(ctx, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(id, status)
	return nil
}

// execute stages, runs and publishes a job. A *jobFailure says how the job
// failed; other errors are the node's.
func (s *Service) execute(ctx context.Context, env *environment, id string, spec jobSpec, dir string) error {
	if err := s.advance(ctx, id, StatusConfiguring); err != nil {
		return err
	}
	paths := map[string]string{}
	for _, p := range []string{"inputs", "ddos", "transformations", "outputs", "logs"} {
		paths[p] = filepath.Join(dir, p)
		if err := os.MkdirAll(paths[p], 0o700); err != nil {
			return err
		}
	}
	dids, err := s.stageInputs(ctx, env, spec, paths)
	if err != nil {
		return err
	}
	mod, release, err := s.stageAlgorithm(ctx, env, spec, paths)
	if err != nil {
		return err
	}
	defer release()
	if err := s.advance(ctx, id, StatusProvisioned); err != nil {
		return err
	}
	if err := s.advance(ctx, id, StatusRunning); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "algorithm.log")
	runErr := s.runAlgorithm(ctx, env, mod, dids, spec, paths, logPath)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if runErr != nil {
		var jf *jobFailure
		if !errors.As(runErr, &jf) {
			return runErr
		}
		// The owner gets the log of a failed run: it says why.
		if _, err := s.publishResults(ctx, id, []resultFile{{name: "algorithm.log", typ: "algorithmLog", path: logPath}}); err != nil {
			return err
		}
		return runErr
	}
	if err := s.advance(ctx, id, StatusFiltering); err != nil {
		return err
	}
	logSize := int64(0)
	if fi, err := os.Stat(logPath); err == nil {
		logSize = fi.Size()
	}
	files, err := collectResults(paths, env.MaxOutput-logSize)
	if err != nil {
		return err
	}
	files = append(files, resultFile{name: "algorithm.log", typ: "algorithmLog", path: logPath})
	if err := s.advance(ctx, id, StatusPublishing); err != nil {
		return err
	}
	if _, err := s.publishResults(ctx, id, files); err != nil {
		return err
	}
	return s.finish(ctx, id, StatusFinished, "")
}

// stageInputs copies every file of every dataset to
// inputs/<did>/<fileIndex>, the documents to ddos/<did> and the custom data
// to inputs/algoCustomData.json. It returns the dataset DIDs.
func (s *Service) stageInputs(ctx context.Context, env *environment, spec jobSpec, paths map[string]string) ([]string, error) {
	budget := env.MaxInput
	var dids []string
	for _, ref := range spec.Datasets {
		raw, d, _, err := s.loadDDO(ctx, ref.DocumentID)
		if err != nil {
			return nil, failure(StatusDataFailed, "dataset %s is no longer published", ref.DocumentID)
		}
		svc, ok := d.Service(ref.ServiceID)
		if !ok {
			return nil, failure(StatusDataFailed, "dataset %s no longer has service %q", ref.DocumentID, ref.ServiceID)
		}
		fl, err := s.files(d, svc)
		if err != nil {
			return nil, failure(StatusDataFailed, "dataset %s: %s", ref.DocumentID, apiMessage(err))
		}
		didDir := filepath.Join(paths["inputs"], d.ID)
		if err := os.MkdirAll(didDir, 0o700); err != nil {
			return nil, err
		}
		for i, f := range fl.Files {
			n, err := s.stageFile(ctx, f, filepath.Join(didDir, strconv.Itoa(i)), budget, nil)
			if err != nil {
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				return nil, failure(StatusDataFailed, "dataset %s file %d: %s", d.ID, i, apiMessage(err))
			}
			budget -= n
		}
		if err := os.WriteFile(filepath.Join(paths["ddos"], d.ID), raw, 0o600); err != nil {
			return nil, err
		}
		dids = append(dids, d.ID)
	}
	if len(spec.CustomData) > 0 {
		if err := os.WriteFile(filepath.Join(paths["inputs"], "algoCustomData.json"), spec.CustomData, 0o600); err != nil {
			return nil, err
		}
	}
	return dids, nil
}

// apiMessage is an error's message without its status.
func apiMessage(err error) string {
	if e, ok := apierr.As(err); ok {
		return e.Detail
	}
	return err.Error()
}

// stageFile copies one file to path, at most budget bytes, and to also if
// not nil.
func (s *Service) stageFile(ctx context.Context, f api.FileObject, path string, budget int64, also io.Writer) (int64, error) {
	rc, err := s.openFile(ctx, f)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	dst := io.Writer(out)
	if also != nil {
		dst = io.MultiWriter(out, also)
	}
	n, err := copyLarge(dst, io.LimitReader(rc, budget+1))
	if err != nil {
		return n, fmt.Errorf("reading the file failed")
	}
	if n > budget {
		return n, fmt.Errorf("the job's inputs exceed the environment's limit of %d bytes", budget)
	}
	return n, nil
}

// stageBufs are the buffers of copyLarge, kept: a fresh megabyte costs
// hundreds of page faults (in a virtual machine, milliseconds).
var stageBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyLarge copies src to dst in writes of a megabyte: a dataset of tens
// of MiB moves in few calls. (io.CopyBuffer would hand an *os.File dst the
// src, which it reads 32 KiB at a time.)
func copyLarge(dst io.Writer, src io.Reader) (int64, error) {
	bp := stageBufs.Get().(*[]byte)
	defer stageBufs.Put(bp)
	var n int64
	for {
		k, rerr := io.ReadFull(src, *bp)
		if k > 0 {
			if _, err := dst.Write((*bp)[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// stageAlgorithm fetches the algorithm to transformations/algorithm, with
// its document in ddos/, and compiles it; release once the run is over.
func (s *Service) stageAlgorithm(ctx context.Context, env *environment, spec jobSpec, paths map[string]string) (*sandbox.Module, func(), error) {
	path := filepath.Join(paths["transformations"], "algorithm")
	var src api.FileObject
	// Hashed as it is staged: a compiled module is found without reading
	// the file back.
	h := sha256.New()
	switch {
	case spec.AlgoCode != nil:
		if err := os.WriteFile(path, spec.AlgoCode, 0o600); err != nil {
			return nil, nil, err
		}
		h.Write(spec.AlgoCode)
	case spec.AlgoURL != "":
		src = api.FileObject{Type: "url", URL: spec.AlgoURL}
	default:
		raw, d, _, err := s.loadDDO(ctx, spec.AlgoDID)
		if err != nil {
			return nil, nil, failure(StatusAlgorithmFailed, "algorithm %s is no longer published", spec.AlgoDID)
		}
		svc, ok := d.Service(spec.AlgoSvc)
		if !ok {
			return nil, nil, failure(StatusAlgorithmFailed, "algorithm %s no longer has service %q", spec.AlgoDID, spec.AlgoSvc)
		}
		fl, err := s.files(d, svc)
		if err != nil {
			return nil, nil, failure(StatusAlgorithmFailed, "algorithm %s: %s", spec.AlgoDID, apiMessage(err))
		}
		src = fl.Files[0]
		if err := os.WriteFile(filepath.Join(paths["ddos"], d.ID), raw, 0o600); err != nil {
			return nil, nil, err
		}
	}
	if src.Type != "" {
		if _, err := s.stageFile(ctx, src, path, maxAlgorithm, h); err != nil {
			if ctx.Err() != nil {
				return nil, nil, context.Cause(ctx)
			}
			return nil, nil, failure(StatusAlgorithmFailed, "fetching the algorithm: %s", apiMessage(err))
		}
	}
	mod, release, err := env.compile(ctx, [sha256.Size]byte(h.Sum(nil)), func() ([]byte, error) { return os.ReadFile(path) })
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		return nil, nil, failure(StatusAlgorithmFailed, "the algorithm is not a module this node runs: %v", err)
	}
	return mod, release, nil
}

// errOutputQuota ends a run that wrote more than its environment allows.
var errOutputQuota = errors.New("output limit exceeded")

// runAlgorithm runs the module with the job's mounts; stdout and stderr go
// to the algorithm log.
func (s *Service) runAlgorithm(ctx context.Context, env *environment, mod *sandbox.Module, dids []string, spec jobSpec,
	paths map[string]string, logPath string) error {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// What the run wrote: its outputs, its logs and what it printed.
	written := func() int64 {
		n := dirSize(paths["outputs"]) + dirSize(paths["logs"])
		if fi, err := logFile.Stat(); err == nil {
			n += fi.Size()
		}
		return n
	}
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	// Outputs are files on the host: a watchdog stops a run that writes
	// more than the environment's limit, before it fills the disk.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if written() > env.MaxOutput {
					stopRun(errOutputQuota)
					return
				}
			}
		}
	}()
	didsJSON, _ := json.Marshal(dids)
	res, err := env.rt.Run(runCtx, mod, sandbox.Run{
		Name:   "algorithm",
		Stdout: logFile,
		Env: [][2]string{{"DIDS", string(didsJSON)}, {"TRANSFORMATION_DID", spec.AlgoDID},
			{"INPUTS", "/data/inputs"}, {"OUTPUTS", "/data/outputs"}, {"LOGS", "/data/logs"}, {"DDOS", "/data/ddos"}},
		Mounts: []sandbox.Mount{
			{Guest: "/data/inputs", Dir: paths["inputs"]},
			{Guest: "/data/ddos", Dir: paths["ddos"]},
			{Guest: "/data/transformations", Dir: paths["transformations"]},
			{Guest: "/data/outputs", Dir: paths["outputs"], Writable: true},
			{Guest: "/data/logs", Dir: paths["logs"], Writable: true},
		},
	})
	var re *sandbox.RunError
	if errors.As(err, &re) {
		logFile.Write(re.Stderr)
	} else {
		logFile.Write(res.Stderr)
	}
	switch {
	case err == nil:
		if written() > env.MaxOutput {
			return failure(StatusOutputLimit, "the algorithm wrote more than the environment's limit of %d bytes", env.MaxOutput)
		}
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case context.Cause(runCtx) == errOutputQuota, errors.Is(err, sandbox.ErrOutputLimit):
		return failure(StatusOutputLimit, "the algorithm wrote more than the environment's limit of %d bytes", env.MaxOutput)
	case errors.Is(err, sandbox.ErrTimeout):
		return failure(StatusTimeLimit, "the algorithm ran longer than the environment's maxJobDuration of %s", env.MaxJobDuration)
	case re != nil:
		return failure(StatusAlgorithmError, "the algorithm %s", re.Error())
	case errors.Is(err, sandbox.ErrBusy):
		return failure(StatusAlgorithmError, "no sandbox slot was free")
	default:
		return err
	}
}

// dirSize is the size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// resultFile is a file to publish as a result.
type resultFile struct {
	name, typ, path string
}

// collectResults lists the regular files the algorithm wrote, outputs first
// (named by their path under outputs/), then logs (logs/<path>), in name
// order. Links and other special files are skipped: they could point
// anywhere on the host.
func collectResults(paths map[string]string, limit int64) ([]resultFile, error) {
	var out []resultFile
	var total int64
	for _, part := range []struct{ dir, prefix, typ string }{
		{paths["outputs"], "", "output"}, {paths["logs"], "logs/", "algorithmLog"}} {
		var files []resultFile
		err := filepath.WalkDir(part.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			total += fi.Size()
			rel, _ := filepath.Rel(part.dir, p)
			files = append(files, resultFile{name: part.prefix + filepath.ToSlash(rel), typ: part.typ, path: p})
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
		out = append(out, files...)
	}
	if total > limit {
		return nil, failure(StatusOutputLimit, "the algorithm wrote %d bytes, more than the environment's limit of %d", total, limit)
	}
	return out, nil
}

// publish moves result files into the blob store, each committed with its
// row while the job is still publishing.
func (s *Service) publishResults(ctx context.Context, id string, files []resultFile) (int, error) {
	idx := 0
	for _, f := range files {
		// O_NOFOLLOW: a file swapped for a link since it was listed is
		// refused, not followed.
		fh, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && f.typ == "algorithmLog" {
				continue
			}
			return idx, failure(StatusPublishFailed, "result %s could not be read", f.name)
		}
		st, err := s.blobs.Stage(fh, -1)
		fh.Close()
		if err != nil {
			return idx, err
		}
		// The blob's reference and the result's row commit together.
		err = s.blobs.Commit(ctx, st, func(ctx context.Context) error {
			ok, err := s.jobStore.AddResult(ctx, JobResult{JobID: id, Index: idx, Name: strings.ToValidUTF8(f.name, "?"),
				Type: f.typ, Size: st.Size, Hash: st.Hash})
			if err == nil && !ok {
				return errGone
			}
			return err
		})
		st.Discard()
		if err != nil {
			return idx, err
		}
		idx++
	}
	return idx, nil
}
