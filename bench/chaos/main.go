// Command chaos is the fault campaign run against real dds processes:
//
//	go run ./bench/chaos --duration 10m   # the full form
//	go run ./bench/chaos --short          # the CI form: about a minute
//	go run ./bench/chaos --only network,disk  # some parts only
//
// It builds the dds binary, the example storlets and a compute algorithm,
// then within the time budget
//   - kills the node with SIGKILL at random moments during mixed uploads,
//     payments, extensions, reads through a deployed WASI storlet (and its
//     dependency) and compute jobs, restarts it, and checks every
//     acknowledged file byte for byte through the storlet, that the
//     storlet stays deployed, that no compute job stays queued or running
//     and a new one finishes, and that no staging file or unreferenced blob
//     is left (a quarter of the budget, two kills in --short);
//   - probes slow bodies (a client trickling 4 bytes/s) and an oversized
//     body on every face;
//   - runs mixed load at saturation: 5xx count, p50/p99 latency, peak RSS
//     (15% of the budget, 10 s in --short);
//   - starts a network of 5 processes, stores files with 3 copies, kills
//     nodes with SIGKILL for good (two; one in --short) and reports how long
//     until a survivor shows each gone and until every file has 3 stored
//     copies on live nodes again, then reads every file back through every
//     survivor;
//   - fills a small tmpfs under a node's data directory with uploads (root
//     only, "skipped" otherwise): 507 for what does not fit, no partial blob
//     or staging file, the node keeps serving;
//   - runs the fuzz targets of the repository, in a random order, in what
//     is left of the budget (not in --short).
//
// It prints one summary table and exits non-zero if a check failed. Not in
// it yet (see issue 16): restarts of the network's nodes (they are killed
// for good) and kills during repair.
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
	short := flag.Bool("short", false, "the CI form: 2 kills, 10 s of load, a network losing one node, a 16 MiB disk, no fuzzing")
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
	c.add("total", !c.failed, "%s (budget %s)", time.Since(start).Round(time.Second), c.budget)
	return nil
}
