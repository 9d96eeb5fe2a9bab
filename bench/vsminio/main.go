// Command vsminio measures dds against MinIO side by side in one run, with
// one client for both: it starts `dds serve` and `minio server` on loopback
// with fresh data directories and times, on each, a large PUT and GET (DEP-7
// raw PUT and GET against S3 PutObject and GetObject), creating many small
// objects with concurrent clients (DEP-7 register + PUT against one S3 PUT)
// and reading them. It prints every figure, the dds / MinIO ratio, and the
// load average before and after. bench/vsminio.sh finds or builds both
// binaries and runs it.
package main

import (
	"bytes"
	"context"
	"crypto/sha3"
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
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/prometheus-dds/dds/bench/internal/run"
	"github.com/prometheus-dds/dds/client"
)

type config struct {
	ddsBin, minioBin, work         string
	largeMiB, runs                 int
	smallCount, smallSize, clients int
	smallGets                      int
	verify, keep, short            bool
}

func main() {
	var c config
	flag.StringVar(&c.ddsBin, "dds", os.Getenv("DDS_BIN"), "dds binary (default: go build ./cmd/dds)")
	flag.StringVar(&c.minioBin, "minio", os.Getenv("DDS_MINIO"), "minio binary (bench/vsminio.sh finds or builds one)")
	flag.StringVar(&c.work, "work", "", "directory for both servers' data (default: a new temporary one)")
	flag.IntVar(&c.largeMiB, "large-mib", 256, "MiB of the large object")
	flag.IntVar(&c.runs, "runs", 2, "runs of every figure (the order of the two servers alternates)")
	flag.IntVar(&c.smallCount, "small", 500, "small objects created per run")
	flag.IntVar(&c.smallSize, "small-size", 4096, "bytes of a small object")
	flag.IntVar(&c.clients, "clients", 8, "concurrent clients for the small objects")
	flag.IntVar(&c.smallGets, "small-gets", 4000, "GETs of small objects per run")
	flag.BoolVar(&c.verify, "verify-content", false, "both servers check a hash of the content the client declares: dds the SHA3-256 contentHash of the asset's metadata, MinIO a signed payload (streaming SHA-256 chunks, minio-go's default over plain HTTP); without it neither does (no contentHash; UNSIGNED-PAYLOAD with a CRC32C trailer)")
	flag.BoolVar(&c.keep, "keep", false, "keep the data directories and logs")
	flag.BoolVar(&c.short, "short", false, "a quick check: 32 MiB, one run, 100 small objects, 1000 GETs")
	if err := run.EnvFlags("VSMINIO"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	flag.Parse()
	if c.short {
		c.largeMiB, c.runs, c.smallCount, c.smallGets = 32, 1, 100, 1000
	}
	if c.minioBin == "" {
		fmt.Fprintln(os.Stderr, "vsminio: no MinIO binary: give --minio or DDS_MINIO (bench/vsminio.sh builds one)")
		os.Exit(2)
	}
	if c.largeMiB < 1 || c.runs < 1 || c.smallCount < 1 || c.smallSize < 16 || c.clients < 1 || c.smallGets < 1 {
		fmt.Fprintln(os.Stderr, "vsminio: sizes and counts must be positive (--small-size at least 16)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := c.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "vsminio:", err)
		os.Exit(1)
	}
}

// side is one server as the benchmark drives it.
type side interface {
	prepareLarge(ctx context.Context, key string, data []byte) error // untimed
	putLarge(ctx context.Context, key string, data []byte) error
	getLarge(ctx context.Context, key string) (int64, error)
	createSmall(ctx context.Context, key string, data []byte) error
	getSmall(ctx context.Context, key string) (int64, error)
}

type bench struct {
	config
	dds, minio side
	ddsProc    *run.DDS
	minioProc  *run.Proc
	seed       uint64
	results    map[string]*figure
	order      []string
}

// figure is one row of the table: every run's value on each side.
type figure struct {
	name, unit string
	dds, minio []float64
}

func (c config) run(ctx context.Context) error {
	fmt.Println("before:", run.Uptime())
	if l := run.Load1(); l > 1.5 {
		fmt.Printf("WARNING: load average %.2f is above 1.5: the machine is busy, treat the figures as a check only\n", l)
	}
	work := c.work
	if work == "" {
		d, err := os.MkdirTemp("", "dds-vsminio-")
		if err != nil {
			return err
		}
		work = d
	}
	if c.keep {
		fmt.Println("data and logs kept in", work)
	} else {
		defer os.RemoveAll(work)
	}
	if c.ddsBin == "" {
		bin, err := run.BuildDDS(work)
		if err != nil {
			return err
		}
		c.ddsBin = bin
	}
	b := &bench{config: c, seed: uint64(time.Now().UnixNano()), results: map[string]*figure{}}
	defer func() {
		if b.ddsProc != nil {
			b.ddsProc.Stop()
		}
		b.minioProc.Stop() // nil-safe
	}()
	if err := b.start(ctx, work); err != nil {
		return err
	}
	if err := b.detectOneRequest(ctx); err != nil {
		return err
	}
	for r := 0; r < c.runs; r++ {
		if err := b.oneRun(ctx, r); err != nil {
			return err
		}
	}
	b.summary()
	fmt.Println("after:", run.Uptime())
	return nil
}

func (b *bench) start(ctx context.Context, work string) error {
	node, err := run.StartDDS(ctx, b.ddsBin, filepath.Join(work, "dds"), "--max-file-size", fmt.Sprint(int64(b.largeMiB+1)<<20))
	if err != nil {
		return err
	}
	b.ddsProc = node
	addr, err := run.FreeAddr()
	if err != nil {
		return err
	}
	console, err := run.FreeAddr()
	if err != nil {
		return err
	}
	user, secret := "benchadmin", fmt.Sprintf("bench-%x", rand.Uint64())
	mp, err := run.Start(ctx, "http://"+addr, "/minio/health/live", filepath.Join(work, "minio.log"),
		[]string{"MINIO_ROOT_USER=" + user, "MINIO_ROOT_PASSWORD=" + secret, "MINIO_BROWSER=off"},
		b.minioBin, "server", "--quiet", "--address", addr, "--console-address", console, filepath.Join(work, "minio"))
	if err != nil {
		return err
	}
	b.minioProc = mp

	// One transport setting for both: the clients differ only in protocol.
	hc := &http.Client{Transport: run.Transport(b.clients)}
	dc := client.New(node.URL, node.User)
	dc.HTTP = hc
	b.dds = &ddsSide{c: dc, verify: b.verify}
	mc, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(user, secret, ""), Secure: false,
		Region: "us-east-1", Transport: run.Transport(b.clients)})
	if err != nil {
		return err
	}
	ms := &minioSide{c: mc, core: &minio.Core{Client: mc}, bucket: "bench", signed: b.verify}
	if err := mc.MakeBucket(ctx, ms.bucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("minio: make bucket: %w", err)
	}
	b.minio = ms
	fmt.Printf("dds   %s (pid %d), %s\nminio %s (pid %d), S3 payload %s\n", node.URL, node.Cmd.Process.Pid,
		map[bool]string{true: "metadata with a contentHash (SHA3-256, checked)", false: "metadata without a contentHash"}[b.verify],
		mp.URL, mp.Cmd.Process.Pid, map[bool]string{true: "signed (streaming SHA-256, checked)", false: "UNSIGNED-PAYLOAD with CRC32C trailer"}[b.verify])
	return nil
}

