// Command scale measures the cost of work as a node fills up: it starts one
// real `dds serve` process, creates small DEP-7 assets (register + PUT) and
// paid DDS files through the public API window by window, and after each
// window reads back random objects created so far and reads the node's
// resident memory. It prints, per window, the create rate, the read rate and
// the RSS, and whether they stay flat within 20 % from the first windows to
// the last; it times a page of GET /files, the DEP-7 listing and the billing
// statement as the node fills, and prints SQLite's query plan of the queries
// behind them.
//
//	go run ./bench/scale --short          # 20,000 objects and 200 files: a few minutes
//	go run ./bench/scale                  # 1,000,000 objects and 10,000 files
package main

import (
	"bytes"
	"context"
	"crypto/sha3"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the node's own driver, to read its query plans

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/bench/internal/run"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/persist"
)

type config struct {
	objects, files, window, workers, size, reads, rows int
	page                                               int
	bin, work                                          string
	keep, short, restart, scrape                       bool
	budget, idle                                       time.Duration
	serveFlags                                         string
}

func main() {
	var c config
	flag.IntVar(&c.objects, "objects", 1_000_000, "small DEP-7 assets to create")
	flag.IntVar(&c.files, "files", 10_000, "DDS files to create and pay, spread over the objects' windows")
	flag.IntVar(&c.window, "window", 1000, "objects per measured window")
	flag.IntVar(&c.workers, "workers", 8, "concurrent clients")
	flag.IntVar(&c.size, "size", 4096, "bytes of each object and file")
	flag.IntVar(&c.reads, "reads", 1000, "GETs of random objects created so far, after each window")
	flag.IntVar(&c.rows, "rows", 20, "windows printed besides the first and the last (every window is measured)")
	flag.IntVar(&c.page, "page", 50, "page size of the timed GET /files")
	flag.StringVar(&c.bin, "dds", os.Getenv("DDS_BIN"), "dds binary (default: go build ./cmd/dds)")
	flag.StringVar(&c.work, "work", "", "directory for the node's data (default: a new temporary one)")
	flag.StringVar(&c.serveFlags, "serve-flags", "", "more flags for dds serve, space-separated")
	flag.BoolVar(&c.keep, "keep", false, "keep the node's data directory")
	flag.BoolVar(&c.scrape, "scrape", true, "read the node's /metrics after each window, as a Prometheus server would (it splits the node's memory into Go's and SQLite's)")
	flag.BoolVar(&c.restart, "restart", true, "at the end, restart the node and time its start")
	flag.BoolVar(&c.short, "short", false, "a quick check: 20,000 objects and 200 files")
	flag.DurationVar(&c.idle, "idle", 20*time.Second, "after the first window and at the end, how long to measure the node's CPU use with no request (0: skip)")
	flag.DurationVar(&c.budget, "max-time", 0, "stop filling after this long and report what was reached (0: no limit)")
	if err := run.EnvFlags("SCALE"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	flag.Parse()
	if c.short {
		c.objects, c.files = 20_000, 200
	}
	if c.window < 1 || c.objects < c.window || c.workers < 1 || c.size < 16 {
		fmt.Fprintln(os.Stderr, "scale: need --objects >= --window >= 1, --workers >= 1, --size >= 16")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := c.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// window is what one window of objects measured.
type window struct {
	objects, files       int // totals at its end
	createRate, readRate float64
	fileRate             float64
	majorPerRead         float64       // page faults that read from storage, per GET of the read phase
	cpuPerObject         time.Duration // the node's CPU time for the window's creates and reads, per object
	writtenPerObject     int64         // bytes the node wrote to storage in the window, per object
	rss, anon, file      int64
	goHeld               int64 // memory the node's Go runtime holds from the OS (the rest of anon is SQLite's own)
	load                 float64
}

type bench struct {
	config
	node        *run.DDS
	user, payer *client.Client
	admin       *client.Client
	ids         []string // created assets, in order
	fileIDs     []string
	mu          sync.Mutex
	failures    int      // server errors tolerated
	failed      []string // the first few
	seed        uint64
}

func (c config) run(ctx context.Context) error {
	fmt.Println("before:", run.Uptime())
	work := c.work
	if work == "" {
		d, err := os.MkdirTemp("", "dds-scale-")
		if err != nil {
			return err
		}
		work = d
	}
	if !c.keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Println("data kept in", work)
	}
	if c.bin == "" {
		bin, err := run.BuildDDS(work)
		if err != nil {
			return err
		}
		c.bin = bin
	}
	node, err := run.StartDDS(ctx, c.bin, filepath.Join(work, "node"), strings.Fields(c.serveFlags)...)
	if err != nil {
		return err
	}
	defer func() { node.Stop() }() // the node Restart started, not the first
	hc := &http.Client{Transport: run.Transport(c.workers)}
	b := &bench{config: c, node: node, seed: uint64(time.Now().UnixNano())}
	for dst, tok := range map[**client.Client]string{&b.user: node.User, &b.payer: node.Payment, &b.admin: node.Admin} {
		*dst = client.New(node.URL, tok)
		(*dst).HTTP = hc
	}
	fmt.Printf("node %s (pid %d), %d objects of %d B and %d files in windows of %d, %d clients, %d random reads per window\n",
		node.URL, node.Cmd.Process.Pid, c.objects, c.size, c.files, c.window, c.workers, c.reads)
	return b.fill(ctx)
}

func (b *bench) fill(ctx context.Context) error {
	nWin := b.objects / b.window
	printEvery := max(1, nWin/max(b.rows, 1))
	var wins []window
	var probes []probe
	var idleFirst float64
	start := time.Now()
	fmt.Printf("\n%9s %7s %10s %10s %8s %9s %9s %10s %10s %10s %10s %5s | %9s %9s %10s %10s\n",
		"objects", "files", "create/s", "read/s", "majflt/r", "files/s", "CPU/obj", "disk/obj", "RSS anon", "of it Go", "RSS file", "load",
		"files p1", "files pN", "statement", "DEP-7 list")
	filesDone := 0
	for w := 0; w < nWin; w++ {
		if ctx.Err() != nil || (b.budget > 0 && time.Since(start) > b.budget) {
			fmt.Printf("stopped after %s at %d objects\n", time.Since(start).Round(time.Second), len(b.ids))
			break
		}
		win, err := b.oneWindow(ctx, w, &filesDone, nWin)
		if err != nil {
			return err
		}
		wins = append(wins, win)
		if w == 0 {
			idleFirst = b.idleCPU(ctx)
		}
		last := w == nWin-1 || (b.budget > 0 && time.Since(start) > b.budget)
		line := fmt.Sprintf("%9d %7d %10.0f %10.0f %8.2f %9s %9s %10s %10s %10s %10s %5.2f", win.objects, win.files, win.createRate, win.readRate, win.majorPerRead,
			rateOrDash(win.fileRate), ms(win.cpuPerObject), kib(win.writtenPerObject), run.MiB(win.anon), run.MiB(win.goHeld), run.MiB(win.file), win.load)
		if w == 0 || w%printEvery == 0 || last {
			p, err := b.probe(ctx)
			if err != nil {
				return err
			}
			probes = append(probes, p)
			fmt.Printf("%s | %9s %9s %10s %10s\n", line, ms(p.firstPage), ms(p.lastPage), ms(p.statement), ms(p.listing))
		}
	}
	if len(wins) == 0 {
		return errors.New("no window finished")
	}
	_, peak := b.node.Memory()
	fmt.Printf("\nfilled in %s; node peak RSS %s\n", time.Since(start).Round(time.Second), run.MiB(peak))
	if b.failures > 0 {
		fmt.Printf("%d requests failed with a server error (5xx); the first: %s\n", b.failures, strings.Join(b.failed, "; "))
	}
	b.verdict(wins, probes)
	if b.idle > 0 {
		// Background work (housekeeping passes over the stored files) costs
		// the same whether or not anyone asks anything.
		fmt.Printf("  %-22s %9.1f %% -> %9.1f %% of a core, over %s with no request\n", "node CPU when idle", idleFirst, b.idleCPU(ctx), b.idle)
	}
	b.plans(ctx)
	if b.restart {
		// A start walks the blob store (blob.Store.Collect): its time grows
		// with the objects held.
		d, err := b.node.Restart(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("\nrestart with %d objects and %d files: %s until /healthz answered\n", len(b.ids), len(b.fileIDs), d.Round(time.Millisecond))
	}
	fmt.Println("after:", run.Uptime())
	return nil
}

func rateOrDash(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", r)
}

func kib(n int64) string { return fmt.Sprintf("%.0f KiB", float64(n)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

// idleCPU is the node's CPU use, in percent of one core, while nobody asks
// it anything.
func (b *bench) idleCPU(ctx context.Context) float64 {
	if b.idle <= 0 {
		return 0
	}
	c0, t0 := b.node.CPU(), time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(b.idle):
	}
	return 100 * float64(b.node.CPU()-c0) / float64(time.Since(t0))
}

// oneWindow creates a window of objects and its share of files, then reads.
func (b *bench) oneWindow(ctx context.Context, w int, filesDone *int, nWin int) (window, error) {
	base := len(b.ids)
	cpu0, written0 := b.node.CPU(), b.node.Written()
	ids := make([]string, b.window)
	t0 := time.Now()
	err := run.Parallel(ctx, b.workers, b.window, func(i int) error {
		id, err := b.createAsset(ctx, base+i)
		ids[i] = id
		return b.tolerate(w, err)
	})
	if err != nil {
		return window{}, err
	}
	createRate := float64(b.window) / time.Since(t0).Seconds()
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == "" })
	if len(ids) == 0 {
		return window{}, fmt.Errorf("window %d: every create failed", w+1)
	}
	b.ids = append(b.ids, ids...)

	// Files are spread evenly: after window w, (w+1)/nWin of them exist.
	nFiles := b.files*(w+1)/nWin - *filesDone
	var fileRate float64
	if nFiles > 0 {
		fids := make([]string, nFiles)
		t1 := time.Now()
		err := run.Parallel(ctx, b.workers, nFiles, func(i int) error {
			id, err := b.createFile(ctx, *filesDone+i)
			fids[i] = id
			return b.tolerate(w, err)
		})
		if err != nil {
			return window{}, err
		}
		fileRate = float64(nFiles) / time.Since(t1).Seconds()
		*filesDone += nFiles
		b.fileIDs = append(b.fileIDs, slices.DeleteFunc(fids, func(id string) bool { return id == "" })...)
	}

	t2, maj0 := time.Now(), b.node.MajorFaults()
	err = run.Parallel(ctx, b.workers, b.reads, func(i int) error {
		id := b.ids[rand.IntN(len(b.ids))]
		n, err := b.user.DownloadAsset(ctx, id, io.Discard, client.AssetRead{})
		if err == nil && n.Size != int64(b.size) {
			err = fmt.Errorf("asset %s: read %d bytes, want %d", id, n.Size, b.size)
		}
		return b.tolerate(w, err)
	})
	if err != nil {
		return window{}, err
	}
	readRate := float64(b.reads) / time.Since(t2).Seconds()
	majorPerRead := float64(b.node.MajorFaults()-maj0) / float64(b.reads)
	rss, _ := b.node.Memory()
	anon, file := b.node.MemoryParts()
	var goHeld int64
	if b.scrape {
		if goHeld, err = b.goHeld(ctx); err != nil {
			return window{}, err
		}
	}
	return window{objects: len(b.ids), files: *filesDone, createRate: createRate,
		readRate: readRate, majorPerRead: majorPerRead, fileRate: fileRate, rss: rss, anon: anon, file: file, goHeld: goHeld, load: run.Load1(),
		cpuPerObject: (b.node.CPU() - cpu0) / time.Duration(b.window), writtenPerObject: (b.node.Written() - written0) / int64(b.window)}, nil
}

// tolerate counts a server error (5xx) and lets the fill go on: a long run
// reports it rather than losing what it measured. Any other error stops it.
func (b *bench) tolerate(w int, err error) error {
	var ce *client.Error
	if err == nil || !errors.As(err, &ce) || ce.Status < 500 {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.failures <= 5 {
		msg := fmt.Sprintf("window %d (%s): %v", w+1, time.Now().UTC().Format("15:04:05"), err)
		b.failed = append(b.failed, msg)
		fmt.Println("  SERVER ERROR in", msg)
	}
	return nil
}

// content is object i's bytes: unique (the blob store keeps each once).
func (b *bench) content(kind byte, i int) []byte {
	p := make([]byte, b.size)
	r := rand.NewPCG(b.seed, uint64(i)<<8|uint64(kind))
	for j := 0; j+8 <= len(p); j += 8 {
		binary.LittleEndian.PutUint64(p[j:], r.Uint64())
	}
	p[0] = kind
	binary.BigEndian.PutUint64(p[1:], uint64(i))
	return p
}

func (b *bench) createAsset(ctx context.Context, i int) (string, error) {
	data := b.content('a', i)
	sum := sha3.Sum256(data)
	meta := fmt.Sprintf(`{"name":"object %d","type":"dataset","contentType":"application/octet-stream","size":%d,"contentHash":"%s"}`,
		i, len(data), hex.EncodeToString(sum[:]))
	// One request registers the asset and stores its content, as a client
	// creating many objects would (POST /api/v1/assets).
	id, err := b.user.CreateAsset(ctx, []byte(meta), bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("create asset %d: %w", i, err)
	}
	return id, nil
}

// createFile uploads a DDS file and pays its quote, so that it is stored and
// counts in the statement.
func (b *bench) createFile(ctx context.Context, i int) (string, error) {
	f, err := b.user.Upload(ctx, fmt.Sprintf("file-%d", i), bytes.NewReader(b.content('f', i)), client.UploadOptions{})
	if err != nil {
		return "", fmt.Errorf("upload file %d: %w", i, err)
	}
	if f.Quote == nil {
		return "", fmt.Errorf("file %d: the node answered no quote", i)
	}
	_, err = b.payer.Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price, IdempotencyKey: "scale-" + f.ID})
	if err != nil {
		return "", fmt.Errorf("pay file %d: %w", i, err)
	}
	return f.ID, nil
}

// probe is the time of the listings and statement at some fill.
type probe struct {
	objects, files                          int
	firstPage, lastPage, statement, listing time.Duration
}

func (b *bench) probe(ctx context.Context) (probe, error) {
	p := probe{objects: len(b.ids), files: len(b.fileIDs)}
	timed := func(dst *time.Duration, f func() error) error {
		t := time.Now()
		err := f()
		*dst = time.Since(t)
		return err
	}
	err := timed(&p.firstPage, func() error {
		page, err := b.user.Files(ctx, b.page, "")
		if err == nil && b.failures == 0 && len(page.Files) != min(b.page, len(b.fileIDs)) {
			err = fmt.Errorf("GET /files: %d files on the first page, want %d", len(page.Files), min(b.page, len(b.fileIDs)))
		}
		return err
	})
	if err != nil {
		return p, err
	}
	// The files are listed newest first: after the second file created
	// comes (about) the last page.
	if len(b.fileIDs) > 1 {
		err = timed(&p.lastPage, func() error { _, err := b.user.Files(ctx, b.page, b.fileIDs[1]); return err })
		if err != nil {
			return p, err
		}
	}
	now := time.Now().UTC()
	err = timed(&p.statement, func() error {
		st, err := b.admin.Statement(ctx, now.Format("20060102"), now.AddDate(0, 0, 31).Format("20060102"))
		if err == nil && b.failures == 0 && st.Files != len(b.fileIDs) {
			err = fmt.Errorf("statement: %d files, want %d", st.Files, len(b.fileIDs))
		}
		return err
	})
	if err != nil {
		return p, err
	}
	err = timed(&p.listing, func() error {
		ids, err := b.user.AssetIDs(ctx)
		if err == nil && b.failures == 0 && len(ids) != len(b.ids) {
			err = fmt.Errorf("DEP-7 listing: %d ids, want %d", len(ids), len(b.ids))
		}
		return err
	})
	return p, err
}

// verdict compares the first windows to the last: the median of up to three
// at each end, so one window slowed by another process does not decide.
func (b *bench) verdict(wins []window, probes []probe) {
	ends := func(f func(window) float64) (first, last float64) {
		k := max(1, min(3, len(wins)/2))
		med := func(ws []window) float64 {
			v := make([]float64, len(ws))
			for i, w := range ws {
				v[i] = f(w)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		return med(wins[:k]), med(wins[len(wins)-k:])
	}
	fmt.Println("\nfirst windows vs last (median of up to 3 at each end):")
	check := func(name string, first, last float64, higherIsWorse bool, unit string) {
		r := last / first
		verdict := "flat within 20 %"
		if r < 0.8 || r > 1.2 {
			worse := (r > 1) == higherIsWorse
			verdict = map[bool]string{true: "NOT flat: worse", false: "NOT flat: better"}[worse]
		}
		fmt.Printf("  %-22s %10.1f -> %10.1f %-4s (%.2f×)  %s\n", name, first, last, unit, r, verdict)
	}
	f, l := ends(func(w window) float64 { return w.createRate })
	check("asset create rate", f, l, false, "/s")
	f, l = ends(func(w window) float64 { return w.readRate })
	check("asset read rate", f, l, false, "/s")
	f, l = ends(func(w window) float64 { return float64(w.rss) / (1 << 20) })
	check("node RSS", f, l, true, "MiB")
	// The node's own memory, apart from the database pages it maps (the
	// page cache, which the kernel reclaims under pressure).
	f, l = ends(func(w window) float64 { return float64(w.anon) / (1 << 20) })
	check("node RSS anon", f, l, true, "MiB")
	if b.scrape {
		f, l = ends(func(w window) float64 { return float64(w.goHeld) / (1 << 20) })
		check("  of which Go's", f, l, true, "MiB")
		f, l = ends(func(w window) float64 { return float64(w.anon-w.goHeld) / (1 << 20) })
		check("  the rest (SQLite...)", f, l, true, "MiB")
	}
	f, l = ends(func(w window) float64 { return float64(w.cpuPerObject) / 1e6 })
	check("node CPU per object", f, l, true, "ms")
	f, l = ends(func(w window) float64 { return float64(w.writtenPerObject) / 1024 })
	check("node disk writes/object", f, l, true, "KiB")
	if b.files > 0 {
		// Few files per window: take the rate over the first and last tenth.
		tenth := func(ws []window) float64 {
			var sum float64
			for _, w := range ws {
				sum += w.fileRate
			}
			return sum / float64(len(ws))
		}
		k := max(1, len(wins)/10)
		check("file create+pay rate", tenth(wins[:k]), tenth(wins[len(wins)-k:]), false, "/s")
	}
	if len(probes) > 1 {
		p0, pn := probes[0], probes[len(probes)-1]
		fmt.Printf("  %-22s %10s -> %10s at %d -> %d files\n", "GET /files first page", ms(p0.firstPage), ms(pn.firstPage), p0.files, pn.files)
		fmt.Printf("  %-22s %10s -> %10s\n", "GET /files last page", ms(p0.lastPage), ms(pn.lastPage))
		fmt.Printf("  %-22s %10s -> %10s\n", "billing statement", ms(p0.statement), ms(pn.statement))
		fmt.Printf("  %-22s %10s -> %10s at %d -> %d assets (the whole list: DEP-15 has no pages)\n", "DEP-7 listing", ms(p0.listing), ms(pn.listing), p0.objects, pn.objects)
	}
}

// plans prints SQLite's plan of each query on the filled database: SCAN of a
// whole table or a TEMP B-TREE to sort grows with the table.
func (b *bench) plans(ctx context.Context) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.node.Data, "meta.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		fmt.Println("query plans:", err)
		return
	}
	defer db.Close()
	fmt.Println("\nquery plans on the filled database (EXPLAIN QUERY PLAN):")
	for _, q := range persist.Watched() {
		p, err := persist.ExplainSQLite(ctx, db, q)
		if err != nil {
			fmt.Printf("  %s: %v\n", q.What, err)
			continue
		}
		mark := "indexed"
		switch {
		case p.Grows:
			mark = "GROWS with the table"
		case p.Ranged:
			mark = "indexed range" // reads every row in the range: as many as the answer has
		}
		fmt.Printf("  %-48s %-20s %s\n", q.What, mark, strings.Join(p.Steps, "; "))
	}
}

// goHeld is the memory the node's Go runtime holds from the OS now (its
// /metrics: sys - heap_released: the heap, stacks and the runtime's own),
// to tell it from the rest of the node's anonymous memory.
func (b *bench) goHeld(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.node.URL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+b.node.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s %v", resp.Status, err)
	}
	var sys, released float64
	for _, line := range strings.Split(string(body), "\n") {
		name, v, _ := strings.Cut(line, " ")
		switch name {
		case "go_memstats_sys_bytes":
			fmt.Sscan(v, &sys)
		case "go_memstats_heap_released_bytes":
			fmt.Sscan(v, &released)
		}
	}
	return int64(sys - released), nil
}
