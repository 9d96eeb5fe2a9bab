package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/node"
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
			db, err := node.OpenDB(*data)
			if err != nil {
				return err
			}
			defer db.Close()
			a, err := node.OpenAuth(ctx, *data, db, clock.Real{})
			if err != nil {
				return err
			}
			p, err := a.Principal(ctx, *name)
			if *name == "" || err != nil {
				if p, err = a.CreatePrincipal(ctx, *name, r); err != nil {
					return err
				}
			} else if p.Role != r {
				return fmt.Errorf("account %q exists with role %s, not %s", *name, p.Role, r)
			}
			tok, err := a.IssueToken(ctx, p.ID, "dds token create")
			if err != nil {
				return err
			}
			fmt.Printf("account %s (%s, role %s)\n%s\n", p.ID, p.Name, p.Role, tok)
			return nil
		})
	return &ffcli.Command{Name: "token", ShortUsage: "dds token create [flags]", ShortHelp: "manage accounts and tokens",
		FlagSet: flag.NewFlagSet("token", flag.ContinueOnError), Subcommands: []*ffcli.Command{create},
		Exec: func(context.Context, []string) error { return flag.ErrHelp }}
}
