package main

import (
	"io"
	"os"
)

// identity copies its input, 256 KiB a call: the wrappers hide the files'
// ReadFrom and WriteTo, which would copy 32 KiB at a time instead.
func identity() {
	if _, err := io.CopyBuffer(struct{ io.Writer }{os.Stdout}, struct{ io.Reader }{os.Stdin}, make([]byte, 256<<10)); err != nil {
		os.Exit(1)
	}
}
