package sandbox

// A tiny WebAssembly assembler for the unit tests: enough to hand-assemble
// WASI command modules without a toolchain.

const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opCall        = 0x10
	opDrop        = 0x1a
	opI32Load     = 0x28
	opI32Store    = 0x36
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32Eqz      = 0x45
	opI32Ne       = 0x47
	blockVoid     = 0x40
)

// Function indices of the imports every test module has.
const (
	fnFdRead   = 0
	fnFdWrite  = 1
	fnProcExit = 2
)

func uleb(v uint64) []byte {
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

func sleb(v int64) []byte {
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

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func section(id byte, content ...[]byte) []byte {
	var body []byte
	for _, c := range content {
		body = append(body, c...)
	}
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// i32 pushes a constant; load/store read and write i32s at constant addresses.
func i32(v int32) []byte     { return append([]byte{opI32Const}, sleb(int64(v))...) }
func call(fn byte) []byte    { return []byte{opCall, fn} }
func load(addr int32) []byte { return append(i32(addr), opI32Load, 2, 0) }
func store(addr int32, val []byte) []byte {
	return append(append(i32(addr), val...), opI32Store, 2, 0)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// command assembles a WASI command module whose _start runs body, with
// memPages pages of memory. importMod, if set, replaces the module name of
// the proc_exit import (to test refused imports).
func command(body []byte, memPages uint32, importMod string) []byte {
	if importMod == "" {
		importMod = "wasi_snapshot_preview1"
	}
	i32t := byte(0x7f)
	types := section(1, vec(
		[]byte{0x60, 4, i32t, i32t, i32t, i32t, 1, i32t}, // fd_read, fd_write
		[]byte{0x60, 1, i32t, 0},                         // proc_exit
		[]byte{0x60, 0, 0},                               // _start
	))
	imports := section(2, vec(
		cat(name("wasi_snapshot_preview1"), name("fd_read"), []byte{0, 0}),
		cat(name("wasi_snapshot_preview1"), name("fd_write"), []byte{0, 0}),
		cat(name(importMod), name("proc_exit"), []byte{0, 1}),
	))
	funcs := section(3, vec([]byte{2}))
	mem := section(5, vec(cat([]byte{0}, uleb(uint64(memPages)))))
	exports := section(7, vec(
		cat(name("memory"), []byte{2, 0}),
		cat(name("_start"), []byte{0, 3}),
	))
	code := cat([]byte{0}, body, []byte{opEnd}) // no locals
	codes := section(10, vec(cat(uleb(uint64(len(code))), code)))
	return cat([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, types, imports, funcs, mem, exports, codes)
}

// Memory layout of the test programs: an iovec at 0 (buffer at 16), the
// count of bytes read or written at 8.
const bufSize = 32 << 10

// modCat copies stdin to stdout.
var modCat = command(cat(
	store(0, i32(16)),
	[]byte{opBlock, blockVoid, opLoop, blockVoid},
	store(4, i32(bufSize)),
	i32(0), i32(0), i32(1), i32(8), call(fnFdRead),
	[]byte{opIf, blockVoid}, i32(1), call(fnProcExit), []byte{opEnd},
	load(8), []byte{opI32Eqz, opBrIf, 1},
	store(4, load(8)),
	i32(1), i32(0), i32(1), i32(8), call(fnFdWrite),
	[]byte{opIf, blockVoid}, i32(1), call(fnProcExit), []byte{opEnd},
	[]byte{opBr, 0, opEnd, opEnd},
), 1, "")

// modLoop never ends.
var modLoop = command([]byte{opLoop, blockVoid, opBr, 0, opEnd}, 1, "")

// modExit3 exits with code 3.
var modExit3 = command(cat(i32(3), call(fnProcExit)), 1, "")

// modSpew writes 1 KiB chunks forever, ignoring errors.
var modSpew = command(cat(
	store(0, i32(16)), store(4, i32(1024)),
	[]byte{opLoop, blockVoid},
	i32(1), i32(0), i32(1), i32(8), call(fnFdWrite), []byte{opDrop},
	[]byte{opBr, 0, opEnd},
), 1, "")

// modGrow grows its memory until refused, then traps.
var modGrow = command(cat(
	[]byte{opLoop, blockVoid},
	i32(16), []byte{opMemoryGrow, 0}, i32(-1), []byte{opI32Ne, opBrIf, 0},
	[]byte{opEnd, opUnreachable},
), 1, "")

// modTrap traps at once.
var modTrap = command([]byte{opUnreachable}, 1, "")
