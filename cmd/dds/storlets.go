package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/sandbox"
)

// storletFlags are the limits of storlet runs.
func storletFlags(fs *flag.FlagSet, lim *sandbox.Limits) {
	*lim = sandbox.DefaultLimits()
	lim.RegisterFlags(fs)
}

// controller is what the CLI calls for one kind of the storlets controller:
// R is a record, M the metadata that creates one.
type controller[R, M any] struct {
	kind, short string
	meta        func(fs *flag.FlagSet) func(name string) M // the create flags
	list        func(*client.Client, context.Context) ([]R, error)
	show        func(*client.Client, context.Context, int64) (R, error)
	create      func(*client.Client, context.Context, M) (R, error)
	upload      func(*client.Client, context.Context, int64, io.Reader) (R, error)
	delete      func(*client.Client, context.Context, int64) error
	deploy      func(c *client.Client, ctx context.Context, account string, id int64, params string) (api.StorletDeployment, error)
	undeploy    func(*client.Client, context.Context, string, int64) error
	deployed    func(*client.Client, context.Context, string) ([]R, error)
}

// storletCmd and dependencyCmd drive the storlets controller (admin token).
func storletCmd() *ffcli.Command {
	return controllerCmd(controller[api.Storlet, api.StorletMeta]{
		kind: "storlet", short: "manage storlets: WebAssembly filters run on objects",
		meta: func(fs *flag.FlagSet) func(string) api.StorletMeta {
			main := fs.String("main", "_start", "exported function to run")
			deps := fs.String("dependency", "", "comma-separated dependency names")
			return func(name string) api.StorletMeta {
				lang, version, objMeta := "wasm", "1.0", "no"
				return api.StorletMeta{Name: &name, Language: &lang, InterfaceVersion: &version,
					Dependency: deps, ObjectMetadata: &objMeta, Main: main}
			}
		},
		list: (*client.Client).Storlets, show: (*client.Client).Storlet, create: (*client.Client).CreateStorlet,
		upload: (*client.Client).UploadStorlet, delete: (*client.Client).DeleteStorlet, deploy: (*client.Client).DeployStorlet,
		undeploy: (*client.Client).UndeployStorlet, deployed: (*client.Client).DeployedStorlets,
	})
}

func dependencyCmd() *ffcli.Command {
	return controllerCmd(controller[api.StorletDependency, api.StorletDependencyMeta]{
		kind: "dependency", short: "manage storlet dependencies: files storlets read under /deps",
		meta: func(fs *flag.FlagSet) func(string) api.StorletDependencyMeta {
			version := fs.String("version", "1.0", "version")
			perm := fs.String("permissions", "", "octal mode, such as 0755")
			return func(name string) api.StorletDependencyMeta {
				return api.StorletDependencyMeta{Name: &name, Version: version, Permissions: perm}
			}
		},
		list: (*client.Client).Dependencies, show: (*client.Client).Dependency, create: (*client.Client).CreateDependency,
		upload: (*client.Client).UploadDependency, delete: (*client.Client).DeleteDependency,
		deploy: func(c *client.Client, ctx context.Context, account string, id int64, _ string) (api.StorletDeployment, error) {
			return c.DeployDependency(ctx, account, id)
		},
		undeploy: (*client.Client).UndeployDependency, deployed: (*client.Client).DeployedDependencies,
	})
}

// call is a subcommand's work: what it returns is printed as JSON.
type call func(ctx context.Context, c *client.Client, args []string) (any, error)

func controllerCmd[R, M any](k controller[R, M]) *ffcli.Command {
	sub := func(name, usage, help string, nargs int, flags func(*flag.FlagSet) call) *ffcli.Command {
		fs := flag.NewFlagSet(k.kind+" "+name, flag.ContinueOnError)
		c := clientFlags(fs)
		run := flags(fs)
		return command(name, "dds "+k.kind+" "+usage, help, "", fs, func(ctx context.Context, args []string) error {
			if len(args) != nargs {
				return fmt.Errorf("usage: dds %s %s", k.kind, usage)
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
				id, err := recordID(k.kind, args[len(args)-1])
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
			return k.deploy(c, ctx, args[0], id, *params)
		})(fs)
	}
	return &ffcli.Command{
		Name: k.kind, ShortUsage: "dds " + k.kind + " <subcommand>", ShortHelp: k.short,
		FlagSet: flag.NewFlagSet(k.kind, flag.ContinueOnError),
		Exec:    func(context.Context, []string) error { return flag.ErrHelp },
		Subcommands: []*ffcli.Command{
			sub("list", "list", "list every "+k.kind, 0, func(*flag.FlagSet) call {
				return func(ctx context.Context, c *client.Client, _ []string) (any, error) { return k.list(c, ctx) }
			}),
			sub("show", "show ID", "show one "+k.kind, 1, byID(func(ctx context.Context, c *client.Client, _ []string, id int64) (any, error) {
				return k.show(c, ctx, id)
			})),
			sub("create", "create [flags] NAME", "register a "+k.kind, 1, func(fs *flag.FlagSet) call {
				meta := k.meta(fs)
				return func(ctx context.Context, c *client.Client, args []string) (any, error) {
					return k.create(c, ctx, meta(args[0]))
				}
			}),
			sub("upload", "upload ID FILE", "upload the "+k.kind+"'s data", 2, func(*flag.FlagSet) call {
				return func(ctx context.Context, c *client.Client, args []string) (any, error) {
					id, err := recordID(k.kind, args[0])
					if err != nil {
						return nil, err
					}
					f, err := os.Open(args[1])
					if err != nil {
						return nil, err
					}
					defer f.Close()
					return k.upload(c, ctx, id, f)
				}
			}),
			sub("delete", "delete ID", "delete a "+k.kind+" that is not deployed", 1, byID(func(ctx context.Context, c *client.Client, _ []string, id int64) (any, error) {
				return nil, k.delete(c, ctx, id)
			})),
			sub("deploy", "deploy [flags] ACCOUNT ID", "deploy to an account (a principal id)", 2, deployFlags),
			sub("undeploy", "undeploy ACCOUNT ID", "undeploy from an account", 2, byID(func(ctx context.Context, c *client.Client, args []string, id int64) (any, error) {
				return nil, k.undeploy(c, ctx, args[0], id)
			})),
			sub("deployed", "deployed ACCOUNT", "list what is deployed to an account", 1, func(*flag.FlagSet) call {
				return func(ctx context.Context, c *client.Client, args []string) (any, error) {
					return k.deployed(c, ctx, args[0])
				}
			}),
		},
	}
}

func recordID(kind, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s ID %q is not a number", kind, s)
	}
	return id, nil
}
