// Package wasmtest is a tiny WebAssembly assembler for tests: enough to
// hand-assemble WASI command and reactor modules without a toolchain, and
// the modules the sandbox and storlets tests run.
package wasmtest

const (
	OpUnreachable = 0x00
	OpBlock       = 0x02
	OpLoop        = 0x03
	OpIf          = 0x04
	OpEnd         = 0x0b
	OpBr          = 0x0c
	OpBrIf        = 0x0d
	OpCall        = 0x10
	OpDrop        = 0x1a
	OpI32Load     = 0x28
	OpI32Store    = 0x36
	OpMemoryGrow  = 0x40
	OpI32Const    = 0x41
	OpI32Eqz      = 0x45
	OpI32Ne       = 0x47
	BlockVoid     = 0x40
)

// Function indices of the imports every test module has.
const (
	FnFdRead   = 0
	FnFdWrite  = 1
	FnProcExit = 2
)

func ULEB(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func SLEB(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func Name(s string) []byte { return append(ULEB(uint64(len(s))), s...) }

func Section(id byte, content ...[]byte) []byte {
	var body []byte
	for _, c := range content {
		body = append(body, c...)
	}
	return append(append([]byte{id}, ULEB(uint64(len(body)))...), body...)
}

func Vec(items ...[]byte) []byte {
	out := ULEB(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// i32 pushes a constant; load/store read and write i32s at constant addresses.
func I32(v int32) []byte     { return append([]byte{OpI32Const}, SLEB(int64(v))...) }
func Call(fn byte) []byte    { return []byte{OpCall, fn} }
func Load(addr int32) []byte { return append(I32(addr), OpI32Load, 2, 0) }
func Store(addr int32, val []byte) []byte {
	return append(append(I32(addr), val...), OpI32Store, 2, 0)
}

func Concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Command assembles a WASI command module whose _start runs body, with
// memPages pages of memory. importMod, if set, replaces the module name of
// the proc_exit import (to test refused imports).
func Command(body []byte, memPages uint32, importMod string) []byte {
	return module(body, memPages, importMod, false, false)
}

// Reactor assembles a WASI reactor module: an empty _initialize and run,
// whose body is body, with memPages pages of memory.
func Reactor(body []byte, memPages uint32) []byte { return module(body, memPages, "", true, false) }

// ReactorCode is Reactor with a run that returns an i32 exit code, which
// body leaves on the stack.
func ReactorCode(body []byte, memPages uint32) []byte { return module(body, memPages, "", true, true) }

func module(body []byte, memPages uint32, importMod string, reactor, returnsCode bool) []byte {
	if importMod == "" {
		importMod = "wasi_snapshot_preview1"
	}
	i32t := byte(0x7f)
	types := Section(1, Vec(
		[]byte{0x60, 4, i32t, i32t, i32t, i32t, 1, i32t}, // fd_read, fd_write
		[]byte{0x60, 1, i32t, 0},                         // proc_exit
		[]byte{0x60, 0, 0},                               // _start, _initialize, run
		[]byte{0x60, 0, 1, i32t},                         // run returning a code
	))
	imports := Section(2, Vec(
		Concat(Name("wasi_snapshot_preview1"), Name("fd_read"), []byte{0, 0}),
		Concat(Name("wasi_snapshot_preview1"), Name("fd_write"), []byte{0, 0}),
		Concat(Name(importMod), Name("proc_exit"), []byte{0, 1}),
	))
	mem := Section(5, Vec(Concat([]byte{0}, ULEB(uint64(memPages)))))
	code := Concat([]byte{0}, body, []byte{OpEnd}) // no locals
	if !reactor {
		funcs := Section(3, Vec([]byte{2}))
		exports := Section(7, Vec(
			Concat(Name("memory"), []byte{2, 0}),
			Concat(Name("_start"), []byte{0, 3}),
		))
		codes := Section(10, Vec(Concat(ULEB(uint64(len(code))), code)))
		return Concat([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, types, imports, funcs, mem, exports, codes)
	}
	runType := byte(2)
	if returnsCode {
		runType = 3
	}
	funcs := Section(3, Vec([]byte{2}, []byte{runType}))
	exports := Section(7, Vec(
		Concat(Name("memory"), []byte{2, 0}),
		Concat(Name("_initialize"), []byte{0, 3}),
		Concat(Name("run"), []byte{0, 4}),
	))
	initCode := []byte{0, OpEnd}
	codes := Section(10, Vec(Concat(ULEB(uint64(len(initCode))), initCode), Concat(ULEB(uint64(len(code))), code)))
	return Concat([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, types, imports, funcs, mem, exports, codes)
}

// Memory layout of the test programs: an iovec at 0 (buffer at 16), the
// count of bytes read or written at 8.
const BufSize = 32 << 10

// Cat copies stdin to stdout.
var Cat = Command(catBody, 1, "")

// CatReactor is Cat as a reactor: its run copies stdin to stdout.
var CatReactor = Reactor(catBody, 1)

var catBody = Concat(
	Store(0, I32(16)),
	[]byte{OpBlock, BlockVoid, OpLoop, BlockVoid},
	Store(4, I32(BufSize)),
	I32(0), I32(0), I32(1), I32(8), Call(FnFdRead),
	[]byte{OpIf, BlockVoid}, I32(1), Call(FnProcExit), []byte{OpEnd},
	Load(8), []byte{OpI32Eqz, OpBrIf, 1},
	Store(4, Load(8)),
	I32(1), I32(0), I32(1), I32(8), Call(FnFdWrite),
	[]byte{OpIf, BlockVoid}, I32(1), Call(FnProcExit), []byte{OpEnd},
	[]byte{OpBr, 0, OpEnd, OpEnd},
)

// Loop never ends.
var Loop = Command([]byte{OpLoop, BlockVoid, OpBr, 0, OpEnd}, 1, "")

// Exit3 exits with code 3.
var Exit3 = Command(Concat(I32(3), Call(FnProcExit)), 1, "")

// Spew writes 1 KiB chunks forever, ignoring errors.
var Spew = Command(Concat(
	Store(0, I32(16)), Store(4, I32(1024)),
	[]byte{OpLoop, BlockVoid},
	I32(1), I32(0), I32(1), I32(8), Call(FnFdWrite), []byte{OpDrop},
	[]byte{OpBr, 0, OpEnd},
), 1, "")

// Grow grows its memory until refused, then traps.
var Grow = Command(Concat(
	[]byte{OpLoop, BlockVoid},
	I32(16), []byte{OpMemoryGrow, 0}, I32(-1), []byte{OpI32Ne, OpBrIf, 0},
	[]byte{OpEnd, OpUnreachable},
), 1, "")

// Trap traps at once.
var Trap = Command([]byte{OpUnreachable}, 1, "")

// Remember is a reactor whose run writes the 16 bytes at 1024 (zero at
// first), then reads up to 16 bytes of stdin there: were its memory kept
// from one run to the next, a run would print what the one before read.
var Remember = Reactor(Concat(
	Store(0, I32(1024)), Store(4, I32(16)),
	I32(1), I32(0), I32(1), I32(8), Call(FnFdWrite), []byte{OpDrop},
	Store(0, I32(1024)), Store(4, I32(16)),
	I32(0), I32(0), I32(1), I32(8), Call(FnFdRead), []byte{OpDrop},
), 1)

// LoopReactor is a reactor whose run never ends.
var LoopReactor = Reactor([]byte{OpLoop, BlockVoid, OpBr, 0, OpEnd}, 1)

// Exit7Reactor is a reactor whose run returns 7.
var Exit7Reactor = ReactorCode(I32(7), 1)

// WithData appends to a module a data section of active segments, each
// data at its offset.
func WithData(module []byte, segs map[int32][]byte) []byte {
	var items [][]byte
	for off, data := range segs {
		items = append(items, Concat([]byte{0}, I32(off), []byte{OpEnd}, ULEB(uint64(len(data))), data))
	}
	return Concat(module, Section(11, Vec(items...)))
}

// Pristine writes the 16 bytes at 100 (its data: "0123456789abcdef"),
// the i32 at 60000 (0), grows its memory by a page and writes the i32 at
// 70000 (0); then it overwrites all three, with stdin at 100: were a
// memory kept from one instance to the next, a run would print what the
// one before left.
var Pristine = WithData(Command(Concat(
	write(100, 16), write(60000, 4),
	I32(1), []byte{OpMemoryGrow, 0, OpDrop},
	write(70000, 4),
	Store(60000, I32(-1)), Store(70000, I32(-1)),
	Store(0, I32(100)), Store(4, I32(16)),
	I32(0), I32(0), I32(1), I32(8), Call(FnFdRead), []byte{OpDrop},
), 1, ""), map[int32][]byte{100: []byte("0123456789abcdef")})

// write writes n bytes at addr to stdout.
func write(addr, n int32) []byte {
	return Concat(Store(0, I32(addr)), Store(4, I32(n)), I32(1), I32(0), I32(1), I32(8), Call(FnFdWrite), []byte{OpDrop})
}

// SetsGlobal sets global 0, which it does not define.
var SetsGlobal = Command(Concat(I32(1), []byte{0x24, 0}), 1, "")
