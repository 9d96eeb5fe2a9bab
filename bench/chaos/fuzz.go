package main

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
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
		c.skip("fuzz targets", "%d targets, no time left in the budget", len(targets))
		return
	}
	// Each run also builds its package and runs its TestMain: the overhead
	// is measured as the runs go (15 s until the first). Targets run in a
	// random order, each for an equal share of what is left (at least
	// 5 s), and none starts that would not end within the budget: a short
	// budget covers some targets, a later run others.
	mrand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	deadline := time.Now().Add(budget)
	overhead, runs := 15*time.Second, 0
	var failed, skipped []string
	var fuzzed time.Duration
	for i, t := range targets {
		each := max(5*time.Second, time.Until(deadline)/time.Duration(len(targets)-i)-overhead)
		if time.Until(deadline) < each+overhead {
			for _, t := range targets[i:] {
				skipped = append(skipped, t.name)
			}
			break
		}
		each = each.Truncate(time.Second)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, "go", "test", t.pkg, "-run", "XXX", "-fuzz", "^"+t.name+"$", "-fuzztime", each.String(), "-parallel", "1").CombinedOutput()
		cut := ctx.Err() != nil
		cancel()
		took := time.Since(t0)
		if cut { // the package's build and TestMain took longer than measured so far
			skipped = append(skipped, t.name)
			break
		}
		runs++
		fuzzed += each
		overhead = (overhead*time.Duration(runs) + max(0, took-each)) / time.Duration(runs+1)
		switch {
		case err != nil && baselineOnly(out):
			// -fuzztime ran out while the fuzzer was still running the
			// seed corpus (a slow package on a busy machine): nothing was
			// fuzzed, and nothing failed.
			runs--
			fuzzed -= each
			skipped = append(skipped, t.name)
		case err != nil:
			failed = append(failed, t.name)
			fmt.Fprintf(os.Stderr, "%s %s: %v\n%s\n", t.pkg, t.name, err, out)
		}
	}
	ok := len(failed) == 0 && runs > 0
	if runs == 0 {
		c.skip("fuzz targets", "%d targets, none fit in the %s left", len(targets), budget.Round(time.Second))
		return
	}
	c.add("fuzz targets", ok, "%d of %d targets (random order), %s of fuzzing each; failed: %v; not reached or cut by the budget: %d",
		runs, len(targets), (fuzzed / time.Duration(runs)).Round(time.Second), failed, len(skipped))
}

// baselineOnly tells a fuzz run that ran out of time before it fuzzed
// (go test says "context deadline exceeded" while still gathering baseline
// coverage) from one that found a failing input.
func baselineOnly(out []byte) bool {
	o := string(out)
	return strings.Contains(o, "context deadline exceeded") && strings.Contains(o, "gathering baseline coverage") &&
		!strings.Contains(o, "Failing input") && !strings.Contains(o, "panic:")
}
