// Package sandbox runs untrusted WebAssembly (WASI preview 1 command modules)
// in process with wazero, as a filter: stdin is streamed in, stdout streamed
// out, under limits on memory, wall-clock time, output size and concurrent
// runs. A module sees no network and no host file system except the
// read-only mounts a run is given. It knows nothing of storlets, so compute
// jobs can use it too.
package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// PageSize is the size of a WebAssembly memory page.
const PageSize = 64 << 10

// Runtime compiles modules and runs them. It is safe for concurrent use.
type Runtime struct {
	rt    wazero.Runtime
	lim   Limits
	slots chan struct{}
	idle  *pool[poolKey, *instance] // reactor instances
	mems  *pool[struct{}, *memory]  // linear memories
	made  atomic.Int64              // instances made, for tests
}

// New starts a runtime. cacheDir, if not empty, keeps compiled machine code
// across restarts.
func New(ctx context.Context, lim Limits, cacheDir string) (*Runtime, error) {
	lim.defaults()
	if lim.MemoryPages > 65536 {
		return nil, fmt.Errorf("sandbox: memory limit of %d pages exceeds the 4 GiB a module can address", lim.MemoryPages)
	}
	cfg := wazero.NewRuntimeConfig().
		// Runs stop through the check instrument puts in every loop, not
		// wazero's, which costs a call into Go at each iteration.
		WithCloseOnContextDone(false).
		WithDebugInfoEnabled(false). // its line numbers would be off in instrumented code
		WithMemoryLimitPages(lim.MemoryPages)
	if cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache: %w", err)
		}
		cfg = cfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Runtime{
		rt: rt, lim: lim, slots: make(chan struct{}, lim.Concurrency),
		idle: newPool[poolKey](lim.Concurrency, idleTime, (*instance).close),
		mems: newPool[struct{}](lim.Concurrency, idleTime, (*memory).unmap),
	}, nil
}

// Limits returns the runtime's limits, defaults filled in.
func (r *Runtime) Limits() Limits { return r.lim }

// Close releases every compiled module and kept instance.
func (r *Runtime) Close(ctx context.Context) error {
	r.idle.close(nil)
	err := r.rt.Close(ctx)
	r.mems.close(nil) // after the instances that use them
	return err
}

// Module is a compiled module, ready to be instantiated for each run.
type Module struct {
	cm    wazero.CompiledModule
	entry string
	// reactor: the module exports _initialize and no _start. An instance is
	// initialized once and its entry called for each run, and it may be
	// kept for later runs (see Run.Reuse).
	reactor bool
	// code: the entry returns an i32 exit code (0 is success).
	code bool
	rt   *Runtime
	// alloc gives instances their memory, holding the module's data.
	alloc experimental.MemoryAllocator
	stop  string // the export that stops a run (see instrument)

	closed atomic.Bool

	mu       sync.Mutex
	noWarmup map[string]bool // reuse keys whose warm-up failed: their runs get an instance each
}

// warmupFailed tells whether the warm-up failed for runs with key, or
// records that it did.
func (m *Module) warmupFailed(key string, failed bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if failed {
		if m.noWarmup == nil || len(m.noWarmup) >= 1024 {
			m.noWarmup = map[string]bool{} // bounded; forgetting costs a warm-up
		}
		m.noWarmup[key] = true
	}
	return m.noWarmup[key]
}

// InvalidModuleError says why bytes are not a module this sandbox runs.
type InvalidModuleError struct{ Reason string }

func (e *InvalidModuleError) Error() string { return "invalid module: " + e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidModuleError{Reason: fmt.Sprintf(format, args...)}
}

// wasmMagic starts every binary WebAssembly module.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// Compile validates and compiles a WASI command module whose entry point is
// the exported function entry (empty: "_start"). Errors about the module
// itself are *InvalidModuleError.
func (r *Runtime) Compile(ctx context.Context, wasm []byte, entry string) (*Module, error) {
	if entry == "" {
		entry = "_start"
	}
	if int64(len(wasm)) > r.lim.MaxModule {
		return nil, invalid("%d bytes exceed the limit of %d", len(wasm), r.lim.MaxModule)
	}
	if !bytes.HasPrefix(wasm, wasmMagic) {
		return nil, invalid("not a binary WebAssembly module (no \\0asm header); a storlet must be compiled to WASI preview 1, e.g. GOOS=wasip1 GOARCH=wasm go build")
	}
	p := prepare(wasm)
	// Compiling a large module takes seconds: use every core.
	cm, err := r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0)), p.code)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if p.stop == "" {
		// wazero took what instrument could not read: it would run unstoppable.
		cm.Close(ctx)
		return nil, invalid("it uses instructions the sandbox does not know")
	}
	m := &Module{cm: cm, entry: entry, rt: r, alloc: r.allocator(p.img), stop: p.stop}
	if err := m.check(); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	return m, nil
}

