package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/node"
)

// devnetNode is one node as devnet.json lists it.
type devnetNode struct {
	URL          string `json:"url"`
	AdminToken   string `json:"admin_token"`
	UserToken    string `json:"user_token"`
	PaymentToken string `json:"payment_token"`
}

func devnetCmd() *ffcli.Command {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	nodes := fs.Int("nodes", 4, "number of nodes")
	basePort := fs.Int("base-port", 8080, "port of the first node; the others follow")
	data := fs.String("data", filepath.Join(os.TempDir(), "dds-devnet"), "directory holding one data directory per node")
	var cfg node.Config
	parsed := nodeFlags(fs, &cfg)
	logger := logFlags(fs)
	return command("devnet", "dds devnet [flags]", "run a local network of nodes to try dds",
		`Runs N nodes in this process on consecutive loopback ports, joined in one
network (each price confirmed by up to 3 peers, each paid file kept in up to 3
copies), creates a token per role on each, prints them with commands to try,
and writes DIR/devnet.json. Runs until interrupted; data is kept between runs.`, fs,
		func(ctx context.Context, args []string) error {
			if *nodes < 1 {
				return fmt.Errorf("--nodes must be at least 1")
			}
			parsed()
			log := logger()
			var list []devnetNode
			for i := 0; i < *nodes; i++ {
				c := cfg
				c.DataDir = filepath.Join(*data, fmt.Sprintf("node%d", i))
				c.Listen = fmt.Sprintf("127.0.0.1:%d", *basePort+i)
				c.Logger = log.With("node", i)
				c.Confirmations = min(c.Confirmations, *nodes-1)
				c.Replicas = min(c.Replicas, *nodes)
				if i > 0 {
					c.Peers = []string{list[0].URL}
				}
				n, err := node.Open(ctx, c)
				if err != nil {
					return err
				}
				defer n.Close()
				if err := n.Start(); err != nil {
					return err
				}
				dn := devnetNode{URL: n.URL()}
				for _, r := range []struct {
					role auth.Role
					dst  *string
				}{{auth.RoleAdmin, &dn.AdminToken}, {auth.RoleUser, &dn.UserToken}, {auth.RolePayment, &dn.PaymentToken}} {
					name := "devnet-" + string(r.role)
					p, err := n.Auth.Principal(ctx, name)
					if err != nil {
						if p, err = n.Auth.CreatePrincipal(ctx, name, r.role); err != nil {
							return err
						}
					}
					if *r.dst, err = n.Auth.IssueToken(ctx, p.ID, "devnet"); err != nil {
						return err
					}
				}
				list = append(list, dn)
			}
			b, _ := json.MarshalIndent(map[string]any{"nodes": list}, "", "  ")
			path := filepath.Join(*data, "devnet.json")
			if err := identity.WriteSecret(path, append(b, '\n')); err != nil {
				return err
			}
			printDevnet(list, path)
			<-ctx.Done()
			log.Info("shutting down")
			return nil
		})
}

func printDevnet(list []devnetNode, path string) {
	n := list[0]
	fmt.Printf(`
Prometheus DDS devnet: %d node(s) running. Tokens and URLs are in %s.

`, len(list), path)
	for i, d := range list {
		fmt.Printf("node %d  %s\n  admin   %s\n  user    %s\n  payment %s\n", i, d.URL, d.AdminToken, d.UserToken, d.PaymentToken)
	}
	fmt.Printf(`
Try it (in another terminal):

  export DDS_NODE=%[1]s
  echo 'hello, storage' > hello.txt
  DDS_TOKEN=%[2]s go run ./cmd/dds put hello.txt           # prints the file id and its price (402)
  DDS_TOKEN=%[3]s go run ./cmd/dds pay <ID> --amount <PRICE>
  DDS_TOKEN=%[2]s go run ./cmd/dds get <ID>
  DDS_TOKEN=%[4]s go run ./cmd/dds statement

or with curl:

  curl -si -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/vnd.api+json' \
    -d '{"data":{"type":"file","attributes":{"name":"hello.txt","data":"aGVsbG8K","duration":86400}}}' %[1]s/files
  curl -si -H 'Authorization: Bearer %[3]s' -H 'Content-Type: application/vnd.api+json' \
    -d '{"data":{"type":"payment","attributes":{"file_id":"<ID>","status":"success","amount":<PRICE>}}}' %[1]s/payments
  curl -s  -H 'Authorization: Bearer %[2]s' %[1]s/files/<ID>
  curl -s  -H 'Authorization: Bearer %[4]s' '%[1]s/payments/local?from=20260101&to=20261231'
  curl -s  %[1]s/metrics | grep ^dds_

Watch the network:

  curl -s -H 'Authorization: Bearer %[4]s' %[1]s/network        # members, their state and last contact
  DDS_TOKEN=%[2]s go run ./cmd/dds info <ID>                      # signatures of the confirming peers; where the copies are

Press Ctrl-C to stop.
`, n.URL, n.UserToken, n.PaymentToken, n.AdminToken)
}
