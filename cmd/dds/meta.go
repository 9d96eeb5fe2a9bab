package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/prometheus-dds/dds/internal/node"
)

// metaCmd works on a stopped node's metadata database.
func metaCmd() *ffcli.Command {
	fs := flag.NewFlagSet("meta copy", flag.ContinueOnError)
	data := fs.String("data", "", "data directory of the node (required; the node must be stopped)")
	from := fs.String("meta", "", "the database to copy from: "+metaUsage)
	to := fs.String("to", "", "the empty database to copy into: a postgres:// URL (or a SQLite file)")
	cp := command("copy", "dds meta copy --data DIR --to postgres://... [--meta FROM]", "copy a stopped node's metadata into an empty database",
		`Copies every table of the node's metadata database (its SQLite file by
default) into an empty database, in one transaction: how a node moves to
PostgreSQL. Then start it with the same --data and --meta set to the new
database. Content stays where --blobs keeps it.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("meta copy takes no arguments")
			}
			if *data == "" || *to == "" {
				return usageErrorf("meta copy needs --data and --to")
			}
			rows, err := node.CopyMeta(ctx, *data, *from, *to)
			if err != nil {
				return err
			}
			var total int64
			for _, t := range slices.Sorted(maps.Keys(rows)) {
				if rows[t] > 0 {
					fmt.Printf("%-32s %d\n", t, rows[t])
				}
				total += rows[t]
			}
			fmt.Printf("copied %d rows of %d tables; start the node with --meta set to the new database\n", total, len(rows))
			return nil
		})
	return group("meta", "dds meta <subcommand>", "the node's metadata database", cp)
}
