// Command escape tries to get out of its sandbox and writes what happened
// to /data/outputs/report.txt: one line per attempt, "blocked" or
// "ESCAPED".
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	var report strings.Builder
	try := func(name string, f func() error) {
		if err := f(); err != nil {
			fmt.Fprintf(&report, "%s: blocked\n", name)
		} else {
			fmt.Fprintf(&report, "%s: ESCAPED\n", name)
		}
	}
	read := func(p string) func() error {
		return func() error { _, err := os.ReadFile(p); return err }
	}
	try("read /etc/passwd", read("/etc/passwd"))
	try("read via ..", read("/data/inputs/../../../../../etc/passwd"))
	try("read relative ..", read("../../../../etc/passwd"))
	try("read /proc/self/environ", read("/proc/self/environ"))
	try("write /tmp", func() error { return os.WriteFile("/tmp/escape", []byte("x"), 0o644) })
	try("write an input", func() error { return os.WriteFile("/data/inputs/planted", []byte("x"), 0o644) })
	try("write outside outputs", func() error { return os.WriteFile("/data/outputs/../../planted", []byte("x"), 0o644) })
	try("dial out", func() error {
		c, err := net.Dial("tcp", "1.1.1.1:80")
		if err == nil {
			c.Close()
		}
		return err
	})
	// A link out of the sandbox: the node must not follow it when it
	// publishes the outputs.
	_ = os.Symlink("/etc/passwd", "/data/outputs/passwd")
	_ = os.Symlink("../../../../../../etc/passwd", "/data/outputs/passwd2")
	if err := os.WriteFile("/data/outputs/report.txt", []byte(report.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(report.String())
}
