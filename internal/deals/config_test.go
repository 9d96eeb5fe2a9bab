package deals_test

import (
	"flag"
	"testing"

	"github.com/prometheus-dds/dds/internal/deals"
)

// The module's flags start from its defaults and set its Config.
func TestConfigFlags(t *testing.T) {
	cfg := deals.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if f := fs.Lookup("bitcoin-network"); f == nil || f.DefValue != "testnet" {
		t.Fatalf("--bitcoin-network: %+v", f)
	}
	if err := fs.Parse([]string{"--bitcoin-network", "regtest"}); err != nil || cfg.Network != "regtest" {
		t.Fatalf("after parsing: %+v %v", cfg, err)
	}
}
