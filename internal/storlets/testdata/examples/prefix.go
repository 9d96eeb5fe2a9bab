package main

import (
	"fmt"
	"io"
	"os"
	"path"
)

// prefix writes the dependency file named by the file parameter (default
// header.txt), read from $STORLET_DEPS, then its input.
func prefix() {
	name := os.Getenv("STORLET_PARAM_FILE")
	if name == "" {
		name = "header.txt"
	}
	dep, err := os.ReadFile(path.Join(os.Getenv("STORLET_DEPS"), name))
	if err != nil {
		fmt.Fprintln(os.Stderr, "prefix:", err)
		os.Exit(1)
	}
	os.Stdout.Write(dep)
	if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
		os.Exit(1)
	}
}
