package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/dds"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/node"
)

// nodeFlags are the flags that configure a node, shared by serve and devnet.
// The ledger, the DDS face and the network register their own; node.Config
// still spells their settings out field by field, so the returned func copies
// them in once the flags are parsed.
func nodeFlags(fs *flag.FlagSet, cfg *node.Config) (parsed func()) {
	lc, dc, nc := ledger.DefaultConfig(), dds.DefaultConfig(), network.DefaultConfig()
	lc.RegisterFlags(fs)
	dc.RegisterFlags(fs)
	nc.RegisterFlags(fs)
	fs.StringVar(&cfg.BitcoinNetwork, "bitcoin-network", "testnet", "Bitcoin network of the deal module: mainnet, testnet, signet or regtest")
	fs.Int64Var(&cfg.AssetQuota, "asset-quota", 0, "most bytes of DEP-7 asset content this node keeps; uploads beyond it get 507 (0: no limit)")
	fs.DurationVar(&cfg.SweepEvery, "sweep-every", 30*time.Second, "how often ended terms and expired quotes are swept")
	providerFlags(fs, &cfg.Provider)
	storletFlags(fs, &cfg.Storlets)
	computeFlags(fs, &cfg.Compute)
	return func() {
		cfg.PricePerGiBMonth, cfg.MinPrice, cfg.QuoteTTL = lc.PricePerGiBMonth, lc.MinPrice, lc.QuoteTTL
		cfg.MaxFileSize = dc.MaxFileSize
		cfg.Peers, cfg.GossipListen = nc.Peers, nc.GossipListen
		cfg.Confirmations, cfg.Replicas, cfg.RepairAfter, cfg.ReplicateEvery = nc.Confirmations, nc.Replicas, nc.RepairAfter, nc.ReplicateEvery
	}
}

func defaultDataDir() string {
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".dds")
	}
	return ".dds"
}

func serveCmd() *ffcli.Command {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg node.Config
	fs.StringVar(&cfg.DataDir, "data", defaultDataDir(), "data directory (created on first start)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL other nodes and clients reach this node at (default http://<listen>)")
	parsed := nodeFlags(fs, &cfg)
	logger := logFlags(fs)
	return command("serve", "dds serve [flags]", "run a node",
		`Runs a node until interrupted. The first start creates the data directory,
the node key and an admin token in DIR/admin.token.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("serve takes no arguments, got %q", args)
			}
			parsed()
			cfg.Logger = logger()
			n, err := node.Open(ctx, cfg)
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				n.Close()
				return err
			}
			<-ctx.Done()
			cfg.Logger.Info("shutting down")
			return n.Close()
		})
}