// check refuses modules that could not run here: imports other than WASI
// preview 1, no entry point, no memory. It tells commands from reactors.
func (m *Module) check() error {
	cm, entry := m.cm, m.entry
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return invalid("it imports %s.%s; only %s functions are provided", mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	for _, mem := range cm.ImportedMemories() {
		mod, name, _ := mem.Import()
		return invalid("it imports memory %s.%s; a module must define its own", mod, name)
	}
	funcs := cm.ExportedFunctions()
	fn, ok := funcs[entry]
	if !ok {
		return invalid("it exports no function %q (a WASI command exports _start; a reactor, which exports _initialize, is run through the handler it names as its entry point)", entry)
	}
	_, hasStart := funcs["_start"]
	init, hasInit := funcs["_initialize"]
	m.reactor = hasInit && !hasStart
	results := fn.ResultTypes()
	m.code = m.reactor && len(results) == 1 && results[0] == api.ValueTypeI32
	if len(fn.ParamTypes()) != 0 || len(results) != 0 && !m.code {
		return invalid("its entry point %q must take nothing and return nothing (or, in a reactor, an i32 exit code)", entry)
	}
	if m.reactor && (len(init.ParamTypes()) != 0 || len(init.ResultTypes()) != 0) {
		return invalid("its _initialize must take and return nothing")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return invalid("it exports no memory named \"memory\", which WASI needs")
	}
	return nil // wazero itself refuses a memory minimum over the limit
}

// Entry is the exported function a run calls.
func (m *Module) Entry() string { return m.entry }

// Reactor tells whether the module is a WASI reactor, whose instances are
// initialized once and may serve many runs.
func (m *Module) Reactor() bool { return m.reactor }

// Close releases the compiled code and the instances kept for it.
func (m *Module) Close(ctx context.Context) error {
	m.closed.Store(true)
	m.rt.idle.close(func(k poolKey) bool { return k.m == m })
	return m.cm.Close(ctx)
}

// Mount makes files readable by the module, read-only, under Guest (an
// absolute guest path such as "/deps"). Exactly one of Dir (a host
// directory) and FS is set. Writable lets the module also create, write
// and remove files under a Dir mount (a scratch or output directory the
// caller owns and checks afterwards); it has no effect on an FS mount.
type Mount struct {
	Guest    string
	Dir      string
	FS       fs.FS
	Writable bool
}

// Run is the input of one run.
type Run struct {
	Name   string    // argv[0]; default "module"
	Stdin  io.Reader // nil: empty
	Stdout io.Writer // nil: discarded (but still counted against MaxOutput)
	Args   []string  // after the program name
	Env    [][2]string
	Mounts []Mount
	// Reuse, if not empty, lets a reactor's instance serve later runs of
	// the same module whose Reuse is the same (and Name, Args and Env too;
	// never runs with Mounts, whose open files cannot be reset). Between
	// runs its memory is reset to what it was after initialization and
	// warm-up, and its globals checked unchanged, so a run never sees what
	// another read. wazero cannot reset tables, which can hold only the
	// module's own functions: only a module built to smuggle data through
	// them could, so the caller makes Reuse name whom the runs serve.
	Reuse string
}

// Result says how a run went.
type Result struct {
	Output   int64         // bytes written to stdout
	Stderr   []byte        // the first MaxStderr bytes of stderr
	Duration time.Duration // wall-clock time, slot wait excluded
}

// Errors of a run that a module caused. Test them with errors.Is; the error
// returned by Run also carries the stderr of the run (see RunError).
var (
	ErrTimeout     = errors.New("exceeded its time limit")
	ErrOutputLimit = errors.New("exceeded its output limit")
	ErrMemoryLimit = errors.New("ran out of memory at its limit")
	ErrExit        = errors.New("exited with an error")
	ErrTrap        = errors.New("crashed")
	// ErrBusy: every slot stayed taken for QueueWait; try again later.
	ErrBusy = errors.New("every sandbox slot is busy")
)

// RunError is a failed run: Kind is one of the errors above.
type RunError struct {
	Kind   error
	Code   uint32 // exit code, for ErrExit
	Detail string // the limit, or the trap message
	Stderr []byte
}

func (e *RunError) Error() string {
	msg := e.Kind.Error()
	if e.Kind == ErrExit {
		msg = fmt.Sprintf("exited with code %d", e.Code)
	}
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	if tail := lastLine(e.Stderr); tail != "" {
		msg += ": " + tail
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Kind }

// lastLine is the line of a log that best says what went wrong, shortened,
// for error details: the first line of a panic or fatal error (runtimes
// print a stack trace after it), or else the last line.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	s := strings.TrimSpace(lines[len(lines)-1])
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			s = strings.TrimSpace(l)
			break
		}
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// Run runs m's entry point to completion on a new instance, or for a
// reactor on an initialized one (see Run.Reuse). A module that exits with
// 0 (or returns, with 0 if it returns a code) succeeds. ctx ends the run
// early (the client went away): its error is then returned as is.
func (r *Runtime) Run(ctx context.Context, m *Module, in Run) (Result, error) {
	var res Result
	wait := time.NewTimer(r.lim.QueueWait)
	select {
	case r.slots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		return res, ErrBusy
	case <-ctx.Done():
		wait.Stop()
		return res, ctx.Err()
	}
	defer func() { <-r.slots }()

	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.lim.Timeout)
	defer cancel()

	stdout := &limitWriter{w: in.Stdout, max: r.lim.MaxOutput, cancel: cancel}
	if stdout.w == nil {
		stdout.w = io.Discard
	}
	stderr := &capWriter{max: r.lim.MaxStderr}
	call := &callIO{ctx: ctx, stdin: in.Stdin, stdout: stdout, stderr: stderr}
	if call.stdin == nil {
		call.stdin = eofReader{}
	}
	key := poolKey{m: m, key: reuseKey(in)}
	var inst *instance
	if key.key != "" {
		inst, _ = r.idle.take(key)
	}
	if inst == nil {
		var err error
		if inst, err = r.instantiate(ctx, cancel, m, in, key, stderr); err != nil {
			var mod api.Module
			if inst != nil { // its initialization failed
				mod = inst.mod
				defer inst.close()
			}
			return res, r.classify(parent, ctx, stdout, stderr, mod, err)
		}
	}
	inst.io = call
	out, err := inst.call(ctx, inst.entry)
	inst.endCall()
	if !m.reactor && key.key != "" && parent.Err() == nil {
		go r.spare(m, in, key)
	}
	res.Output, res.Stderr, res.Duration = stdout.n, stderr.buf.Bytes(), time.Since(start)
	if err == nil && m.code && uint32(out[0]) != 0 {
		err = sys.NewExitError(uint32(out[0]))
	}
	if err != nil {
		defer inst.close()
		return res, r.classify(parent, ctx, stdout, stderr, inst.mod, err)
	}
	if key.key == "" || ctx.Err() != nil || !inst.reset() {
		inst.close()
	} else {
		r.idle.put(key, inst)
	}
	return res, nil
}

