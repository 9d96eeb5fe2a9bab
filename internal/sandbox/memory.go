package sandbox

import (
	"github.com/tetratelabs/wazero/experimental"
)

// keepResident is how much of a kept memory stays committed: what a run
// grew beyond is given back to the kernel.
const keepResident = 16 << 20

// memory is an instance's linear memory: a mapping of the memory limit,
// reserved up front and committed by the kernel page by page. Growing is
// free (no copy of the whole memory into a bigger slice, as wazero's default
// allocator does on every memory.grow), and the Go heap and its collector
// never see it. When its instance closes it is kept for a later instance,
// which finds it cleared: faulting fresh pages in is what costs most in a
// short run (tens of µs a page in a virtual machine), clearing the few
// megabytes a run touched much less.
type memory struct {
	buf   []byte // the whole mapping
	max   uint64 // what the instance may grow to
	dirty uint64 // buf[dirty:] is all zero
	pool  *pool[struct{}, *memory]
}

func (m *memory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	m.dirty = max(m.dirty, size) // nothing writes past the memory's size
	return m.buf[:size]
}

// Free keeps the memory for another instance. Its instance no longer runs:
// wazero frees it when the instance is closed by the goroutine that called
// it, or by its proc_exit, after which it never returns.
func (m *memory) Free() {
	if m.dirty > keepResident {
		dropPages(m.buf[keepResident:m.dirty])
		m.dirty = keepResident
	}
	m.pool.put(struct{}{}, m)
}

func (m *memory) unmap() { unmapMemory(m.buf) }

// restore makes the memory what a fresh one holding img would be.
func (m *memory) restore(img image) {
	var at uint64
	for _, r := range img {
		clear(m.buf[at:max(at, min(r.off, m.dirty))])
		copy(m.buf[r.off:], r.data)
		at = r.off + uint64(len(r.data))
	}
	clear(m.buf[at:max(at, m.dirty)])
	m.dirty = at
}

// allocator gives each instance of a module whose data segments make img
// a memory that holds it.
func (r *Runtime) allocator(img image) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		m, ok := r.mems.take(struct{}{})
		if !ok {
			buf, err := mapMemory(uint64(r.lim.MemoryPages) * PageSize)
			if err != nil {
				return newHeapMemory(img, max)
			}
			m = &memory{buf: buf, pool: r.mems}
		}
		m.restore(img)
		m.max = min(max, uint64(len(m.buf)))
		return m
	})
}

// heapMemory is linear memory on the Go heap: the fallback where memory
// cannot be mapped.
type heapMemory struct {
	buf []byte
	max uint64
}

func newHeapMemory(img image, max uint64) *heapMemory {
	m := &heapMemory{buf: make([]byte, img.end()), max: max}
	for _, r := range img {
		copy(m.buf[r.off:], r.data)
	}
	return m
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > uint64(cap(m.buf)) {
		nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
		copy(nb, m.buf)
		m.buf = nb
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }
