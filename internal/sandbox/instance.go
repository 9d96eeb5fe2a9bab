package sandbox

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// instance is an instantiated module, with the run it serves.
type instance struct {
	mod   api.Module
	entry api.Function
	key   poolKey
	io    *callIO // of the run in progress; idleIO between runs

	// What a kept reactor instance is reset to after each run: its memory
	// and globals once initialized and warmed up, before any run.
	image   []byte
	globals []uint64
	since   time.Time // kept idle since
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
		if im.Global(g).Get() != v {
			return false
		}
	}
	return mem.Write(0, i.image)
}

// idleTime is how long an unused instance is kept.
const idleTime = time.Minute

// poolKey says which runs may share an instance: those of one module with
// the same reuse key (see reuseKey). An empty key shares with none.
type poolKey struct {
	m   *Module
	key string
}

// pool keeps reset reactor instances for later runs: at most max, each
// for at most ttl.
type pool struct {
	max int
	ttl time.Duration

	mu     sync.Mutex
	idle   []*instance // oldest first
	timer  *time.Timer // the next sweep, while any is kept
	closed bool
}

func newPool(max int, ttl time.Duration) *pool { return &pool{max: max, ttl: ttl} }

// take returns a kept instance for k, or nil.
func (p *pool) take(k poolKey) *instance {
	if k.key == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle) - 1; n >= 0; n-- {
		if p.idle[n].key == k {
			inst := p.idle[n]
			p.idle = slices.Delete(p.idle, n, n+1)
			return inst
		}
	}
	return nil
}

// put keeps a reset instance, dropping the oldest beyond max.
func (p *pool) put(inst *instance) {
	inst.since = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		inst.close()
		return
	}
	p.idle = append(p.idle, inst)
	var drop *instance
	if len(p.idle) > p.max {
		drop = p.idle[0]
		p.idle = slices.Delete(p.idle, 0, 1)
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(p.ttl, p.sweep)
	}
	p.mu.Unlock()
	if drop != nil {
		drop.close()
	}
}

// sweep drops the instances kept longer than ttl.
func (p *pool) sweep() {
	p.mu.Lock()
	cut := time.Now().Add(-p.ttl)
	var drop []*instance
	for len(p.idle) > 0 && !p.idle[0].since.After(cut) {
		drop = append(drop, p.idle[0])
		p.idle = p.idle[1:]
	}
	p.timer = nil
	if len(p.idle) > 0 {
		p.timer = time.AfterFunc(p.idle[0].since.Sub(cut), p.sweep)
	}
	p.mu.Unlock()
	for _, inst := range drop {
		inst.close()
	}
}

// close drops the instances of m, or all of them for good if m is nil.
func (p *pool) close(m *Module) {
	p.mu.Lock()
	var drop []*instance
	p.idle = slices.DeleteFunc(p.idle, func(inst *instance) bool {
		if m == nil || inst.key.m == m {
			drop = append(drop, inst)
			return true
		}
		return false
	})
	if m == nil {
		p.closed = true
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	p.mu.Unlock()
	for _, inst := range drop {
		inst.close()
	}
}
