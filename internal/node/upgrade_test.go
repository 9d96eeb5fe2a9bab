package node_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// A data directory written before the metadata store knew PostgreSQL (see
// testdata/datadir-7e2eff1/README) opens unchanged, and what it holds reads
// back through the API.
func TestOpensOlderDataDirectory(t *testing.T) {
	ctx := context.Background()
	n, dir := openFixture(t, "datadir-7e2eff1", nil)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	user := client.New(n.URL(), read("user.token"))
	admin := client.New(n.URL(), read("admin.token"))

	const fileID = "8d6cf796-d57d-48a1-ac6c-b11449431cd9"
	info, err := user.Info(ctx, fileID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "hello.txt" || info.State != "stored" {
		t.Fatalf("file info: %+v", info)
	}
	var got bytes.Buffer
	if _, err := user.Download(ctx, fileID, &got); err != nil || got.String() != "hello from before PostgreSQL\n" {
		t.Fatalf("file content %q, %v", got.String(), err)
	}

	const assetID = "e67127a1373ce32b84f894d217ec8a9dbc3de9acd56dde3c1fd82c706f375384"
	ids, err := user.AssetIDs(ctx)
	if err != nil || !slices.Equal(ids, []string{assetID}) {
		t.Fatalf("asset ids %v, %v", ids, err)
	}
	got.Reset()
	if _, err := user.DownloadAsset(ctx, assetID, &got, client.AssetRead{}); err != nil || got.String() != "asset content from before" {
		t.Fatalf("asset content %q, %v", got.String(), err)
	}
	// A new asset lists after the old one.
	newID, err := user.RegisterAsset(ctx, []byte(`{"name":"after","type":"dataset"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ids, err = user.AssetIDs(ctx); err != nil || !slices.Equal(ids, []string{assetID, newID}) {
		t.Fatalf("asset ids after a new one %v, %v", ids, err)
	}

	storlets, err := admin.Storlets().List(ctx)
	if err != nil || len(storlets) != 1 || storlets[0].Name != "fixture-filter" || storlets[0].ID != 1 {
		t.Fatalf("storlets %+v, %v", storlets, err)
	}
}

// openFixture copies testdata/name to a temporary data directory and serves
// a standalone node on it.
func openFixture(t *testing.T, name string, c clock.Clock) (*node.Node, string) {
	t.Helper()
	dir := copyFixture(t, name)
	return serveFixture(t, dir, "", c), dir
}

// copyFixture copies testdata/name to a temporary directory, unzipping its
// .gz files (the SQLite file, large blobs).
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", name)
	dir := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
			to = strings.TrimSuffix(to, ".gz")
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// serveFixture serves a standalone node on dir, its metadata in meta ("" for
// dir's SQLite file).
func serveFixture(t *testing.T, dir, meta string, c clock.Clock) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.Meta = meta
	cfg.Listen = "127.0.0.1:0"
	cfg.SweepEvery = -1
	cfg.Network.ReplicateEvery = -1
	n, err := node.Open(context.Background(), cfg, node.Deps{Log: slog.New(slog.DiscardHandler), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A data directory written just before every part's SQL moved behind its
// Store and the migrations into one list (see testdata/datadir-6ed1f87/README:
// a devnet node after the README's walkthroughs) opens, and every face
// reads back what it held.
func TestOpensDataDirectoryBeforeTheStores(t *testing.T) {
	n, dir := openFixture(t, "datadir-6ed1f87", dayAfter())
	checkBeforeTheStores(t, n, dir)
}

// The same data directory moved to PostgreSQL with dds meta copy (CopyMeta)
// reads back the same.
func TestCopyMetaToPostgres(t *testing.T) {
	ctx := context.Background()
	pg := testtool.Postgres(t)
	dir := copyFixture(t, "datadir-6ed1f87")
	rows, err := node.CopyMeta(ctx, dir, "", pg)
	if err != nil {
		t.Fatal(err)
	}
	if rows["files"] != 2 || rows["assets"] != 2 || rows["deals"] != 1 || rows["storlets"] != 1 {
		t.Fatalf("rows copied: %v", rows)
	}
	// Once more is refused: the destination is no longer empty.
	if _, err := node.CopyMeta(ctx, dir, "", pg); err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Fatalf("a second copy into the same database: %v", err)
	}
	n := serveFixture(t, dir, pg, dayAfter())
	checkBeforeTheStores(t, n, dir)
	// The identity sequences moved past the copied ids.
	admin := client.New(n.URL(), readFixture(t, dir).AdminToken)
	st, err := admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("after-the-copy"), Main: ptr("_start")})
	if err != nil || st.ID != 2 {
		t.Fatalf("a new storlet after the copy: %+v, %v", st, err)
	}
}

// dayAfter is a clock on the day after the fixture was written, whenever the
// test runs, so that its terms have not ended.
func dayAfter() clock.Clock { return clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)) }

func checkBeforeTheStores(t *testing.T, n *node.Node, dir string) {
	t.Helper()
	ctx := context.Background()
	fx := readFixture(t, dir)
	user, admin := client.New(n.URL(), fx.UserToken), client.New(n.URL(), fx.AdminToken)

	// DDS: the file paid twice (upload, then an extension to 60 days) and
	// one never paid.
	info, err := user.Info(ctx, fx.PaidFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "paid.txt" || info.State != "stored" || info.Duration != int64(60*24*time.Hour/time.Second) {
		t.Fatalf("paid file: %+v", info)
	}
	var got bytes.Buffer
	if _, err := user.Download(ctx, fx.PaidFile, &got); err != nil || got.String() != fx.PaidFileContent {
		t.Fatalf("paid file content %q, %v", got.String(), err)
	}
	if info, err := user.Info(ctx, fx.PendingFile); err != nil || info.State != "pending" {
		t.Fatalf("pending file: %+v, %v", info, err)
	}
	page, err := user.Files(ctx, 10, "")
	if err != nil || len(page.Files) != 2 {
		t.Fatalf("files: %+v, %v", page, err)
	}

	// DEP-7: the content still hashes to the contentHash its metadata names.
	meta, err := user.AssetMetadata(ctx, fx.Asset)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ ContentHash string }
	if err := json.Unmarshal(meta, &m); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	if _, err := user.DownloadAsset(ctx, fx.Asset, &got, client.AssetRead{}); err != nil {
		t.Fatal(err)
	}
	if sum := sha3.Sum256(got.Bytes()); hex.EncodeToString(sum[:]) != m.ContentHash {
		t.Fatalf("asset content %q does not hash to %s", got.String(), m.ContentHash)
	}

	// Ocean: the published DDO and the finished compute job.
	if ddo, err := user.DDO(ctx, fx.DDO); err != nil || !bytes.Contains(ddo, []byte(fx.DDO)) {
		t.Fatalf("DDO %s: %s, %v", fx.DDO, ddo, err)
	}
	jobs, err := admin.ConsoleJobs(ctx, 10)
	if err != nil || len(jobs) != 1 || jobs[0].ID != fx.ComputeJob || !strings.EqualFold(jobs[0].Consumer, fx.Consumer) || jobs[0].Status != 70 {
		t.Fatalf("compute jobs %+v, %v", jobs, err)
	}

	// Deals: the deal the admin confirmed.
	deals, err := admin.ConsoleDeals(ctx, 10)
	if err != nil || len(deals) != 1 || deals[0].ID != fx.Deal || deals[0].State != "Paid" {
		t.Fatalf("deals %+v, %v", deals, err)
	}

	// Storlets: the storlet, its data, and its deployment.
	storlets, err := admin.Storlets().List(ctx)
	if err != nil || len(storlets) != 1 || storlets[0].Name != fx.Storlet || !storlets[0].HasData {
		t.Fatalf("storlets %+v, %v", storlets, err)
	}
	deployed, err := admin.Storlets().Deployed(ctx, fx.PaymentAccount)
	if err != nil || len(deployed) != 1 || deployed[0].Name != fx.Storlet {
		t.Fatalf("deployed %+v, %v", deployed, err)
	}

	// Billing: over the whole term, the node is owed its share of both
	// payments.
	st, err := admin.Statement(ctx, "20261201", "20270301")
	if err != nil || st.Files != 1 || st.AmountExact == "0" {
		t.Fatalf("statement %+v, %v", st, err)
	}

	// And the node takes new work on the old directory.
	id, err := user.RegisterAsset(ctx, []byte(`{"name":"after the stores","type":"dataset"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := user.AssetIDs(ctx); err != nil || !slices.Contains(ids, id) || !slices.Contains(ids, fx.Asset) {
		t.Fatalf("asset ids %v, %v", ids, err)
	}
}

type fixture struct {
	UserToken       string `json:"user_token"`
	AdminToken      string `json:"admin_token"`
	PaymentAccount  string `json:"payment_account"`
	PaidFile        string `json:"paid_file"`
	PaidFileContent string `json:"paid_file_content"`
	PendingFile     string `json:"pending_file"`
	Asset           string `json:"asset"`
	DDO             string `json:"ddo"`
	ComputeJob      string `json:"compute_job"`
	Consumer        string `json:"consumer"`
	Deal            string `json:"deal"`
	Storlet         string `json:"storlet"`
}

func readFixture(t *testing.T, dir string) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

func ptr[T any](v T) *T { return &v }
