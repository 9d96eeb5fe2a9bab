package node_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/node"
)

// With --shared, a process on an empty data directory takes the node's keys
// from the metadata database, and one whose directory holds another node's
// key is refused.
func TestSharedProcessesShareTheKeys(t *testing.T) {
	ctx := context.Background()
	meta := filepath.Join(t.TempDir(), "meta.db") // one database for every process
	open := func(dir string) (*node.Node, error) {
		cfg := node.DefaultConfig()
		cfg.DataDir, cfg.Meta, cfg.Shared, cfg.Listen = dir, meta, true, "127.0.0.1:0"
		return node.Open(ctx, cfg, node.Deps{Log: slog.New(slog.DiscardHandler)})
	}
	first, err := open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := first.Key.ID()
	first.Close()

	second, err := open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Key.ID(); got != id {
		t.Fatalf("a process on an empty directory is node %s; want the node's %s", got, id)
	}
	second.Close()

	foreign := t.TempDir()
	if _, _, err := identity.LoadOrCreate(filepath.Join(foreign, "node.key")); err != nil {
		t.Fatal(err)
	}
	if n, err := open(foreign); err == nil {
		n.Close()
		t.Fatal("a data directory with another node's key was taken")
	} else if !strings.Contains(err.Error(), "belongs to another node") {
		t.Fatalf("refusal says: %v", err)
	}
}
