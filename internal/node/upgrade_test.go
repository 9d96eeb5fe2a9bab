package node_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/node"
)

// A data directory written before the metadata store knew PostgreSQL (see
// testdata/datadir-7e2eff1/README) opens unchanged, and what it holds reads
// back through the API.
func TestOpensOlderDataDirectory(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join("testdata", "datadir-7e2eff1")
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
		if strings.HasSuffix(path, ".gz") { // the SQLite file, mostly empty pages
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
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.SweepEvery = -1
	cfg.Network.ReplicateEvery = -1
	n, err := node.Open(ctx, cfg, node.Deps{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
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
