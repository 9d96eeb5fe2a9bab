package sandbox

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sort"
)

// image is what a module's active data segments put in a fresh memory:
// runs of bytes at offsets (whole OS pages, in order, apart), zero
// elsewhere.
type image []imageRun

type imageRun struct {
	off  uint64
	data []byte
}

func (img image) end() uint64 {
	if len(img) == 0 {
		return 0
	}
	r := img[len(img)-1]
	return r.off + uint64(len(r.data))
}

const osPage = 4 << 10

// parseMemory returns the initial size in pages of the one memory a
// memory section defines.
func parseMemory(b []byte) (uint64, bool) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count != 1 || len(b) < n+1 {
		return 0, false
	}
	flags := b[n]
	if flags > 3 { // 64-bit or custom page sizes
		return 0, false
	}
	pages, m := binary.Uvarint(b[n+1:])
	if m <= 0 || pages > 65536 {
		return 0, false
	}
	return pages, true
}

// parseData returns the active segments of a data section, each at its
// offset, all within limit bytes.
func parseData(b []byte, limit uint64) ([]imageRun, bool) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, false
	}
	b = b[n:]
	segs := make([]imageRun, 0, count)
	for range count {
		flags, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, false
		}
		b = b[n:]
		switch flags {
		case 0: // active, memory 0
		case 2: // active, memory index given
			if len(b) == 0 || b[0] != 0 {
				return nil, false
			}
			b = b[1:]
		default: // passive
			return nil, false
		}
		// The offset: i32.const v, end.
		if len(b) == 0 || b[0] != 0x41 {
			return nil, false
		}
		v, n := sleb32(b[1:])
		if n <= 0 || len(b) < 1+n+1 || b[1+n] != 0x0b {
			return nil, false
		}
		b = b[1+n+1:]
		size, m := binary.Uvarint(b)
		if m <= 0 || size > uint64(len(b)-m) {
			return nil, false
		}
		off := uint64(uint32(v))
		if off+size > limit {
			return nil, false
		}
		segs = append(segs, imageRun{off: off, data: b[m : m+int(size)]})
		b = b[m+int(size):]
	}
	return segs, len(b) == 0
}

// sleb32 decodes a signed LEB128 i32 of at most 5 bytes.
func sleb32(b []byte) (int32, int) {
	var v int64
	for i := 0; i < len(b) && i < 5; i++ {
		v |= int64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if b[i]&0x40 != 0 {
				v |= -1 << (7 * (i + 1))
			}
			if v < -1<<31 || v >= 1<<31 {
				return 0, 0
			}
			return int32(v), i + 1
		}
	}
	return 0, 0
}

// makeImage lays segments out as wasm instantiation does, in order (a
// later one overwrites an earlier one where they overlap), in runs of the
// OS pages they touch.
func makeImage(segs []imageRun) image {
	type span struct{ from, to uint64 }
	spans := make([]span, 0, len(segs))
	for _, s := range segs {
		if len(s.data) > 0 {
			spans = append(spans, span{s.off &^ (osPage - 1), (s.off + uint64(len(s.data)) + osPage - 1) &^ (osPage - 1)})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	var img image
	var to uint64
	for _, s := range spans {
		if len(img) > 0 && s.from <= to {
			to = max(to, s.to)
			continue
		}
		if len(img) > 0 {
			img[len(img)-1].data = make([]byte, to-img[len(img)-1].off)
		}
		img = append(img, imageRun{off: s.from})
		to = s.to
	}
	if len(img) > 0 {
		img[len(img)-1].data = make([]byte, to-img[len(img)-1].off)
	}
	for _, s := range segs {
		i := sort.Search(len(img), func(i int) bool { return img[i].off+uint64(len(img[i].data)) > s.off })
		if len(s.data) > 0 {
			copy(img[i].data[s.off-img[i].off:], s.data)
		}
	}
	return img
}
