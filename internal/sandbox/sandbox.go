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
}

// New starts a runtime. cacheDir, if not empty, keeps compiled machine code
// across restarts.
func New(ctx context.Context, lim Limits, cacheDir string) (*Runtime, error) {
	lim.defaults()
	if lim.MemoryPages > 65536 {
		return nil, fmt.Errorf("sandbox: memory limit of %d pages exceeds the 4 GiB a module can address", lim.MemoryPages)
	}
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true). // loops stop when the run's context ends
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
	return &Runtime{rt: rt, lim: lim, slots: make(chan struct{}, lim.Concurrency)}, nil
}

// Limits returns the runtime's limits, defaults filled in.
func (r *Runtime) Limits() Limits { return r.lim }

// Close releases every compiled module.
func (r *Runtime) Close(ctx context.Context) error { return r.rt.Close(ctx) }

// Module is a compiled module, ready to be instantiated for each run.
type Module struct {
	cm    wazero.CompiledModule
	entry string
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
	// Compiling a large module takes seconds: use every core.
	cm, err := r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0)), wasm)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := checkCommand(cm, entry); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	return &Module{cm: cm, entry: entry}, nil
}

// checkCommand refuses modules that could not run here: imports other than
// WASI preview 1, no entry point, no memory.
func checkCommand(cm wazero.CompiledModule, entry string) error {
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return invalid("it imports %s.%s; only %s functions are provided", mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return invalid("it imports memory %s.%s; a module must define its own", mod, name)
	}
	fn, ok := cm.ExportedFunctions()[entry]
	if !ok {
		return invalid("it exports no function %q (a WASI command exports _start)", entry)
	}
	if len(fn.ParamTypes()) != 0 || len(fn.ResultTypes()) != 0 {
		return invalid("its entry point %q must take and return nothing", entry)
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return invalid("it exports no memory named \"memory\", which WASI needs")
	}
	return nil // wazero itself refuses a memory minimum over the limit
}

// Entry is the exported function a run calls.
func (m *Module) Entry() string { return m.entry }

// Close releases the compiled code.
func (m *Module) Close(ctx context.Context) error { return m.cm.Close(ctx) }

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

// Run instantiates m and runs its entry point to completion. A module that
// exits with 0 (or returns) succeeds. ctx ends the run early (the client went
// away): its error is then returned as is.
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
	name := in.Name
	if name == "" {
		name = "module"
	}
	stdin := in.Stdin
	if stdin == nil {
		stdin = bytes.NewReader(nil)
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
		WithStdin(stdin).WithStdout(stdout).WithStderr(stderr).
		WithFSConfig(fsc).
		WithRandSource(rand.Reader).
		WithSysWalltime().WithSysNanotime().
		WithNanosleep(func(ns int64) { sleep(ctx, ns) })
	for _, kv := range in.Env {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}

	mod, err := r.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, memoryAllocator), m.cm, cfg)
	if err != nil {
		return res, r.classify(parent, ctx, stdout, stderr, nil, err)
	}
	defer mod.Close(context.Background())
	_, err = mod.ExportedFunction(m.entry).Call(ctx)
	res.Output, res.Stderr, res.Duration = stdout.n, stderr.buf.Bytes(), time.Since(start)
	if err != nil {
		return res, r.classify(parent, ctx, stdout, stderr, mod, err)
	}
	return res, nil
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
