package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/auth"
)

func tokenCmd() *ffcli.Command {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	data := fs.String("data", defaultDataDir(), "data directory of the node")
	role := fs.String("role", "user", "role of the new account: user, payment or admin")
	name := fs.String("name", "", "account name (default: generated)")
	create := command("create", "dds token create --role ROLE [--name NAME]", "create an account and a token for it",
		`Creates an account with the role and prints its id, then its token as the
last line. Works while the node runs.`, fs,
		func(ctx context.Context, args []string) error {
			r, err := auth.ParseRole(*role)
			if err != nil {
				return err
			}
			a, done, err := openAccounts(ctx, *data)
			if err != nil {
				return err
			}
			defer done()
			p, err := account(ctx, a, *name, r, true)
			if err != nil {
				return err
			}
			tok, err := a.IssueToken(ctx, p.ID, "dds token create")
			if err != nil {
				return err
			}
			fmt.Printf("account %s (%s, role %s)\n%s\n", p.ID, p.Name, p.Role, tok)
			return nil
		})
	return group("token", "dds token create [flags]", "manage accounts and tokens", create)
}
