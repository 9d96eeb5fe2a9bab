package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/auth"
)

func userCmd() *ffcli.Command {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	data := fs.String("data", defaultDataDir(), "data directory of the node")
	meta := fs.String("meta", "", metaUsage)
	name := fs.String("name", "", "account name (required)")
	role := fs.String("role", "user", "role of a new account: user, payment or admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	create := command("create", "dds user create --name NAME --password-stdin [--role ROLE]",
		"create an account with a password, or set an existing account's password",
		`Gives the account NAME a password, creating the account (with --role) if it
does not exist. The password is read from standard input, never from the
command line, where other users could see it:

    printf '%s\n' "$PASSWORD" | dds user create --name alice --password-stdin

With the password, clients get tokens from /api/v1/auth/token with HTTP Basic
auth. Works while the node runs.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("user create takes no arguments, got %q", args)
			}
			if *name == "" {
				return errors.New("--name is required")
			}
			if !*fromStdin {
				return errors.New("pass the password on standard input with --password-stdin")
			}
			r, err := auth.ParseRole(*role)
			if err != nil {
				return err
			}
			password, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && password == "" {
				return errors.New("no password on standard input")
			}
			password = strings.TrimRight(password, "\r\n")
			// auth.SetPassword checks this too; checking first means a bad
			// password does not leave a new account without one.
			if len(password) < 8 || len(password) > 1024 {
				return errors.New("a password needs 8 to 1024 characters")
			}
			a, done, err := openAccounts(ctx, *data, *meta)
			if err != nil {
				return err
			}
			defer done()
			p, err := account(ctx, a, *name, r, isSet(fs, "role"))
			if err != nil {
				return err
			}
			if err := a.SetPassword(ctx, p.ID, password); err != nil {
				return err
			}
			fmt.Printf("account %s (%s, role %s): password set\n", p.ID, p.Name, p.Role)
			return nil
		})
	return group("user", "dds user create [flags]", "manage accounts with passwords", create)
}

// isSet tells whether a flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
