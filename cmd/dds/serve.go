package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/node"
)

func defaultDataDir() string {
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".dds")
	}
	return ".dds"
}

func serveCmd() *ffcli.Command {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := node.DefaultConfig()
	fs.StringVar(&cfg.DataDir, "data", defaultDataDir(), "data directory (created on first start)")
	fs.StringVar(&cfg.Meta, "meta", "", "metadata database: a postgres://user:password@host:port/database URL, or empty for DATA/meta.db (SQLite)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL other nodes and clients reach this node at (default http://<listen>)")
	cfg.RegisterFlags(fs)
	logger := logFlags(fs)
	return command("serve", "dds serve [flags]", "run a node",
		`Runs a node until interrupted. The first start creates the data directory,
the node key and an admin token in DIR/admin.token.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("serve takes no arguments, got %q", args)
			}
			log := logger()
			n, err := node.Open(ctx, cfg, node.Deps{Log: log})
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				n.Close()
				return err
			}
			<-ctx.Done()
			log.Info("shutting down")
			return n.Close()
		})
}
