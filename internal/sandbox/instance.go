package sandbox

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// instance is an instantiated module, with the run it serves.
type instance struct {
	mod   api.Module
	entry api.Function
	key   poolKey
	io    *callIO           // of the run in progress; idleIO between runs
	stop  api.MutableGlobal // set: the module traps at its next loop
	mu    sync.Mutex        // orders setting stop with the end of a call
	ended bool              // the call ended: stop must not be set

	// What a kept reactor instance is reset to after each run: its memory
	// and globals once initialized and warmed up, before any run.
	image   []byte
	globals []uint64
}

// callIO is what the instance's stdio and clock serve during one call.
type callIO struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// idleIO is an instance's between runs: nothing in, everything dropped.
var idleIO = &callIO{ctx: context.Background(), stdin: eofReader{}, stdout: io.Discard, stderr: io.Discard}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// The instance's stdio, switched from run to run.
type (
	stdinOf  struct{ i *instance }
	stdoutOf struct{ i *instance }
	stderrOf struct{ i *instance }
)

func (s stdinOf) Read(p []byte) (int, error)   { return s.i.io.stdin.Read(p) }
func (s stdoutOf) Write(p []byte) (int, error) { return s.i.io.stdout.Write(p) }
func (s stderrOf) Write(p []byte) (int, error) { return s.i.io.stderr.Write(p) }

// call calls fn, stopping it when ctx ends (see instrument). If ctx ends
// just as fn returns, stop may stay set, and a kept reactor instance is
// then not reset but dropped (its globals changed).
func (i *instance) call(ctx context.Context, fn api.Function) ([]uint64, error) {
	i.ended = false
	after := context.AfterFunc(ctx, func() {
		i.mu.Lock()
		defer i.mu.Unlock()
		if !i.ended {
			i.stop.Set(1)
		}
	})
	out, err := fn.Call(ctx)
	if !after() {
		i.mu.Lock()
		i.ended = true
		i.mu.Unlock()
	}
	return out, err
}

// endCall detaches the instance from the run it served.
func (i *instance) endCall() { i.io = idleIO }

func (i *instance) close() { i.mod.Close(context.Background()) }

// v128 is the type of a SIMD global, which api.Global cannot read whole.
const v128 api.ValueType = 0x7b

// snapshot records the instance's state as the image reset restores.
func (i *instance) snapshot() {
	im, ok := i.mod.(experimental.InternalModule)
	if !ok {
		return
	}
	globals := make([]uint64, im.NumGlobal())
	for g := range globals {
		if im.Global(g).Type() == v128 {
			return
		}
		globals[g] = im.Global(g).Get()
	}
	mem := i.mod.Memory()
	b, _ := mem.Read(0, mem.Size())
	i.image, i.globals = bytes.Clone(b), globals
}

// reset puts a kept instance back to its image after a run, so that the
// next run, whoever it serves, finds nothing of this one. It refuses (and
// the instance is dropped) if the instance has no image, was closed, grew
// its memory (a size the next run could see, and one the image cannot
// restore) or left a global changed (wazero cannot set globals that are
// not exported).
func (i *instance) reset() bool {
	if i.image == nil || i.mod.IsClosed() {
		return false
	}
	mem := i.mod.Memory()
	if mem.Size() != uint32(len(i.image)) {
		return false
	}
	im := i.mod.(experimental.InternalModule)
	for g, v := range i.globals {
		if g == len(i.globals)-1 {
			break // the fuel (see instrument), which the module cannot see
		}
		if im.Global(g).Get() != v {
			return false
		}
	}
	return mem.Write(0, i.image)
}

// poolKey says which runs may share an instance: those of one module with
// the same reuse key (see reuseKey). An empty key shares with none.
type poolKey struct {
	m   *Module
	key string
}
