package storlets

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
)

var _ filter.Filter = (*Service)(nil)

// stage is one storlet of a pipeline, ready to run.
type stage struct {
	name   string
	mod    *sandbox.Module
	params []filter.Param
	deps   sandbox.Files
}

// Apply implements filter.Filter: it runs the account's deployed storlets in
// deploy order (or the one the request names) over in, as a pipeline of
// concurrent runs joined by pipes, so nothing is held whole in memory.
func (s *Service) Apply(ctx context.Context, account string, req filter.Request, in io.Reader) (io.ReadCloser, bool, error) {
	stages, err := s.plan(ctx, account, req)
	if err != nil || len(stages) == 0 {
		return nil, false, err
	}
	if req.Ranged {
		return nil, false, filter.ErrRange
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &pipeline{account: account, cancel: cancel, ok: make([]bool, len(stages))}
	src := io.Reader(&inputReader{r: in, p: p})
	for i, st := range stages {
		h := newHandoff()
		p.outs = append(p.outs, h)
		p.wg.Add(1)
		go p.run(ctx, s, i, st, src, h)
		src = h
	}
	// Wait for the first bytes, so that a storlet failing at once (or one
	// that never writes) is an error the face can still answer with.
	p.buf = heads.Get().(*[]byte)
	n, err := p.last().Read(*p.buf)
	p.head = (*p.buf)[:n]
	if err != nil && err != io.EOF {
		p.Close()
		return nil, false, p.failure(err)
	}
	return p, true, nil
}

// heads are the buffers of the first bytes of pipelines.
var heads = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// plan finds the storlets to run and prepares them.
func (s *Service) plan(ctx context.Context, account string, req filter.Request) ([]stage, error) {
	var rows []Deployment
	var err error
	if req.Explicit() {
		rows, err = s.explicit(ctx, account, req.Storlet)
	} else if !req.Upload {
		rows, err = s.store.Deployments(ctx, account)
	}
	if err != nil {
		return nil, err
	}
	stages := make([]stage, 0, len(rows))
	for _, r := range rows {
		params, err := filter.ParseParams(r.Params)
		if err != nil {
			return nil, err
		}
		if req.Explicit() {
			params = merge(params, req.Params)
		}
		mod, err := s.module(ctx, r.DataHash, r.Main)
		if err != nil {
			s.log.Error("deployed storlet cannot be compiled", "storlet", r.Name, "err", err)
			return nil, apierr.New(http.StatusServiceUnavailable, "storlet_unavailable", "storlet %q cannot be loaded on this node", r.Name)
		}
		deps, err := s.depFiles(ctx, account, r.Storlet)
		if err != nil {
			return nil, err
		}
		stages = append(stages, stage{name: r.Name, mod: mod, params: params, deps: deps})
	}
	return stages, nil
}

// explicit is the storlet a request names, with its deployed parameters.
func (s *Service) explicit(ctx context.Context, account, name string) ([]Deployment, error) {
	st, err := s.store.StorletNamed(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.BadRequest("unknown_storlet", "%s names no storlet: %q", filter.RunHeader, name)
	} else if err != nil {
		return nil, err
	}
	params, err := s.store.DeployedParams(ctx, account, st.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.BadRequest("storlet_not_deployed", "storlet %q is not deployed to the account that owns this object", name)
	} else if err != nil {
		return nil, err
	}
	return []Deployment{{st, params}}, nil
}

// merge overrides the deployed parameters with those of the request, key by
// key, keeping the order.
func merge(deployed, req []filter.Param) []filter.Param {
	if len(req) == 0 {
		return deployed
	}
	given := map[string]bool{}
	for _, p := range req {
		given[p.Key] = true
	}
	var out []filter.Param
	for _, p := range deployed {
		if !given[p.Key] {
			out = append(out, p)
		}
	}
	return append(out, req...)
}

// depFiles maps the dependencies a storlet lists to their blobs. Each must
// be deployed to the account.
func (s *Service) depFiles(ctx context.Context, account string, st Storlet) (sandbox.Files, error) {
	names := st.Deps()
	if len(names) == 0 {
		return nil, nil
	}
	files := sandbox.Files{}
	for _, name := range names {
		hash, err := s.store.DeployedDependencyData(ctx, account, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.Conflict("dependency_not_deployed", "storlet %q needs dependency %q, which is not deployed to the account that owns this object", st.Name, name)
		} else if err != nil {
			return nil, err
		}
		files[name] = func() (sandbox.File, error) { return s.blobs.Open(hash) }
	}
	return files, nil
}

// pipeline is a chain of running storlets; it is the reader a face streams.
type pipeline struct {
	account string     // whose storlets run
	outs    []*handoff // the stdout of each storlet
	buf     *[]byte    // from heads
	head    []byte     // the first bytes of the last one's, not yet read
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	err   error  // the first failure: the cause of the others
	ok    []bool // stage i finished successfully
	close sync.Once
}

func (p *pipeline) last() *handoff { return p.outs[len(p.outs)-1] }

func (p *pipeline) run(ctx context.Context, s *Service, i int, st stage, stdin io.Reader, stdout *handoff) {
	defer p.wg.Done()
	args := make([]string, 0, len(st.params))
	env := make([][2]string, 0, len(st.params)+1)
	for _, prm := range st.params {
		args = append(args, prm.Key+"="+prm.Value)
		env = append(env, [2]string{"STORLET_PARAM_" + envKey(prm.Key), prm.Value})
	}
	// A reactor storlet's instance may serve this account's later runs of
	// it with the same parameters (the sandbox adds those to the key). The
	// sandbox resets its memory after each run, so no run sees another's
	// data; keying by account keeps even what it cannot reset (tables)
	// within the account whose storlets these are.
	run := sandbox.Run{Name: st.name, Stdin: stdin, Stdout: stdout, Args: args, Env: env, Reuse: "account " + p.account}
	if st.deps != nil {
		env = append(env, [2]string{"STORLET_DEPS", DepsDir})
		run.Env = env
		run.Mounts = []sandbox.Mount{{Guest: DepsDir, FS: st.deps}}
	}
	res, err := s.rt.Run(ctx, st.mod, run)
	if err == nil && len(res.Stderr) > 0 {
		s.log.Debug("storlet log", "storlet", st.name, "stderr", string(res.Stderr))
	}
	p.mu.Lock()
	switch {
	case err == nil:
		p.ok[i] = true
		s.countRun("ok")
	case i+1 < len(p.ok) && p.ok[i+1]:
		// The next storlet is done and stopped reading: nothing lost.
		err = nil
	case p.err == nil:
		p.err = s.runError(st.name, err, res)
	}
	p.mu.Unlock()
	if err != nil {
		p.cancel()
	}
	stdout.close(err)
	if i > 0 {
		p.outs[i-1].close(errDone) // unblock the storlet before this one
	}
}

var errDone = errors.New("storlets: the next storlet finished")

// failure returns the first failure of the pipeline, or err.
func (p *pipeline) failure(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	return err
}

// Read streams the last storlet's output. At its end it waits for every
// storlet: one that failed after the next ended reading must not pass for
// success.
func (p *pipeline) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	n, err := p.last().Read(b)
	if err == io.EOF {
		err = p.end()
		if err == nil {
			err = io.EOF
		}
	} else if err != nil {
		err = p.failure(err)
	}
	return n, err
}

