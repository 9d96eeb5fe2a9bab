package main

// run is the entry point of the examples built as a reactor
// (-buildmode=c-shared, main "run"): the node initializes an instance once
// and calls run for each read. It runs the storlet named by argv[0]; one
// that fails exits with its code as in the command build.
//
//go:wasmexport run
func run() int32 {
	main()
	return 0
}
