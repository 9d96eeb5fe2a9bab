// Command examples holds the example storlets of the tests in one WASI
// program (so the tests compile one module, not eight): like busybox, it
// runs the storlet named by argv[0], which is the name the storlet was
// registered under.
package main

import (
	"fmt"
	"os"
	"path"
)

var storlets = map[string]func(){
	"upper":     upper,
	"csvselect": csvselect,
	"prefix":    prefix,
	"identity":  identity,
	"loop":      loop,
	"alloc":     alloc,
	"spew":      spew,
	"escape":    escape,
}

func main() {
	name := path.Base(os.Args[0])
	run, ok := storlets[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "examples: no storlet %q\n", name)
		os.Exit(2)
	}
	run()
}
