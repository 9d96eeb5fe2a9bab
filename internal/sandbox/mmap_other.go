//go:build !unix

package sandbox

import "errors"

func mapMemory(uint64) ([]byte, error) { return nil, errors.New("no mmap") }
func unmapMemory([]byte)               {}
func dropPages(b []byte)               { clear(b) }
