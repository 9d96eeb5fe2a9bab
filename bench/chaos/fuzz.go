package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// fuzz runs every fuzz target of the repository, sharing the budget.
func (c *campaign) fuzz(budget time.Duration) {
	type target struct{ pkg, name string }
	var targets []target
	re := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			targets = append(targets, target{"./" + filepath.Dir(p), m[1]})
		}
		return nil
	})
	if len(targets) == 0 || budget <= 0 {
		c.add("fuzz targets", budget > 0, "no time left in the budget")
		return
	}
	// Each run also builds its package and starts its workers: count 15 s.
	each := budget/time.Duration(len(targets)) - 15*time.Second
	if each < 5*time.Second {
		each = 5 * time.Second
	}
	failed := []string{}
	for _, t := range targets {
		out, err := exec.Command("go", "test", t.pkg, "-run", "XXX", "-fuzz", "^"+t.name+"$", "-fuzztime", each.String(), "-parallel", "1").CombinedOutput()
		if err != nil {
			failed = append(failed, t.name)
			fmt.Fprintf(os.Stderr, "%s %s:\n%s\n", t.pkg, t.name, out)
		}
	}
	c.add("fuzz targets", len(failed) == 0, "%d targets, %s each; failed: %v", len(targets), each, failed)
}
