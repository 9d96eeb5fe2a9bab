package ocean_test

import (
	"flag"
	"slices"
	"testing"

	"github.com/prometheus-dds/dds/internal/ocean"
)

func TestChainFlag(t *testing.T) {
	cfg := ocean.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	// Repeated, and several in one value (as the DDS_CHAIN env twin gives them).
	if err := fs.Parse([]string{"--chain", "8996=http://127.0.0.1:8545", "--chain", "1=https://rpc.example/v1?key=a, 137=wss://polygon.example", "--chain-confirmations", "3"}); err != nil {
		t.Fatal(err)
	}
	want := []ocean.Chain{{ID: 8996, RPC: "http://127.0.0.1:8545"}, {ID: 1, RPC: "https://rpc.example/v1?key=a"}, {ID: 137, RPC: "wss://polygon.example"}}
	if !slices.Equal(cfg.Chains, want) || cfg.Confirmations != 3 {
		t.Fatalf("chains %v, confirmations %d", cfg.Chains, cfg.Confirmations)
	}
	if ocean.DefaultConfig().Confirmations != 1 {
		t.Fatal("an order needs its own block by default")
	}
	for _, bad := range []string{"8996", "x=http://a", "0=http://a", "-1=http://a", "8996=ftp://a", "8996=http://", "8996="} {
		if _, err := ocean.ParseChain(bad); err == nil {
			t.Errorf("ParseChain(%q) accepted", bad)
		}
	}
}
