package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// storletCmd and dependencyCmd drive the storlets controller (admin token).
func storletCmd() *ffcli.Command {
	return controllerCmd("storlet", "manage storlets: WebAssembly filters run on objects", (*client.Client).Storlets,
		func(fs *flag.FlagSet) func(string) api.StorletMeta {
			main := fs.String("main", "_start", "exported function to run")
			deps := fs.String("dependency", "", "comma-separated dependency names")
			return func(name string) api.StorletMeta {
				lang, version, objMeta := "wasm", "1.0", "no"
				return api.StorletMeta{Name: &name, Language: &lang, InterfaceVersion: &version,
					Dependency: deps, ObjectMetadata: &objMeta, Main: main}
			}
		})
}

func dependencyCmd() *ffcli.Command {
	return controllerCmd("dependency", "manage storlet dependencies: files storlets read under /deps", (*client.Client).Dependencies,
		func(fs *flag.FlagSet) func(string) api.StorletDependencyMeta {
			version := fs.String("version", "1.0", "version")
			perm := fs.String("permissions", "", "octal mode, such as 0755")
			return func(name string) api.StorletDependencyMeta {
				return api.StorletDependencyMeta{Name: &name, Version: version, Permissions: perm}
			}
		})
}

// call is a subcommand's work: what it returns is printed as JSON.
type call func(ctx context.Context, c *client.Client, args []string) (any, error)

// controllerCmd is the subcommands of one kind; meta registers the create
// flags and makes the metadata of a new record.
func controllerCmd[R, M any](kind, short string, records func(*client.Client) client.Controller[R, M], meta func(*flag.FlagSet) func(string) M) *ffcli.Command {
	sub := func(name, usage, help string, nargs int, flags func(*flag.FlagSet) call) *ffcli.Command {
		fs := flag.NewFlagSet(kind+" "+name, flag.ContinueOnError)
		c := clientFlags(fs)
		run := flags(fs)
		return command(name, "dds "+kind+" "+usage, help, "", fs, func(ctx context.Context, args []string) error {
			if len(args) != nargs {
				return usageErrorf("usage: dds %s %s", kind, usage)
			}
			v, err := run(ctx, c(), args)
			if err != nil || v == nil {
				return err
			}
			out, _ := json.MarshalIndent(v, "", "  ")
			fmt.Println(string(out))
			return nil
		})
	}
	// byID is a call on the record whose id is the last argument.
	byID := func(f func(ctx context.Context, c *client.Client, args []string, id int64) (any, error)) func(*flag.FlagSet) call {
		return func(*flag.FlagSet) call {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				id, err := recordID(kind, args[len(args)-1])
				if err != nil {
					return nil, err
				}
				return f(ctx, c, args, id)
			}
		}
	}
	deployFlags := func(fs *flag.FlagSet) call {
		params := fs.String("params", "", "parameters, as a query string: select=user_id&x=1")
		return byID(func(ctx context.Context, c *client.Client, args []string, id int64) (any, error) {
			return records(c).Deploy(ctx, args[0], id, *params)
		})(fs)
	}
	return group(kind, "dds "+kind+" <subcommand>", short,
		sub("list", "list", "list every "+kind, 0, func(*flag.FlagSet) call {
			return func(ctx context.Context, c *client.Client, _ []string) (any, error) { return records(c).List(ctx) }
		}),
		sub("show", "show ID", "show one "+kind, 1, byID(func(ctx context.Context, c *client.Client, _ []string, id int64) (any, error) {
			return records(c).Get(ctx, id)
		})),
		sub("create", "create [flags] NAME", "register a "+kind, 1, func(fs *flag.FlagSet) call {
			newMeta := meta(fs)
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				return records(c).Create(ctx, newMeta(args[0]))
			}
		}),
		sub("upload", "upload ID FILE", "upload the "+kind+"'s data", 2, func(*flag.FlagSet) call {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				id, err := recordID(kind, args[0])
				if err != nil {
					return nil, err
				}
				f, err := os.Open(args[1])
				if err != nil {
					return nil, err
				}
				defer f.Close()
				return records(c).Upload(ctx, id, f)
			}
		}),
		sub("delete", "delete ID", "delete a "+kind+" that is not deployed", 1, byID(func(ctx context.Context, c *client.Client, _ []string, id int64) (any, error) {
			return nil, records(c).Delete(ctx, id)
		})),
		sub("deploy", "deploy [flags] ACCOUNT ID", "deploy to an account (a principal id)", 2, deployFlags),
		sub("undeploy", "undeploy ACCOUNT ID", "undeploy from an account", 2, byID(func(ctx context.Context, c *client.Client, args []string, id int64) (any, error) {
			return nil, records(c).Undeploy(ctx, args[0], id)
		})),
		sub("deployed", "deployed ACCOUNT", "list what is deployed to an account", 1, func(*flag.FlagSet) call {
			return func(ctx context.Context, c *client.Client, args []string) (any, error) {
				return records(c).Deployed(ctx, args[0])
			}
		}),
	)
}

func recordID(kind, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s ID %q is not a number", kind, s)
	}
	return id, nil
}
