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
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var root *ffcli.Command
	root = &ffcli.Command{
		Name:       "dds",
		ShortUsage: "dds <command> [flags]",
		ShortHelp:  "a node of the Prometheus decentralized data storage network",
		LongHelp: `dds runs a storage node with billing (serve), a local network to try it
(devnet), and the client commands that talk to a node. Start with:

    dds devnet

Every flag has an environment variable twin: DDS_<FLAG>, upper case, '-' as '_'.`,
		Subcommands: []*ffcli.Command{
			serveCmd(), devnetCmd(), loginCmd(), whoamiCmd(), accountCmd(), tokenCmd(), userCmd(),
			putCmd(), getCmd(), infoCmd(), lsCmd(), rmCmd(), payCmd(), extendCmd(), statementCmd(),
			storletCmd(), dependencyCmd(), oceanCmd(), metaCmd(),
			versionCmd(), completionCmd(func() *ffcli.Command { return root }),
		},
		FlagSet: flag.NewFlagSet("dds", flag.ContinueOnError),
		Exec: func(_ context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q: run dds --help for the commands", args[0])
			}
			fmt.Fprintln(os.Stderr, ffcli.DefaultUsageFunc(root))
			return usageErrorf("a command is needed")
		},
	}
	os.Exit(exitCode(root.ParseAndRun(ctx, os.Args[1:])))
}

// usageError is a mistake in how dds was called: exit code 2, as the flag
// package and most Unix tools use.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode reports err and says how to exit: 0 when all went well or help
// was asked for, 2 for a usage mistake (the flag package has already said
// which), 1 for anything else.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "dds:", err)
		return 2
	case isFlagError(err):
		fmt.Fprintln(os.Stderr, "dds:", err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "dds:", err)
	return 1
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
			if err := validate(fs); err != nil {
				return err
			}
			return exec(ctx, fs.Args())
		},
	}
}

// group builds a command that only holds subcommands: called alone or with
// an unknown subcommand, it shows its usage and exits 2.
func group(name, usage, short string, subs ...*ffcli.Command) *ffcli.Command {
	var g *ffcli.Command
	g = &ffcli.Command{Name: name, ShortUsage: usage, ShortHelp: short, Subcommands: subs,
		FlagSet: flag.NewFlagSet(name, flag.ContinueOnError),
		Exec: func(_ context.Context, args []string) error {
			fmt.Fprintln(os.Stderr, ffcli.DefaultUsageFunc(g))
			if len(args) > 0 {
				return usageErrorf("unknown command %q for dds %s", args[0], name)
			}
			return usageErrorf("dds %s needs a subcommand", name)
		}}
	return g
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
	validators[fs] = append(validators[fs], func() error {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			return usageErrorf("--log-level %q: use debug, info, warn or error", *level)
		}
		if f := strings.ToLower(*format); f != "text" && f != "json" {
			return usageErrorf("--log-format %q: use text or json", *format)
		}
		return nil
	})
	return func() *slog.Logger {
		var lv slog.Level
		_ = lv.UnmarshalText([]byte(*level)) // checked when the flags were parsed
		opts := &slog.HandlerOptions{Level: lv}
		if strings.EqualFold(*format, "json") {
			return slog.New(slog.NewJSONHandler(os.Stderr, opts))
		}
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
}

// isFlagError tells a mistake in the flags (which the flag package reports
// as plain errors) from a failure of the command.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"flag provided but not defined", "invalid value", "flag needs an argument", "invalid boolean"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// validators check a command's flags once parsed, before it runs.
var validators = map[*flag.FlagSet][]func() error{}

func validate(fs *flag.FlagSet) error {
	for _, v := range validators[fs] {
		if err := v(); err != nil {
			return err
		}
	}
	return nil
}

// version is set by a release build (-ldflags "-X main.version=..."); other
// builds report the module version and VCS revision Go recorded.
var version = ""

func versionString() string {
	v, rev, dirty := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version // "(devel)" in a build from a checkout
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "dds " + v
	if rev != "" {
		out += " " + rev[:min(12, len(rev))]
		if dirty {
			out += "+modified"
		}
	}
	return out + " " + runtime.Version()
}

func versionCmd() *ffcli.Command {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	return command("version", "dds version", "print the version", "", fs, func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf("version takes no arguments")
		}
		fmt.Println(versionString())
		return nil
	})
}
