package main

var keep [][]byte

// alloc allocates memory without bound, keeping all of it.
func alloc() {
	for {
		b := make([]byte, 4<<20)
		b[len(b)-1] = 1
		keep = append(keep, b)
	}
}
