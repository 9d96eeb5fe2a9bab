// Command chaos is the fault campaign run against a real dds process:
//
//	go run ./bench/chaos --duration 10m   # the full form
//	go run ./bench/chaos --short          # the CI form: a minute or so
//
// It builds the dds binary, then within the time budget
//   - kills the node with SIGKILL at random moments during mixed uploads,
//     payments and extensions, restarts it, and checks every acknowledged
//     file byte for byte, leftover staging files and unreferenced blobs;
//   - probes slow bodies (a client trickling 4 bytes/s) and an oversized
//     body on every face;
//   - runs mixed load at saturation: 5xx count, p50/p99 latency, peak RSS;
//   - runs every fuzz target of the repository for a share of the budget.
//
// It prints one summary table and exits non-zero if a check failed. Not
// yet in it (see issue 16): a full disk on a small tmpfs, storlet runs and
// compute jobs in the kill campaign, and a network of 5 processes losing
// nodes with repair time reported.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "time budget of the whole campaign")
	short := flag.Bool("short", false, "the CI form: 2 kills, 10 s of load, no fuzzing")
	keep := flag.Bool("keep", false, "keep the work directory")
	only := flag.String("only", "", "run only these parts, comma-separated: kill,probes,load,network,disk,fuzz")
	flag.Parse()
	c := &campaign{budget: *duration, short: *short, only: map[string]bool{}}
	for _, p := range strings.Split(*only, ",") {
		if p != "" {
			c.only[p] = true
		}
	}
	if c.short {
		c.budget = min(c.budget, 90*time.Second)
	}
	if err := c.run(*keep); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	c.print()
	if c.failed {
		os.Exit(1)
	}
}

type row struct{ check, result, figures string }

type campaign struct {
	budget time.Duration
	short  bool
	work   string
	bin    string
	wasm   string // the example storlets
	algo   string // the linecount compute algorithm
	only   map[string]bool
	rows   []row
	failed bool
}

func (c *campaign) add(check string, ok bool, format string, args ...any) {
	res := "ok"
	if !ok {
		res, c.failed = "FAIL", true
	}
	c.rows = append(c.rows, row{check, res, fmt.Sprintf(format, args...)})
}

// skip adds a row for a check that could not run here.
func (c *campaign) skip(check, format string, args ...any) {
	c.rows = append(c.rows, row{check, "skipped", fmt.Sprintf(format, args...)})
}

// part tells whether a part of the campaign runs (--only).
func (c *campaign) part(name string) bool { return len(c.only) == 0 || c.only[name] }

func (c *campaign) print() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tresult\tfigures")
	fmt.Fprintln(tw, "-----\t------\t-------")
	for _, r := range c.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.check, r.result, r.figures)
	}
	tw.Flush()
}

func (c *campaign) run(keep bool) error {
	start := time.Now()
	var err error
	if c.work, err = os.MkdirTemp("", "dds-chaos-"); err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(c.work)
	} else {
		fmt.Println("work directory:", c.work)
	}
	c.bin = filepath.Join(c.work, "dds")
	if out, err := exec.Command("go", "build", "-o", c.bin, "./cmd/dds").CombinedOutput(); err != nil {
		return fmt.Errorf("building dds: %v\n%s", err, out)
	}
	if err := c.buildStorlets(); err != nil {
		return err
	}
	if err := c.buildAlgorithm(); err != nil {
		return err
	}
	// The network part takes about a minute (two kills, 10 files), the
	// short form half that; the probes and the full disk some 15 s each.
	kills := c.budget / 4
	load := c.budget * 3 / 20
	netFiles, netSize, netKills := 10, 1<<20, 2
	if c.short {
		kills, load = 0, 10*time.Second // two rounds, whatever they take
		netFiles, netSize, netKills = 3, 64<<10, 1
	}
	if c.part("kill") {
		if err := c.killCampaign(kills); err != nil {
			return err
		}
	}
	if c.part("probes") {
		if err := c.probes(); err != nil {
			return err
		}
	}
	if c.part("load") {
		if err := c.loadTest(load); err != nil {
			return err
		}
	}
	if c.part("network") {
		if err := c.networkLoss(netFiles, netSize, netKills); err != nil {
			return err
		}
	}
	if c.part("disk") {
		mib, workers := 48, 4
		if c.short {
			mib, workers = 16, 2
		}
		if err := c.fullDisk(mib, workers); err != nil {
			return err
		}
	}
	if !c.short && c.part("fuzz") {
		c.fuzz(c.budget - time.Since(start) - 10*time.Second)
	}
	c.add("total", !c.failed, "%s", time.Since(start).Round(time.Second))
	return nil
}
