package assets_test

import (
	"flag"
	"testing"

	"github.com/prometheus-dds/dds/internal/assets"
)

// The face's flags start from its defaults and set its Config.
func TestConfigFlags(t *testing.T) {
	cfg := assets.DefaultConfig()
	if cfg.MaxSize != 16<<30 || cfg.Quota != 0 {
		t.Fatalf("defaults %+v", cfg)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if f := fs.Lookup("asset-quota"); f == nil || f.DefValue != "0" {
		t.Fatalf("--asset-quota: %+v", f)
	}
	if err := fs.Parse([]string{"--asset-quota", "1048576"}); err != nil || cfg.Quota != 1<<20 || cfg.MaxSize != 16<<30 {
		t.Fatalf("after parsing: %+v %v", cfg, err)
	}
	if err := fs.Parse([]string{"--asset-quota", "100GiB"}); err != nil || cfg.Quota != 100<<30 {
		t.Fatalf("with a unit: %+v %v", cfg, err)
	}
	if err := fs.Parse([]string{"--asset-quota", "lots"}); err == nil {
		t.Fatal("--asset-quota lots was accepted")
	}
}
