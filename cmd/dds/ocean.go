package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/identity"
)

// oceanCmd signs Ocean provider requests as a consumer, so that a signed
// download or compute job can be tried with curl (ocean.js does the same).
func oceanCmd() *ffcli.Command {
	keyFlag := func(fs *flag.FlagSet) *string {
		return fs.String("key", "consumer.key", "the consumer's secp256k1 key (hex), made the first time (mode 0600)")
	}
	kfs := flag.NewFlagSet("ocean key", flag.ContinueOnError)
	kpath := keyFlag(kfs)
	sfs := flag.NewFlagSet("ocean sign", flag.ContinueOnError)
	spath := keyFlag(sfs)
	return group("ocean", "dds ocean <subcommand>", "a consumer key and signatures for the Ocean provider",
		command("key", "dds ocean key [--key FILE]", "print the consumer's address (makes the key the first time)", "", kfs,
			func(_ context.Context, args []string) error {
				if len(args) > 0 {
					return usageErrorf("ocean key takes no arguments")
				}
				k, _, err := identity.LoadOrCreate(*kpath)
				if err != nil {
					return err
				}
				fmt.Println(k.Address())
				return nil
			}),
		command("sign", "dds ocean sign [--key FILE] MESSAGE NONCE", "print the signature of MESSAGE+NONCE (EIP-191 over keccak256)",
			"The message is what the provider asks for: the documentId for a download, consumerAddress+documentId\nfor a compute start or list, consumerAddress+jobId+documentId for a stop or a delete,\nconsumerAddress+jobId+index for a result.", sfs,
			func(_ context.Context, args []string) error {
				if len(args) != 2 {
					return usageErrorf("ocean sign takes a message and a nonce")
				}
				k, _, err := identity.LoadOrCreate(*spath)
				if err != nil {
					return err
				}
				sig, err := client.Sign(k, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Println(sig)
				return nil
			}))
}
