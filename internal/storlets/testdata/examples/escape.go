package main

import (
	"fmt"
	"os"
	"syscall"
)

// escape tries to leave the sandbox: read a host file named by the file
// parameter, open a socket, and accept connections on a socket the host may
// have handed over (WASI's only way to the network). What it gets goes to
// stdout; if everything is refused it says so on stderr and exits 3.
func escape() {
	escaped := false
	if b, err := os.ReadFile(os.Getenv("STORLET_PARAM_FILE")); err == nil {
		os.Stdout.Write(b)
		escaped = true
	} else {
		fmt.Fprintln(os.Stderr, "refused: read:", err)
	}
	if fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0); err == nil {
		fmt.Printf("opened socket %d\n", fd)
		escaped = true
	} else {
		fmt.Fprintln(os.Stderr, "refused: socket:", err)
	}
	for fd := 3; fd < 8; fd++ {
		if nfd, _, err := syscall.Accept(fd); err == nil {
			fmt.Printf("accepted %d on %d\n", nfd, fd)
			escaped = true
		} else if fd == 3 {
			fmt.Fprintln(os.Stderr, "refused: accept:", err)
		}
	}
	if !escaped {
		os.Exit(3)
	}
}
