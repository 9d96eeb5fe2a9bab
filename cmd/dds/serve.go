package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/flagval"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/ocean"
)

// nodeFlags are the flags that configure a node, shared by serve and devnet.
func nodeFlags(fs *flag.FlagSet, cfg *node.Config) {
	cfg.PricePerGiBMonth = 1_000_000_000
	fs.Var(flagval.Amount(&cfg.PricePerGiBMonth), "price-per-gib-month", "price of storing 1 GiB for 30 days, in tokens")
	fs.Var(flagval.Amount(&cfg.MinPrice), "min-price", "smallest price quoted, in tokens")
	fs.DurationVar(&cfg.QuoteTTL, "quote-ttl", time.Hour, "how long a price quote stands before its unpaid upload is deleted")
	fs.Int64Var(&cfg.MaxFileSize, "max-file-size", 16<<30, "largest file accepted, in bytes")
	fs.StringVar(&cfg.BitcoinNetwork, "bitcoin-network", "testnet", "Bitcoin network of the deal module: mainnet, testnet, signet or regtest")
	fs.Int64Var(&cfg.AssetQuota, "asset-quota", 0, "most bytes of DEP-7 asset content this node keeps; uploads beyond it get 507 (0: no limit)")
	fs.DurationVar(&cfg.SweepEvery, "sweep-every", 30*time.Second, "how often ended terms and expired quotes are swept")
	fs.IntVar(&cfg.Confirmations, "confirmations", 3, "peers that must confirm and sign a price before it is quoted (a node that never met a peer quotes alone)")
	fs.IntVar(&cfg.Replicas, "replicas", 3, "copies of a paid file in the network, this node's included")
	fs.DurationVar(&cfg.RepairAfter, "repair-after", 10*time.Minute, "how long a node holding a copy may be gone before another takes its place")
	fs.DurationVar(&cfg.ReplicateEvery, "replicate-every", 10*time.Second, "how often copies are checked and repaired")
	cfg.Ocean = ocean.DefaultConfig()
	cfg.Ocean.RegisterFlags(fs)
	storletFlags(fs, &cfg.Storlets)
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
	fs.Var(flagval.List(&cfg.Peers), "peer", "URL of a node to join the network through (repeatable; DDS_PEER takes a comma-separated list)")
	fs.StringVar(&cfg.GossipListen, "gossip-listen", "", "host:port for membership gossip (UDP and TCP); default the listen host and a free port")
	nodeFlags(fs, &cfg)
	logger := logFlags(fs)
	return command("serve", "dds serve [flags]", "run a node",
		`Runs a node until interrupted. The first start creates the data directory,
the node key and an admin token in DIR/admin.token.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("serve takes no arguments, got %q", args)
			}
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
