// Command fail reports an error and exits with status 3.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("starting")
	fmt.Fprintln(os.Stderr, "the model diverged")
	os.Exit(3)
}
