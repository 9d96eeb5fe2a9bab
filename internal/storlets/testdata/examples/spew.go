package main

import "os"

// spew writes without end, ignoring errors.
func spew() {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = 'x'
	}
	for {
		os.Stdout.Write(b)
	}
}