// content is unique bytes for object i of run r (content addressing would
// skip storing a repeat).
func (b *bench) content(size int, r, i int) []byte {
	p := make([]byte, size)
	g := rand.NewPCG(b.seed, uint64(r)<<32|uint64(i))
	for j := 0; j+8 <= len(p); j += 8 {
		binary.LittleEndian.PutUint64(p[j:], g.Uint64())
	}
	binary.BigEndian.PutUint64(p, uint64(r)<<32|uint64(i))
	return p
}

func (b *bench) record(name, unit string, dds, mn float64) {
	f := b.results[name]
	if f == nil {
		f = &figure{name: name, unit: unit}
		b.results[name] = f
		b.order = append(b.order, name)
	}
	f.dds, f.minio = append(f.dds, dds), append(f.minio, mn)
	fmt.Printf("  %-44s MinIO %9.1f %-5s dds %9.1f %-5s  dds/MinIO %.2f×   (load %.2f)\n", name, mn, unit, dds, unit, dds/mn, run.Load1())
}

// both measures f on each side, in an order that alternates between runs.
func (b *bench) both(r int, f func(s side, name string) (float64, error)) (dds, mn float64, err error) {
	sides := []struct {
		s    side
		name string
		out  *float64
	}{{b.dds, "dds", &dds}, {b.minio, "minio", &mn}}
	if r%2 == 1 {
		sides[0], sides[1] = sides[1], sides[0]
	}
	for _, x := range sides {
		if *x.out, err = f(x.s, x.name); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", x.name, err)
		}
	}
	return dds, mn, nil
}

