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
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/node"
)

// devnetNode is one node as devnet.json lists it.
type devnetNode struct {
	URL          string `json:"url"`
	UserID       string `json:"user_account"`    // the user's account id (storlet deploy takes one)
	PaymentID    string `json:"payment_account"` // the payment processor's
	AdminToken   string `json:"admin_token"`
	UserToken    string `json:"user_token"`
	PaymentToken string `json:"payment_token"`
}

func devnetCmd() *ffcli.Command {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	nodes := fs.Int("nodes", 5, "number of nodes")
	basePort := fs.Int("base-port", 8080, "port of the first node; the others follow")
	data := fs.String("data", filepath.Join(os.TempDir(), "dds-devnet"), "directory holding one data directory per node")
	cfg := node.DefaultConfig()
	cfg.RegisterFlags(fs)
	logger := logFlags(fs)
	return command("devnet", "dds devnet [flags]", "run a local network of nodes to try dds",
		`Runs N nodes in this process on consecutive loopback ports, joined in one
network (each price confirmed by up to 3 peers, each paid file kept in up to 3
copies). One user and one payment account work on every node; each node has
its own admin. Prints their tokens with commands to try and writes
DIR/devnet.json. Runs until interrupted; data and tokens are kept between runs.`, fs,
		func(ctx context.Context, args []string) error {
			if *nodes < 1 {
				return fmt.Errorf("--nodes must be at least 1")
			}
			log := logger()
			var list []devnetNode
			var first *node.Node
			for i := 0; i < *nodes; i++ {
				c := cfg
				c.DataDir = filepath.Join(*data, fmt.Sprintf("node%d", i))
				c.Listen = fmt.Sprintf("127.0.0.1:%d", *basePort+i)
				if cfg.Blobs.Location != "" { // each node its own part of --blobs
					c.Blobs.Location = blob.Sub(cfg.Blobs.Location, fmt.Sprintf("node%d", i))
				}
				c.Network.Confirmations = min(c.Network.Confirmations, *nodes-1)
				c.Network.Replicas = min(c.Network.Replicas, *nodes)
				if i > 0 {
					c.Network.Peers = []string{list[0].URL}
				}
				n, err := node.Open(ctx, c, node.Deps{Log: log.With("node", i)})
				if err != nil {
					return err
				}
				defer n.Close()
				if err := n.Start(); err != nil {
					return err
				}
				dn := devnetNode{URL: n.URL()}
				if _, dn.AdminToken, err = devnetToken(ctx, n.Auth, auth.RoleAdmin); err != nil {
					return err
				}
				if i == 0 {
					first = n
				}
				list = append(list, dn)
			}
			// The user and the payment processor are accounts of the network:
			// made on node 0, their tokens work on every node.
			userID, user, err := devnetToken(ctx, first.Auth, auth.RoleUser)
			if err != nil {
				return err
			}
			payerID, payer, err := devnetToken(ctx, first.Auth, auth.RolePayment)
			if err != nil {
				return err
			}
			for i := range list {
				list[i].UserToken, list[i].PaymentToken = user, payer
				list[i].UserID, list[i].PaymentID = userID, payerID
			}
			b, _ := json.MarshalIndent(map[string]any{"nodes": list}, "", "  ")
			path := filepath.Join(*data, "devnet.json")
			if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
				return err
			}
			printDevnet(list, path)
			<-ctx.Done()
			log.Info("shutting down")
			return nil
		})
}

// devnetToken returns the token of the devnet account with a role, creating
// the account and its token on the first run only.
func devnetToken(ctx context.Context, a *auth.Service, role auth.Role) (id, token string, err error) {
	name := "devnet-" + string(role)
	p, err := a.Principal(ctx, name)
	if err != nil {
		if p, err = a.CreatePrincipal(ctx, name, role); err != nil {
			return "", "", err
		}
	}
	if toks, err := a.Tokens(ctx, p.ID); err == nil && len(toks) > 0 {
		return p.ID, toks[0], nil
	}
	token, err = a.IssueToken(ctx, p.ID, "devnet")
	return p.ID, token, err
}

func printDevnet(list []devnetNode, path string) {
	n := list[0]
	fmt.Printf(`
Prometheus DDS devnet: %d node(s) running. Tokens and URLs are in %s.

`, len(list), path)
	fmt.Printf("user token (every node)     %s   account %s\npayment token (every node)  %s   account %s\n\n", n.UserToken, n.UserID, n.PaymentToken, n.PaymentID)
	for i, d := range list {
		fmt.Printf("node %d  %s  admin %s\n", i, d.URL, d.AdminToken)
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
  curl -s  -H 'Authorization: Bearer %[4]s' %[1]s/metrics | grep ^dds_   # a scraper sends the admin token too

Watch the network:

  curl -s -H 'Authorization: Bearer %[4]s' %[1]s/network        # members, their state and last contact
  DDS_TOKEN=%[2]s go run ./cmd/dds info <ID>                      # signatures of the confirming peers; where the copies are

Press Ctrl-C to stop.
`, n.URL, n.UserToken, n.PaymentToken, n.AdminToken)
}
