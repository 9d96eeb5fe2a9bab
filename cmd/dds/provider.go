package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/prometheus-dds/dds/internal/provider"
	"github.com/prometheus-dds/dds/internal/safehttp"
)

// providerFlags configure the Ocean provider face.
func providerFlags(fs *flag.FlagSet, c *provider.Config) {
	fs.Int64Var(&c.ChainID, "provider-chain-id", 8996, "chain id the Ocean provider face serves")
	fs.Func("provider-decrypters", "comma-separated addresses allowed to call the provider's decrypt endpoint (default: none)", func(s string) error {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Decrypters = append(c.Decrypters, a)
			}
		}
		return nil
	})
	fs.BoolFunc("provider-allow-private-urls", "let the provider fetch file URLs on loopback, private and link-local addresses (SSRF guard off)", func(s string) error {
		if s == "true" {
			c.AllowNetworks = append(c.AllowNetworks, safehttp.AllowAll...)
		} else if s != "false" {
			return fmt.Errorf("want true or false, got %q", s)
		}
		return nil
	})
	fs.Func("provider-allow-networks", "comma-separated CIDRs the provider may fetch file URLs from although they are private (e.g. 10.1.0.0/16)", func(s string) error {
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			p, err := netip.ParsePrefix(n)
			if err != nil {
				return err
			}
			c.AllowNetworks = append(c.AllowNetworks, p)
		}
		return nil
	})
	fs.StringVar(&c.IPFSGateway, "provider-ipfs-gateway", "https://ipfs.io", "IPFS gateway the provider fetches ipfs files through")
	fs.StringVar(&c.ArweaveGateway, "provider-arweave-gateway", "https://arweave.net", "Arweave gateway the provider fetches arweave files through")
	fs.StringVar(&c.FeeToken, "provider-fee-token", provider.ZeroAddress, "token address named in the provider's signed fees")
}
