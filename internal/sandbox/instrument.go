package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// instrument makes a module stoppable cheaply. wazero's way (its
// WithCloseOnContextDone) compiles a call out of the machine code into Go
// at every loop iteration, and Go-built modules enter a loop in every
// function call and every branch back: the checks cost more than the work
// of most runs. Instead, two i32 globals are added: fuel, counted down at
// the head of every loop, and stop, exported as the name returned. When
// fuel runs out (every fuelLoops iterations) the module calls into Go
// (memory.grow 0: machine code cannot be preempted, and the Go scheduler
// and collector need it to stop by now and then) and traps (unreachable)
// if the host has set stop. The module's own code cannot see or set
// either: instrument refuses code that uses a global the module does not
// define, as validation would have before they were added.
func instrument(secs []section) (rest []section, stop string, err error) {
	imp, ok1 := find(secs, secImport)
	glob, ok2 := find(secs, secGlobal)
	exp, ok3 := find(secs, secExport)
	code, ok4 := find(secs, secCode)
	if !ok1 || !ok2 || !ok3 || !ok4 || exp < 0 || code < 0 {
		return nil, "", errors.New("no single export or code section")
	}
	nglobals := 0
	if imp >= 0 {
		if nglobals, err = importedGlobals(secs[imp].body); err != nil {
			return nil, "", err
		}
	}
	rest = slices.Clone(secs)
	// The globals: i32, mutable, 0 (stop) and fuelLoops (fuel).
	stopDef := []byte{0x7f, 1, 0x41, 0, 0x0b}
	fuelDef := slices.Concat([]byte{0x7f, 1, 0x41}, sleb(fuelLoops), []byte{0x0b})
	if glob >= 0 {
		body, n, err := appendToVec(secs[glob].body, stopDef)
		if err != nil {
			return nil, "", err
		}
		rest[glob].body, _, _ = appendToVec(body, fuelDef)
		nglobals += n
	} else {
		// Globals come after memories (and tables, functions, imports and
		// types), before exports.
		rest = slices.Insert(rest, exp, section{secGlobal, slices.Concat([]byte{2}, stopDef, fuelDef)})
		exp++
		code++
	}
	stop, err = stopName(rest[exp].body)
	if err != nil {
		return nil, "", err
	}
	entry := binary.AppendUvarint(nil, uint64(len(stop)))
	entry = append(entry, stop...)
	entry = append(entry, 3) // a global
	entry = binary.AppendUvarint(entry, uint64(nglobals))
	if rest[exp].body, _, err = appendToVec(rest[exp].body, entry); err != nil {
		return nil, "", err
	}
	if rest[code].body, err = instrumentCode(rest[code].body, uint32(nglobals)); err != nil {
		return nil, "", err
	}
	return rest, stop, nil
}

// appendToVec appends an item to a section that is a vector, returning the
// section and how many items it had.
func appendToVec(body, item []byte) ([]byte, int, error) {
	n, k := binary.Uvarint(body)
	if k <= 0 || n >= 1<<31 {
		return nil, 0, errors.New("bad vector")
	}
	out := binary.AppendUvarint(nil, n+1)
	out = append(out, body[k:]...)
	return append(out, item...), int(n), nil
}

// importedGlobals counts the globals an import section imports.
func importedGlobals(b []byte) (int, error) {
	r := reader{b: b}
	n := r.uleb()
	globals := 0
	for i := uint64(0); i < n && r.err == nil; i++ {
		r.skip(int(r.uleb())) // module
		r.skip(int(r.uleb())) // name
		switch r.byte() {
		case 0: // function: type index
			r.uleb()
		case 1: // table: reftype, limits
			r.byte()
			r.limits()
		case 2: // memory
			r.limits()
		case 3: // global: valtype, mutability
			r.byte()
			r.byte()
			globals++
		default:
			r.fail()
		}
	}
	if r.err == nil && len(r.b) != r.p {
		r.fail()
	}
	return globals, r.err
}

// stopName is an export name the module does not use.
func stopName(exports []byte) (string, error) {
	r := reader{b: exports}
	names := map[string]bool{}
	n := r.uleb()
	for i := uint64(0); i < n && r.err == nil; i++ {
		names[string(r.bytes(int(r.uleb())))] = true
		r.byte()
		r.uleb()
	}
	if r.err != nil {
		return "", r.err
	}
	name := "sandbox.stop"
	for names[name] {
		name += "_"
	}
	return name, nil
}

// fuelLoops is how many loop iterations a module runs between calls into
// Go: each costs about as much as a hundred iterations of a small loop.
const fuelLoops = 4096

// stopCheck is inserted at the head of every loop, with stop and fuel the
// globals' indices:
//
//	if (global.get fuel) == 0 {
//		global.set fuel fuelLoops
//		drop (memory.grow 0)
//		if (global.get stop) { unreachable }
//	}
//	global.set fuel (global.get fuel - 1)
//
// It leaves the stack as it was, so it fits any loop.
func stopCheck(stop uint32) []byte {
	s, f := binary.AppendUvarint(nil, uint64(stop)), binary.AppendUvarint(nil, uint64(stop+1))
	return slices.Concat(
		[]byte{0x23}, f, []byte{0x45, 0x04, 0x40},
		[]byte{0x41}, sleb(fuelLoops), []byte{0x24}, f,
		[]byte{0x41, 0, 0x40, 0, 0x1a},
		[]byte{0x23}, s, []byte{0x04, 0x40, 0x00, 0x0b},
		[]byte{0x0b},
		[]byte{0x23}, f, []byte{0x41, 1, 0x6b, 0x24}, f,
	)
}