func (b *bench) oneRun(ctx context.Context, r int) error {
	fmt.Printf("\nrun %d of %d\n", r+1, b.runs)
	large := b.content(b.largeMiB<<20, r, 1<<31)
	key := fmt.Sprintf("large-%d", r)
	mb := func(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

	dds, mn, err := b.both(r, func(s side, _ string) (float64, error) {
		if err := s.prepareLarge(ctx, key, large); err != nil {
			return 0, err
		}
		t := time.Now()
		err := s.putLarge(ctx, key, large)
		return mb(int64(len(large)), time.Since(t)), err
	})
	if err != nil {
		return err
	}
	b.record(fmt.Sprintf("large PUT %d MiB", b.largeMiB), "MB/s", dds, mn)

	dds, mn, err = b.both(r, func(s side, _ string) (float64, error) {
		t := time.Now()
		n, err := s.getLarge(ctx, key)
		if err == nil && n != int64(len(large)) {
			err = fmt.Errorf("large GET: %d bytes, want %d", n, len(large))
		}
		return mb(n, time.Since(t)), err
	})
	if err != nil {
		return err
	}
	b.record(fmt.Sprintf("large GET %d MiB", b.largeMiB), "MB/s", dds, mn)
	large = nil

	small := make([][]byte, b.smallCount)
	for i := range small {
		small[i] = b.content(b.smallSize, r, i)
	}
	skey := func(i int) string { return fmt.Sprintf("small-%d-%d", r, i) }
	dds, mn, err = b.both(r, func(s side, _ string) (float64, error) {
		t := time.Now()
		err := run.Parallel(ctx, b.clients, len(small), func(i int) error { return s.createSmall(ctx, skey(i), small[i]) })
		return float64(len(small)) / time.Since(t).Seconds(), err
	})
	if err != nil {
		return err
	}
	b.record(fmt.Sprintf("%s object create, %d clients", size(b.smallSize), b.clients), "/s", dds, mn)

	dds, mn, err = b.both(r, func(s side, _ string) (float64, error) {
		t := time.Now()
		err := run.Parallel(ctx, b.clients, b.smallGets, func(i int) error {
			n, err := s.getSmall(ctx, skey(i%len(small)))
			if err == nil && n != int64(b.smallSize) {
				err = fmt.Errorf("small GET: %d bytes, want %d", n, b.smallSize)
			}
			return err
		})
		return float64(b.smallGets) / time.Since(t).Seconds(), err
	})
	if err != nil {
		return err
	}
	b.record(fmt.Sprintf("%s GET, %d clients", size(b.smallSize), b.clients), "req/s", dds, mn)
	return nil
}

func size(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func (b *bench) summary() {
	fmt.Printf("\n| figure | MinIO | dds | dds / MinIO |\n| --- | --- | --- | --- |\n")
	span := func(v []float64, format string) string {
		lo, hi := slices.Min(v), slices.Max(v)
		if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
			return fmt.Sprintf(format, lo)
		}
		return fmt.Sprintf(format+"–"+format, lo, hi)
	}
	for _, name := range b.order {
		f := b.results[name]
		ratios := make([]float64, len(f.dds))
		for i := range f.dds {
			ratios[i] = f.dds[i] / f.minio[i]
		}
		fmt.Printf("| %s | %s %s | %s %s | %s× |\n", f.name, span(f.minio, "%.0f"), f.unit, span(f.dds, "%.0f"), f.unit, span(ratios, "%.2f"))
	}
	drss, dpeak := b.ddsProc.Memory()
	mrss, mpeak := b.minioProc.Memory()
	fmt.Printf("\nserver RSS now / peak: dds %s / %s, MinIO %s / %s\n", run.MiB(drss), run.MiB(dpeak), run.MiB(mrss), run.MiB(mpeak))
}

// ddsSide drives the DEP-7 face of a dds node.
type ddsSide struct {
	c          *client.Client
	verify     bool                                                         // declare a contentHash, which the node checks
	oneRequest func(ctx context.Context, meta, data []byte) (string, error) // nil: register, then PUT
	mu         sync.Mutex
	ids        map[string]string // benchmark key -> asset id
}

func (d *ddsSide) meta(key string, data []byte) []byte {
	if !d.verify {
		return fmt.Appendf(nil, `{"name":%q,"type":"dataset","contentType":"application/octet-stream","size":%d}`, key, len(data))
	}
	sum := sha3.Sum256(data)
	return fmt.Appendf(nil, `{"name":%q,"type":"dataset","contentType":"application/octet-stream","size":%d,"contentHash":"%s"}`,
		key, len(data), hex.EncodeToString(sum[:]))
}

func (d *ddsSide) remember(key, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[string]string{}
	}
	d.ids[key] = id
}

