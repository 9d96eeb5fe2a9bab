package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/auth"
)

// tokenCmd manages tokens: on a running node through its accounts API
// (--node, --token), or, with --data, in a node's data directory on this
// machine (the way to make the first accounts).
func tokenCmd() *ffcli.Command {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	c := clientFlags(fs)
	data := fs.String("data", "", "data directory of a node on this machine: create the account and token there (no --node needed)")
	meta := fs.String("meta", "", metaUsage)
	role := fs.String("role", "user", "with --data: role of the new account: user, payment or admin")
	name := fs.String("name", "", "with --data: account name (default: generated)")
	acc := fs.String("account", "me", "the account the token is for (id or name; me: the caller's); admins may name any")
	label := fs.String("label", "dds token create", "what the token is for")
	create := command("create", "dds token create [--account ACCOUNT] [--label L] | --data DIR --role ROLE [--name NAME]", "create a token",
		`Creates a token and prints its id, then the token itself as the last line
(it is shown this once). Against a running node (--node, --token) it is for
your own account or, with an admin token, any --account. With --data it
creates an account with --role in that node's data directory, which works
while the node runs.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("token create takes no arguments")
			}
			if *data == "" {
				t, err := c().CreateToken(ctx, *acc, *label)
				if err != nil {
					return err
				}
				fmt.Printf("token %s for account %s\n%s\n", t.ID, *acc, t.Token)
				return nil
			}
			r, err := auth.ParseRole(*role)
			if err != nil {
				return usageErrorf("%v", err)
			}
			a, done, err := openAccounts(ctx, *data, *meta)
			if err != nil {
				return err
			}
			defer done()
			p, err := account(ctx, a, *name, r, true)
			if err != nil {
				return err
			}
			tok, err := a.IssueToken(ctx, p.ID, *label)
			if err != nil {
				return err
			}
			fmt.Printf("account %s (%s, role %s)\n%s\n", p.ID, p.Name, p.Role, tok)
			return nil
		})

	lfs := flag.NewFlagSet("token list", flag.ContinueOnError)
	lc := clientFlags(lfs)
	lacc := lfs.String("account", "me", "whose tokens (id or name; me: yours)")
	list := command("list", "dds token list [--account ACCOUNT]", "list an account's tokens (never the tokens themselves)", "", lfs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("token list takes no arguments")
			}
			infos, err := lc().Tokens(ctx, *lacc)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tLABEL")
			for _, t := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.CreatedAt.Format(time.RFC3339), t.Label)
			}
			return tw.Flush()
		})

	rfs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	rc := clientFlags(rfs)
	racc := rfs.String("account", "me", "whose token (id or name; me: yours)")
	revoke := command("revoke", "dds token revoke [--account ACCOUNT] ID", "revoke a token on every node", "", rfs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("token revoke takes one token ID (see dds token list)")
			}
			if err := rc().RevokeToken(ctx, *racc, args[0]); err != nil {
				return err
			}
			fmt.Printf("revoked %s\n", args[0])
			return nil
		})
	return group("token", "dds token create|list|revoke [flags]", "manage tokens", create, list, revoke)
}

// accountCmd manages accounts through a running node's accounts API.
func accountCmd() *ffcli.Command {
	lfs := flag.NewFlagSet("account list", flag.ContinueOnError)
	lc := clientFlags(lfs)
	list := command("list", "dds account list", "list the node's accounts (admin)", "", lfs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("account list takes no arguments")
			}
			accounts, err := lc().Accounts(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
			for _, a := range accounts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Role, a.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})
	cfs := flag.NewFlagSet("account create", flag.ContinueOnError)
	cc := clientFlags(cfs)
	name := cfs.String("name", "", "account name (default: generated)")
	role := cfs.String("role", "user", "user or payment (the whole network's), or admin (this node's)")
	create := command("create", "dds account create --role ROLE [--name NAME]", "create an account (admin)", "", cfs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("account create takes no arguments")
			}
			a, err := cc().CreateAccount(ctx, *name, *role)
			if err != nil {
				return err
			}
			fmt.Printf("account %s (%s, role %s)\n", a.ID, a.Name, a.Role)
			return nil
		})
	sfs := flag.NewFlagSet("account show", flag.ContinueOnError)
	sc := clientFlags(sfs)
	show := command("show", "dds account show [ACCOUNT]", "show an account (default: yours)", "", sfs,
		func(ctx context.Context, args []string) error {
			if len(args) > 1 {
				return usageErrorf("account show takes at most one account")
			}
			name := "me"
			if len(args) == 1 {
				name = args[0]
			}
			a, err := sc().Account(ctx, name)
			if err != nil {
				return err
			}
			fmt.Printf("account %s (%s, role %s, created %s)\n", a.ID, a.Name, a.Role, a.CreatedAt.Format(time.RFC3339))
			return nil
		})
	rfs := flag.NewFlagSet("account revoke", flag.ContinueOnError)
	rc := clientFlags(rfs)
	revoke := command("revoke", "dds account revoke ACCOUNT", "revoke every token of an account and clear its password (admin, or the account itself)",
		"The account stays (what it owns keeps its owner); every node refuses its tokens within a second or two,\nand an admin can issue it a token again.", rfs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("account revoke takes one account (id or name)")
			}
			n, err := rc().RevokeAccess(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Printf("revoked %d token(s) of %s and cleared its password\n", n, args[0])
			return nil
		})
	return group("account", "dds account list|create|show|revoke [flags]", "manage accounts on a running node", list, create, show, revoke)
}