// sleb encodes a signed LEB128.
func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 && b&0x40 == 0 || v == -1 && b&0x40 != 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// instrumentCode inserts the stop check into every loop of every function
// of a code section.
func instrumentCode(b []byte, global uint32) ([]byte, error) {
	check := stopCheck(global)
	r := reader{b: b}
	n := r.uleb()
	out := binary.AppendUvarint(make([]byte, 0, len(b)+len(b)/8), n)
	var fn []byte
	for i := uint64(0); i < n && r.err == nil; i++ {
		size := int(r.uleb())
		body := r.bytes(size)
		if r.err != nil {
			break
		}
		var err error
		if fn, err = instrumentFunc(fn[:0], body, check, global); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(fn)))
		out = append(out, fn...)
	}
	if r.err == nil && r.p != len(b) {
		r.fail()
	}
	return out, r.err
}

// instrumentFunc appends to out a function body (locals, then code) with
// check after every loop instruction. It decodes every instruction of
// WebAssembly 2.0 (what wazero runs by default) to find them; it refuses
// anything else.
func instrumentFunc(out, body, check []byte, global uint32) ([]byte, error) {
	r := reader{b: body}
	nlocals := r.uleb()
	for i := uint64(0); i < nlocals && r.err == nil; i++ {
		r.uleb() // count
		r.byte() // type
	}
	from := 0 // body[from:r.p] is still to copy
	for r.err == nil && r.p < len(body) {
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.sleb(33)
		case op == 0x03: // loop
			r.sleb(33)
			out = append(out, body[from:r.p]...)
			out = append(out, check...)
			from = r.p
		case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1:
			// unreachable nop else end return drop select ref.is_null
		case op == 0x0c || op == 0x0d || op == 0x10 || op == 0xd2: // br br_if call ref.func
			r.uleb()
		case op == 0x0e: // br_table
			n := r.uleb()
			for i := uint64(0); i <= n && r.err == nil; i++ {
				r.uleb()
			}
		case op == 0x11: // call_indirect
			r.uleb()
			r.uleb()
		case op == 0x1c: // select t*
			r.skip(int(r.uleb()))
		case op >= 0x20 && op <= 0x22, op == 0x25 || op == 0x26: // locals, table.get/set
			r.uleb()
		case op == 0x23 || op == 0x24: // global.get, global.set
			if uint32(r.uleb()) >= global {
				return nil, errors.New("uses a global it does not define")
			}
		case op >= 0x28 && op <= 0x3e: // loads, stores
			r.memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.uleb()
		case op == 0x41:
			r.sleb(32)
		case op == 0x42:
			r.sleb(64)
		case op == 0x43:
			r.skip(4)
		case op == 0x44:
			r.skip(8)
		case op >= 0x45 && op <= 0xc4: // numeric, sign extension
		case op == 0xd0: // ref.null
			r.byte()
		case op == 0xfc:
			r.misc()
		case op == 0xfd:
			r.simd()
		default:
			return nil, fmt.Errorf("unknown instruction 0x%02x", op)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return append(out, body[from:]...), nil
}

// reader decodes WebAssembly; the first error sticks and stops it.
type reader struct {
	b   []byte
	p   int
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("malformed module")
	}
	r.p = len(r.b)
}

func (r *reader) byte() byte {
	if r.p >= len(r.b) {
		r.fail()
		return 0
	}
	r.p++
	return r.b[r.p-1]
}

func (r *reader) skip(n int) {
	if n < 0 || n > len(r.b)-r.p {
		r.fail()
		return
	}
	r.p += n
}

func (r *reader) bytes(n int) []byte {
	from := r.p
	r.skip(n)
	if r.err != nil {
		return nil
	}
	return r.b[from:r.p]
}

func (r *reader) uleb() uint64 {
	v, n := binary.Uvarint(r.b[r.p:])
	if n <= 0 || v > 1<<32-1 {
		r.fail()
		return 0
	}
	r.p += n
	return v
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *reader) sleb(bits int) {
	for i := 0; i < (bits+6)/7; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail()
}

func (r *reader) limits() {
	flags := r.byte()
	r.uleb()
	if flags&1 != 0 {
		r.uleb()
	}
}

func (r *reader) memarg() {
	if align := r.uleb(); align&0x40 != 0 { // a memory index follows
		r.uleb()
	}
	r.uleb() // offset
}

// misc skips the immediates of an 0xfc instruction.
func (r *reader) misc() {
	switch op := r.uleb(); {
	case op <= 7: // saturating truncations
	case op == 8 || op == 12 || op == 14: // memory.init, table.init, table.copy
		r.uleb()
		r.uleb()
	case op == 10: // memory.copy
		r.uleb()
		r.uleb()
	case op == 9 || op == 11 || op == 13 || op >= 15 && op <= 17: // data.drop memory.fill elem.drop table.grow/size/fill
		r.uleb()
	default:
		r.fail()
	}
}

// simd skips the immediates of an 0xfd instruction.
func (r *reader) simd() {
	switch op := r.uleb(); {
	case op <= 11 || op == 92 || op == 93: // loads, stores
		r.memarg()
	case op == 12 || op == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case op >= 21 && op <= 34: // extract, replace lane
		r.byte()
	case op >= 84 && op <= 91: // lane loads, stores
		r.memarg()
		r.byte()
	case op <= 0xff: // no immediates
	default:
		r.fail()
	}
}