func (d *ddsSide) id(key string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids[key]
}

// prepareLarge registers the large asset: the figure is the raw PUT alone.
func (d *ddsSide) prepareLarge(ctx context.Context, key string, data []byte) error {
	id, err := d.c.RegisterAsset(ctx, d.meta(key, data))
	d.remember(key, id)
	return err
}

func (d *ddsSide) putLarge(ctx context.Context, key string, data []byte) error {
	_, err := d.c.UploadAsset(ctx, d.id(key), bytes.NewReader(data))
	return err
}

func (d *ddsSide) create(ctx context.Context, key string, data []byte) error {
	meta := d.meta(key, data)
	if d.oneRequest != nil {
		id, err := d.oneRequest(ctx, meta, data)
		if err == nil {
			d.remember(key, id)
		}
		return err
	}
	id, err := d.c.RegisterAsset(ctx, meta)
	if err != nil {
		return err
	}
	if _, err := d.c.UploadAsset(ctx, id, bytes.NewReader(data)); err != nil {
		return err
	}
	d.remember(key, id)
	return nil
}

func (d *ddsSide) getLarge(ctx context.Context, key string) (int64, error) { return d.get(ctx, key) }
func (d *ddsSide) createSmall(ctx context.Context, key string, data []byte) error {
	return d.create(ctx, key, data)
}
func (d *ddsSide) getSmall(ctx context.Context, key string) (int64, error) { return d.get(ctx, key) }

func (d *ddsSide) get(ctx context.Context, key string) (int64, error) {
	id := d.id(key)
	if id == "" {
		return 0, fmt.Errorf("no asset for %s", key)
	}
	ac, err := d.c.DownloadAsset(ctx, id, io.Discard, client.AssetRead{})
	return ac.Size, err
}

// minioSide drives MinIO through minio-go: PutObject in one request (no
// multipart), GetObject's raw body through Core.
type minioSide struct {
	c      *minio.Client
	core   *minio.Core
	bucket string
	signed bool
}

func (m *minioSide) put(ctx context.Context, key string, data []byte) error {
	_, err := m.c.PutObject(ctx, m.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType: "application/octet-stream", DisableMultipart: true, DisableContentSha256: !m.signed})
	return err
}

func (m *minioSide) get(ctx context.Context, key string) (int64, error) {
	body, _, _, err := m.core.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, err
	}
	defer body.Close()
	return io.Copy(io.Discard, body)
}

func (m *minioSide) prepareLarge(context.Context, string, []byte) error { return nil }
func (m *minioSide) putLarge(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, key, data)
}
func (m *minioSide) getLarge(ctx context.Context, key string) (int64, error) { return m.get(ctx, key) }
func (m *minioSide) createSmall(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, key, data)
}
func (m *minioSide) getSmall(ctx context.Context, key string) (int64, error) { return m.get(ctx, key) }

// detectOneRequest tries the one-request create (POST /api/v1/assets, a
// multipart form with "metadata" then "file") with a tiny asset: where the
// node answers 201 the small objects are created so; where the route is
// missing (404, 405 or the redirect to the face's catch-all) they take a
// registration and a PUT each.
func (b *bench) detectOneRequest(ctx context.Context) error {
	d := b.dds.(*ddsSide)
	data := b.content(16, 1<<30, 0)
	id, err := d.createOne(ctx, d.meta("probe", data), data)
	var ce *client.Error
	switch {
	case err == nil && id != "":
		d.oneRequest = d.createOne
		fmt.Println("dds offers the one-request create (POST /api/v1/assets): small objects are created with it")
		return nil
	case errors.As(err, &ce) && (ce.Status == http.StatusNotFound || ce.Status == http.StatusMethodNotAllowed || ce.Status/100 == 3):
		fmt.Printf("dds has no one-request create (POST /api/v1/assets answered %d): small objects take a registration and a PUT each\n", ce.Status)
		return nil
	default:
		return fmt.Errorf("probing POST /api/v1/assets: %v", err)
	}
}

// createOne is the one-request create: the metadata and the content in one
// multipart form, with its length known (the typed client's CreateAsset).
func (d *ddsSide) createOne(ctx context.Context, meta, data []byte) (string, error) {
	return d.c.CreateAsset(ctx, meta, bytes.NewReader(data))
}
