package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// completionCmd prints a shell script that completes dds's commands and
// flags, generated from the command tree itself so it never drifts.
func completionCmd(root func() *ffcli.Command) *ffcli.Command {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	return command("completion", "dds completion bash|zsh|fish", "print a shell completion script",
		`Prints a completion script for the shell. For example:

    source <(dds completion bash)                   # bash, this shell
    dds completion zsh > "${fpath[1]}/_dds"          # zsh
    dds completion fish > ~/.config/fish/completions/dds.fish`, fs,
		func(_ context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("completion takes one shell: bash, zsh or fish")
			}
			words := completionWords(root())
			switch args[0] {
			case "bash":
				writeBash(os.Stdout, words)
			case "zsh":
				fmt.Fprintln(os.Stdout, "#compdef dds\nautoload -U +X bashcompinit && bashcompinit")
				writeBash(os.Stdout, words)
			case "fish":
				writeFish(os.Stdout, words)
			default:
				return usageErrorf("completion: unknown shell %q: use bash, zsh or fish", args[0])
			}
			return nil
		})
}

// completionWords maps each command path ("", "token", "token create") to
// the words that may follow it: its subcommands and its flags.
func completionWords(root *ffcli.Command) map[string][]string {
	out := map[string][]string{}
	var walk func(path string, c *ffcli.Command)
	walk = func(path string, c *ffcli.Command) {
		var words []string
		for _, s := range c.Subcommands {
			words = append(words, s.Name)
			walk(strings.TrimSpace(path+" "+s.Name), s)
		}
		if c.FlagSet != nil {
			c.FlagSet.VisitAll(func(f *flag.Flag) { words = append(words, "--"+f.Name) })
		}
		sort.Strings(words)
		out[path] = words
	}
	walk("", root)
	return out
}

func writeBash(w io.Writer, words map[string][]string) {
	fmt.Fprintln(w, `_dds() {
    local cur path i
    cur="${COMP_WORDS[COMP_CWORD]}"
    path=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in -*) ;; *) path="${path:+$path }${COMP_WORDS[i]}" ;; esac
    done
    case "$path" in`)
	for _, p := range sortedKeys(words) {
		fmt.Fprintf(w, "        %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", p, strings.Join(words[p], " "))
	}
	fmt.Fprintln(w, `        *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}
complete -F _dds dds`)
}

func writeFish(w io.Writer, words map[string][]string) {
	for _, p := range sortedKeys(words) {
		cond := "__fish_use_subcommand"
		if p != "" {
			cond = "__fish_seen_subcommand_from " + p[strings.LastIndex(p, " ")+1:]
		}
		for _, word := range words[p] {
			if name, ok := strings.CutPrefix(word, "--"); ok {
				fmt.Fprintf(w, "complete -c dds -n %q -l %s\n", cond, name)
			} else {
				fmt.Fprintf(w, "complete -c dds -f -n %q -a %s\n", cond, word)
			}
		}
	}
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
