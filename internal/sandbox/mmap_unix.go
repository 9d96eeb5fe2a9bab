//go:build unix

package sandbox

import "syscall"

// mapMemory reserves size bytes of zeroed memory, committed page by page as
// they are touched.
func mapMemory(size uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
}

func unmapMemory(b []byte) { syscall.Munmap(b) }

// dropPages gives b's pages back to the kernel; they read as zero after.
func dropPages(b []byte) {
	if syscall.Madvise(b, syscall.MADV_DONTNEED) != nil {
		clear(b)
	}
}