// reuseKey is what runs sharing an instance must agree on: the caller's
// Reuse, and what the instance was made with. Empty: no sharing, as for
// runs with mounts: files left open, and their offsets, cannot be reset.
func reuseKey(in Run) string {
	if in.Reuse == "" || len(in.Mounts) > 0 {
		return ""
	}
	// WASI refuses NUL in arguments and the environment, so it separates.
	var b strings.Builder
	b.WriteString(in.Reuse)
	for _, s := range append([]string{in.Name}, in.Args...) {
		b.WriteString("\x00a")
		b.WriteString(s)
	}
	for _, kv := range in.Env {
		b.WriteString("\x00e")
		b.WriteString(kv[0])
		b.WriteString("\x00=")
		b.WriteString(kv[1])
	}
	return b.String()
}

// instantiate makes an instance of m for in. A reactor's is initialized,
// and, if it may be kept, warmed up: its entry runs once on an empty
// input, output discarded, so that the memory its runs grow into is part
// of the image reset after each run. The first run of a Go reactor grows
// its heap; without the warm-up, no instance could ever be kept.
func (r *Runtime) instantiate(ctx context.Context, cancel context.CancelFunc, m *Module, in Run, key poolKey, stderr io.Writer) (*instance, error) {
	// Until a run's call, the instance reads nothing and writes no output
	// of a run's: what it does belongs to no one. Its log goes to the run's.
	inst := &instance{key: key, io: &callIO{ctx: ctx, stdin: eofReader{}, stdout: &limitWriter{w: io.Discard, max: r.lim.MaxOutput, cancel: cancel}, stderr: stderr}}
	name := in.Name
	if name == "" {
		name = "module"
	}
	fsc := wazero.NewFSConfig()
	for _, mt := range in.Mounts {
		switch {
		case mt.FS != nil:
			fsc = fsc.WithFSMount(mt.FS, mt.Guest)
		case mt.Writable:
			fsc = fsc.WithDirMount(mt.Dir, mt.Guest)
		default:
			fsc = fsc.WithReadOnlyDirMount(mt.Dir, mt.Guest)
		}
	}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module run at once
		WithStartFunctions().
		WithArgs(append([]string{name}, in.Args...)...).
		WithStdin(stdinOf{inst}).WithStdout(stdoutOf{inst}).WithStderr(stderrOf{inst}).
		WithFSConfig(fsc).
		WithRandSource(rand.Reader).
		WithSysWalltime().WithSysNanotime().
		WithNanosleep(func(ns int64) { sleep(inst.io.ctx, ns) })
	for _, kv := range in.Env {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}
	mod, err := r.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, m.alloc), m.cm, cfg)
	if err != nil {
		return nil, err
	}
	r.made.Add(1)
	inst.mod, inst.entry = mod, mod.ExportedFunction(m.entry)
	inst.stop = mod.ExportedGlobal(m.stop).(api.MutableGlobal)
	if !m.reactor {
		return inst, nil
	}
	if _, err := inst.call(ctx, mod.ExportedFunction("_initialize")); err != nil {
		return inst, err
	}
	if key.key == "" || m.warmupFailed(key.key, false) {
		return inst, nil
	}
	inst.io.stderr = io.Discard // the warm-up's failure is not the run's
	_, err = inst.call(ctx, inst.entry)
	inst.io.stderr = stderr
	if err != nil || mod.IsClosed() {
		// It cannot take an empty input, or exits: give this run an
		// instance of its own, and every later one too.
		m.warmupFailed(key.key, true)
		mod.Close(context.Background())
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return r.instantiate(ctx, cancel, m, in, key, stderr)
	}
	inst.snapshot()
	return inst, nil
}

