package sandbox

import (
	"encoding/binary"
	"slices"
)

// prepared is a module as the sandbox compiles it.
type prepared struct {
	code []byte // the module to compile
	// img is what its data segments put in memory, taken out of code (see
	// takeData); instances get their memory holding it.
	img image
	// stop is the export of the global that, once set, stops the module at
	// its next loop (see instrument); "" if code has none, and wazero's own
	// check must stop it.
	stop string
}

// prepare rewrites a module for the sandbox; what it cannot do, it leaves
// as it is (and wazero reports what is wrong with an invalid module).
func prepare(wasm []byte) prepared {
	secs, ok := splitSections(wasm)
	if !ok {
		return prepared{code: wasm}
	}
	var p prepared
	if img, rest, ok := takeData(secs); ok {
		p.img, secs = img, rest
	}
	if rest, stop, err := instrument(secs); err == nil {
		p.stop, secs = stop, rest
	}
	p.code = joinSections(wasm[:8], secs)
	return p
}

type section struct {
	id   byte
	body []byte
}

// Section ids.
const (
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

func splitSections(wasm []byte) ([]section, bool) {
	if len(wasm) < 8 {
		return nil, false
	}
	var secs []section
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-p-1-n) {
			return nil, false
		}
		p += 1 + n
		secs = append(secs, section{id, wasm[p : p+int(size)]})
		p += int(size)
	}
	return secs, true
}

func joinSections(header []byte, secs []section) []byte {
	out := slices.Clone(header)
	for _, s := range secs {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.body)))
		out = append(out, s.body...)
	}
	return out
}

// find returns the index of the only section with id, or -1.
func find(secs []section, id byte) (int, bool) {
	at := -1
	for i, s := range secs {
		if s.id == id {
			if at >= 0 {
				return -1, false
			}
			at = i
		}
	}
	return at, true
}

// takeData takes the data section out of a module when the sandbox can
// apply it itself, and returns the image its segments make. Applying them
// is the largest cost of instantiating a module built by Go, which has
// tens of thousands of them: wazero evaluates and copies each one into
// each instance's memory, where the sandbox copies the image. ok is false
// if the module has a data count section (its code may then use
// memory.init and data.drop, which need the segments), a passive segment,
// an offset that is not a constant, or a segment outside its memory's
// initial size (wazero refuses such a module when it is instantiated).
func takeData(secs []section) (img image, rest []section, ok bool) {
	mem, ok1 := find(secs, secMemory)
	data, ok2 := find(secs, secData)
	count, ok3 := find(secs, secDataCount)
	if !ok1 || !ok2 || !ok3 || count >= 0 {
		return nil, nil, false
	}
	if data < 0 {
		return nil, secs, true
	}
	if mem < 0 {
		return nil, nil, false
	}
	pages, ok := parseMemory(secs[mem].body)
	if !ok {
		return nil, nil, false
	}
	segs, ok := parseData(secs[data].body, pages*PageSize)
	if !ok {
		return nil, nil, false
	}
	return makeImage(segs), slices.Delete(slices.Clone(secs), data, data+1), true
}
