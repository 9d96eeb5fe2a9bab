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
	for name, def := range map[string]string{"bitcoin-rpc": "", "bitcoin-rpc-user": "", "bitcoin-rpc-pass": "", "bitcoin-rpc-cookie": "",
		"bitcoin-confirmations": "3", "bitcoin-fee-rate": "5", "bitcoin-poll": "10s"} {
		if f := fs.Lookup(name); f == nil || f.DefValue != def {
			t.Errorf("--%s: %+v, want default %q", name, f, def)
		}
	}
	if err := fs.Parse([]string{"--bitcoin-network", "regtest", "--bitcoin-rpc", "http://127.0.0.1:18334", "--bitcoin-rpc-cookie", "/c",
		"--bitcoin-fee-rate", "2"}); err != nil || cfg.Network != "regtest" || cfg.Chain.RPC != "http://127.0.0.1:18334" || cfg.Chain.Cookie != "/c" || cfg.FeeRate != 2 {
		t.Fatalf("after parsing: %+v %v", cfg, err)
	}
}
