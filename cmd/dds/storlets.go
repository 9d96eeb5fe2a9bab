package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/sandbox"
)

// storletFlags are the limits of storlet runs.
func storletFlags(fs *flag.FlagSet, lim *sandbox.Limits) {
	fs.Func("storlet-memory", "memory of one storlet run, in MiB (default 64, at most 4096)", func(s string) error {
		mib, err := strconv.ParseUint(s, 10, 32)
		if err != nil || mib == 0 || mib > 4096 {
			return fmt.Errorf("want a whole number of MiB from 1 to 4096")
		}
		lim.MemoryPages = uint32(mib << 20 / sandbox.PageSize)
		return nil
	})
	fs.DurationVar(&lim.Timeout, "storlet-timeout", 10*time.Second, "wall-clock time one storlet run may take")
	fs.Int64Var(&lim.MaxOutput, "storlet-max-output", 1<<30, "bytes one storlet run may write")
	fs.IntVar(&lim.Concurrency, "storlet-concurrency", 8, "storlet runs at once; more wait (up to the timeout), then get 503")
	fs.Int64Var(&lim.MaxModule, "storlet-max-module", 64<<20, "largest storlet module accepted, in bytes")
}

// storletCmd and dependencyCmd drive the storlets controller (admin token).
func storletCmd() *ffcli.Command {
	return controllerCmd("storlet", "/storlets", "manage storlets: WebAssembly filters run on objects",
		func(fs *flag.FlagSet) func(name string) any {
			main := fs.String("main", "_start", "exported function to run")
			deps := fs.String("dependency", "", "comma-separated dependency names")
			return func(name string) any {
				return map[string]string{"name": name, "language": "wasm", "interface_version": "1.0",
					"dependency": *deps, "object_metadata": "no", "main": *main}
			}
		})
}

func dependencyCmd() *ffcli.Command {
	return controllerCmd("dependency", "/storlets/dependencies", "manage storlet dependencies: files storlets read under /deps",
		func(fs *flag.FlagSet) func(name string) any {
			version := fs.String("version", "1.0", "version")
			perm := fs.String("permissions", "", "octal mode, such as 0755")
			return func(name string) any {
				return map[string]string{"name": name, "version": *version, "permissions": *perm}
			}
		})
}

func controllerCmd(kind, base, short string, createFlags func(*flag.FlagSet) func(string) any) *ffcli.Command {
	call := func(ctx context.Context, c *client.Client, method, path, ctype string, body io.Reader) error {
		req, err := c.NewRequest(ctx, method, path, body)
		if err != nil {
			return err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req, http.StatusOK, http.StatusCreated, http.StatusNoContent)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var v any
		if json.NewDecoder(resp.Body).Decode(&v) == nil {
			out, _ := json.MarshalIndent(v, "", "  ")
			fmt.Println(string(out))
		}
		return nil
	}
	sub := func(name, usage, help string, nargs int, flags func(*flag.FlagSet) func(ctx context.Context, c *client.Client, args []string) error) *ffcli.Command {
		fs := flag.NewFlagSet(kind+" "+name, flag.ContinueOnError)
		c := clientFlags(fs)
		run := flags(fs)
		return command(name, "dds "+kind+" "+usage, help, "", fs, func(ctx context.Context, args []string) error {
			if len(args) != nargs {
				return fmt.Errorf("usage: dds %s %s", kind, usage)
			}
			return run(ctx, c(), args)
		})
	}
	simple := func(method string, path func(args []string) string) func(*flag.FlagSet) func(context.Context, *client.Client, []string) error {
		return func(*flag.FlagSet) func(context.Context, *client.Client, []string) error {
			return func(ctx context.Context, c *client.Client, args []string) error {
				return call(ctx, c, method, path(args), "", nil)
			}
		}
	}
	esc := url.PathEscape
	return &ffcli.Command{
		Name: kind, ShortUsage: "dds " + kind + " <subcommand>", ShortHelp: short,
		FlagSet: flag.NewFlagSet(kind, flag.ContinueOnError),
		Exec:    func(context.Context, []string) error { return flag.ErrHelp },
		Subcommands: []*ffcli.Command{
			sub("list", "list", "list every "+kind, 0, simple("GET", func([]string) string { return base })),
			sub("show", "show ID", "show one "+kind, 1, simple("GET", func(a []string) string { return base + "/" + esc(a[0]) })),
			sub("create", "create [flags] NAME", "register a "+kind, 1, func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) error {
				meta := createFlags(fs)
				return func(ctx context.Context, c *client.Client, args []string) error {
					b, _ := json.Marshal(meta(args[0]))
					return call(ctx, c, "POST", base, "application/json", bytes.NewReader(b))
				}
			}),
			sub("upload", "upload ID FILE", "upload the "+kind+"'s data", 2, func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) error {
				return func(ctx context.Context, c *client.Client, args []string) error {
					f, err := os.Open(args[1])
					if err != nil {
						return err
					}
					defer f.Close()
					return call(ctx, c, "PUT", base+"/"+esc(args[0])+"/data", "application/octet-stream", f)
				}
			}),
			sub("delete", "delete ID", "delete a "+kind+" that is not deployed", 1, simple("DELETE", func(a []string) string { return base + "/" + esc(a[0]) })),
			sub("deploy", "deploy [flags] ACCOUNT ID", "deploy to an account (a principal id)", 2, func(fs *flag.FlagSet) func(context.Context, *client.Client, []string) error {
				params := fs.String("params", "", "parameters, as a query string: select=user_id&x=1")
				return func(ctx context.Context, c *client.Client, args []string) error {
					b, _ := json.Marshal(map[string]string{"params": *params})
					return call(ctx, c, "PUT", base+"/"+esc(args[0])+"/deploy/"+esc(args[1]), "application/json", bytes.NewReader(b))
				}
			}),
			sub("undeploy", "undeploy ACCOUNT ID", "undeploy from an account", 2, simple("PUT", func(a []string) string { return base + "/" + esc(a[0]) + "/undeploy/" + esc(a[1]) })),
			sub("deployed", "deployed ACCOUNT", "list what is deployed to an account", 1, simple("GET", func(a []string) string { return base + "/" + esc(a[0]) + "/deploy" })),
		},
	}
}
