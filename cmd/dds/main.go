// Command dds runs a Prometheus DDS node, a local network of nodes, and the
// client commands that talk to a node. Every flag can also be set from an
// environment variable: DDS_ followed by the flag name in upper case with
// '-' as '_' (--data is DDS_DATA, --price-per-gib-month is
// DDS_PRICE_PER_GIB_MONTH).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &ffcli.Command{
		Name:       "dds",
		ShortUsage: "dds <command> [flags]",
		ShortHelp:  "a node of the Prometheus decentralized data storage network",
		LongHelp: `dds runs a storage node with billing (serve), a local network to try it
(devnet), and the client commands that talk to a node. Start with:

    dds devnet

Every flag has an environment variable twin: DDS_<FLAG>, upper case, '-' as '_'.`,
		Subcommands: []*ffcli.Command{
			serveCmd(), devnetCmd(), tokenCmd(), userCmd(),
			putCmd(), getCmd(), infoCmd(), payCmd(), extendCmd(), statementCmd(),
			storletCmd(), dependencyCmd(),
			versionCmd(),
		},
		FlagSet: flag.NewFlagSet("dds", flag.ContinueOnError),
		Exec: func(context.Context, []string) error {
			return flag.ErrHelp
		},
	}
	err := root.ParseAndRun(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		if len(os.Args) < 2 {
			fmt.Fprintln(os.Stderr, ffcli.DefaultUsageFunc(root))
			os.Exit(2)
		}
	default:
		fmt.Fprintln(os.Stderr, "dds:", err)
		os.Exit(1)
	}
}

// command builds a subcommand whose flags also read DDS_* variables.
func command(name, usage, short, long string, fs *flag.FlagSet, exec func(context.Context, []string) error) *ffcli.Command {
	return &ffcli.Command{
		Name: name, ShortUsage: usage, ShortHelp: short, LongHelp: long, FlagSet: fs,
		Options: []ff.Option{ff.WithEnvVarPrefix("DDS")},
		Exec: func(ctx context.Context, args []string) error {
			// Let flags follow the arguments too: "dds pay ID --amount 1".
			if err := fs.Parse(interspersed(fs, args)); err != nil {
				return err
			}
			return exec(ctx, fs.Args())
		},
	}
}

// interspersed moves the flags found among args in front of the positional
// arguments, so the standard flag package parses them.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(append(flags, "--"), pos...)
}

// logFlags adds --log-level and --log-format and returns a constructor.
func logFlags(fs *flag.FlagSet) func() *slog.Logger {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	return func() *slog.Logger {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			lv = slog.LevelInfo
		}
		opts := &slog.HandlerOptions{Level: lv}
		if strings.EqualFold(*format, "json") {
			return slog.New(slog.NewJSONHandler(os.Stderr, opts))
		}
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
}

// version is set by the release build (-ldflags "-X main.version=...").
var version = "dev"

func versionCmd() *ffcli.Command {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	return command("version", "dds version", "print the version", "", fs, func(context.Context, []string) error {
		fmt.Println("dds", version)
		return nil
	})
}
