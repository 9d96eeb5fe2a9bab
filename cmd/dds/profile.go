package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"

	"github.com/prometheus-dds/dds/client"
)

// A profile is a node and a token that client commands use when --node and
// --token (and DDS_NODE, DDS_TOKEN) are not given. `dds login` saves them in
// the user's config directory (mode 0600), by name.

type profile struct {
	Node  string `json:"node"`
	Token string `json:"token"`
}

type profiles struct {
	Current string             `json:"current"`
	All     map[string]profile `json:"profiles"`
}

func profilesPath() (string, error) {
	if p := os.Getenv("DDS_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory for profiles (%v): set DDS_CONFIG=FILE", err)
	}
	return filepath.Join(dir, "dds", "profiles.json"), nil
}

func loadProfiles() (profiles, error) {
	ps := profiles{All: map[string]profile{}}
	path, err := profilesPath()
	if err != nil {
		return ps, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ps, nil
	} else if err != nil {
		return ps, err
	}
	if err := json.Unmarshal(b, &ps); err != nil {
		return ps, fmt.Errorf("%s is not a dds profiles file: %v (remove it and log in again)", path, err)
	}
	if ps.All == nil {
		ps.All = map[string]profile{}
	}
	return ps, nil
}

func (ps profiles) save() error {
	path, err := profilesPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(ps, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// clientFlags adds --node, --token and --profile and returns a constructor
// of the client they name: flags (or DDS_NODE, DDS_TOKEN) first, then the
// profile (--profile, else the one logged in last), then a local node.
func clientFlags(fs *flag.FlagSet) func() *client.Client {
	nodeURL := fs.String("node", "", "URL of the node (default: the profile's, else http://127.0.0.1:8080)")
	token := fs.String("token", "", "bearer token (default: the profile's; see 'dds login')")
	name := fs.String("profile", "", "profile saved by 'dds login' (default: the last logged in)")
	return func() *client.Client {
		node, tok := *nodeURL, *token
		if node == "" || tok == "" {
			if ps, err := loadProfiles(); err == nil {
				p := ps.All[cmpOr(*name, ps.Current)]
				node, tok = cmpOr(node, p.Node), cmpOr(tok, p.Token)
			}
		}
		return client.New(cmpOr(node, "http://127.0.0.1:8080"), tok)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func loginCmd() *ffcli.Command {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	token := fs.String("token", "", "the token (default: read from standard input, not echoed on a terminal)")
	name := fs.String("profile", "default", "name to save the node and token under")
	return command("login", "dds login [--profile NAME] [--token T] NODE_URL", "save a node and a token as a profile",
		`Checks the token against the node, then saves both under the profile name in
the user's config directory (mode 0600; DDS_CONFIG names another file). Later
client commands use the profile logged in last unless --profile, --node or
--token (or DDS_NODE, DDS_TOKEN) say otherwise.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("login takes the node's URL")
			}
			tok := *token
			if tok == "" {
				fmt.Fprint(os.Stderr, "token: ")
				if term.IsTerminal(int(os.Stdin.Fd())) {
					b, err := term.ReadPassword(int(os.Stdin.Fd()))
					fmt.Fprintln(os.Stderr)
					if err != nil {
						return err
					}
					tok = string(b)
				} else {
					line, err := bufio.NewReader(os.Stdin).ReadString('\n')
					if err != nil && line == "" {
						return fmt.Errorf("no token on standard input")
					}
					tok = line
				}
			}
			tok = strings.TrimSpace(tok)
			node := strings.TrimRight(args[0], "/")
			me, err := client.New(node, tok).Account(ctx, "me")
			if err != nil {
				return fmt.Errorf("the node does not take this token: %w", err)
			}
			ps, err := loadProfiles()
			if err != nil {
				return err
			}
			ps.All[*name] = profile{Node: node, Token: tok}
			ps.Current = *name
			if err := ps.save(); err != nil {
				return err
			}
			fmt.Printf("logged in to %s as %s (%s, role %s); profile %q\n", node, me.Name, me.ID, me.Role, *name)
			return nil
		})
}

func whoamiCmd() *ffcli.Command {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	c := clientFlags(fs)
	return command("whoami", "dds whoami", "show the account the token belongs to", "", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("whoami takes no arguments")
			}
			cl := c()
			me, err := cl.Account(ctx, "me")
			if err != nil {
				return err
			}
			fmt.Printf("%s (%s, role %s) on %s\n", me.Name, me.ID, me.Role, cl.URL)
			return nil
		})
}