// spare makes an instance for the next run of a command with key, ahead
// of it: instantiating is a large part of what a short run of a Go-built
// module costs. It is kept (and dropped) like a reactor's, and it has run
// nothing: its memory is the module's data.
func (r *Runtime) spare(m *Module, in Run, key poolKey) {
	in = Run{Name: in.Name, Args: in.Args, Env: in.Env}
	inst, err := r.instantiate(context.Background(), func() {}, m, in, key, io.Discard)
	if err != nil {
		if inst != nil {
			inst.close()
		}
		return
	}
	inst.endCall()
	if m.closed.Load() {
		inst.close()
		return
	}
	r.idle.put(key, inst)
}

// classify turns what wazero returned into a RunError.
func (r *Runtime) classify(parent, ctx context.Context, stdout *limitWriter, stderr *capWriter, mod api.Module, err error) error {
	log := stderr.buf.Bytes()
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	switch {
	case stdout.exceeded:
		return &RunError{Kind: ErrOutputLimit, Detail: fmt.Sprintf("%d bytes", r.lim.MaxOutput), Stderr: log}
	case parent.Err() != nil:
		return parent.Err()
	case ctx.Err() != nil:
		return &RunError{Kind: ErrTimeout, Detail: r.lim.Timeout.String(), Stderr: log}
	case isExit && exit.ExitCode() == 0:
		return nil
	}
	if mod != nil && nearLimit(mod, r.lim.MemoryPages) {
		return &RunError{Kind: ErrMemoryLimit, Detail: fmt.Sprintf("%d MiB", uint64(r.lim.MemoryPages)*PageSize>>20), Stderr: log}
	}
	if isExit {
		return &RunError{Kind: ErrExit, Code: exit.ExitCode(), Stderr: log}
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i] // drop the wasm stack trace
	}
	return &RunError{Kind: ErrTrap, Detail: msg, Stderr: log}
}

// nearLimit tells whether a failed instance had grown its memory to within
// an allocation of the limit: it most likely failed because it could not
// grow further. (Runtimes report a refused memory.grow in their own words:
// Go says "out of memory" and exits 2, Rust aborts.)
func nearLimit(mod api.Module, limitPages uint32) bool {
	mem := mod.Memory()
	if mem == nil {
		return false
	}
	limit := uint64(limitPages) * PageSize
	slack := max(limit/8, 4<<20)
	return uint64(mem.Size())+slack >= limit
}

// sleep is the module's clock sleep, cut short when the run ends.
func sleep(ctx context.Context, ns int64) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// limitWriter counts stdout and stops the run once it exceeds max: a module
// that ignores write errors would otherwise spin until its time limit.
type limitWriter struct {
	w        io.Writer
	max      int64
	n        int64
	exceeded bool
	cancel   context.CancelFunc
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.max >= 0 && l.n+int64(len(p)) > l.max {
		l.exceeded = true
		l.cancel()
		return 0, ErrOutputLimit
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// capWriter keeps the first max bytes written and drops the rest.
type capWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
