//go:build !unix

package sandbox

import "github.com/tetratelabs/wazero/experimental"

var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
	return &heapMemory{max: max}
})
