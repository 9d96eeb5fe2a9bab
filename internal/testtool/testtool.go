// Package testtool is for tests that need a tool from outside Go (a Bitcoin
// node, gpg, Node.js packages, root): when the tool is absent the test is
// skipped, and says so where a person sees it, with the command that
// installs the tool. A skipped test is not a passed one.
package testtool

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

var warned sync.Map

// Missing skips t because what is absent, after warning loudly (once per
// test binary and tool) with the command that makes the test run.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("SKIPPING %s: %s is not here. To run it: %s", t.Name(), what, install)
	if _, seen := warned.LoadOrStore(what, true); !seen {
		Warn("WARNING: " + msg)
	}
	t.Skip(msg)
}

// Warn writes a line that `go test ./...` shows even for a package whose
// tests pass: the go command keeps a passing package's output to itself
// unless run with -v, so the line also goes to the go command's own
// standard error, where Linux lets a test reach it.
func Warn(line string) {
	fmt.Fprintln(os.Stderr, line)
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return // not run by the go command: our own stderr is seen already
	}
	if f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", ppid), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}