// WriteTo streams the last storlet's output to w, as Read does, but with
// no copy: w gets the bytes the storlet writes, from its memory.
func (p *pipeline) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(p.head)
	p.head = p.head[n:]
	total := int64(n)
	if err != nil {
		return total, err
	}
	m, err := p.last().WriteTo(w)
	total += m
	if err != nil {
		return total, p.failure(err)
	}
	return total, p.end()
}

// end waits for every storlet once the output ended, and returns the
// failure of any.
func (p *pipeline) end() error {
	p.wg.Wait()
	return p.failure(nil)
}

// Close stops whatever still runs and waits for it.
func (p *pipeline) Close() error {
	p.close.Do(func() {
		p.cancel()
		for _, h := range p.outs {
			h.close(errDone)
		}
		p.wg.Wait()
		if p.buf != nil {
			heads.Put(p.buf)
			p.buf, p.head = nil, nil
		}
	})
	return nil
}

// inputReader records a failure to read the object itself (such as bad
// base64 in an upload) as the pipeline's cause, so it is not reported as the
// storlet's fault.
type inputReader struct {
	r io.Reader
	p *pipeline
}

func (ir *inputReader) Read(b []byte) (int, error) {
	n, err := ir.r.Read(b)
	if err != nil && err != io.EOF {
		ir.p.mu.Lock()
		if ir.p.err == nil {
			ir.p.err = err
		}
		ir.p.mu.Unlock()
	}
	return n, err
}

// runError turns a failed run into the error a client sees.
func (s *Service) runError(name string, err error, res sandbox.Result) error {
	var re *sandbox.RunError
	switch {
	case errors.Is(err, sandbox.ErrBusy):
		s.countRun("storlets_busy")
		return apierr.New(http.StatusServiceUnavailable, "storlets_busy", "every storlet slot of this node is busy; retry shortly")
	case errors.As(err, &re):
		code := "storlet_failed"
		switch re.Kind {
		case sandbox.ErrTimeout:
			code = "storlet_timeout"
		case sandbox.ErrMemoryLimit:
			code = "storlet_memory_limit"
		case sandbox.ErrOutputLimit:
			code = "storlet_output_limit"
		}
		s.countRun(code)
		s.log.Warn("storlet failed", "storlet", name, "err", err, "stderr", string(re.Stderr))
		return apierr.New(http.StatusUnprocessableEntity, code, "storlet %q %s", name, err)
	}
	return err // the request ended, or the object could not be read
}

// envKey makes a parameter key an environment variable name: upper case,
// '-' and '.' as '_'.
func envKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		return r
	}, strings.ToUpper(k))
}
