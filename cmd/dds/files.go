package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/money"
)

// progress wraps r in a progress bar when stderr is a terminal.
func progress(size int64, what string) (wrap func(io.Reader) io.Reader, writer func(io.Writer) io.Writer, done func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) || size == 0 {
		return func(r io.Reader) io.Reader { return r }, func(w io.Writer) io.Writer { return w }, func() {}
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(what), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish())
	return func(r io.Reader) io.Reader { rd := progressbar.NewReader(r, bar); return &rd },
		func(w io.Writer) io.Writer { return io.MultiWriter(w, bar) },
		func() { bar.Finish() }
}

// metaFlag collects repeated --meta key=value pairs.
type metaFlag map[string]any

func (m metaFlag) String() string { return "" }
func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	m[k] = v
	return nil
}

func printFile(f *client.File) {
	fmt.Printf("id        %s\nname      %s\nstate     %s\nsize      %d bytes\nsha256    %s\n", f.ID, f.Name, f.State, f.Size, f.ContentHash)
	fmt.Printf("duration  %s\n", time.Duration(f.Duration)*time.Second)
	if f.ExpiresAt != nil {
		fmt.Printf("expires   %s\n", f.ExpiresAt.Format(time.RFC3339))
	}
	var additional map[string]any
	if json.Unmarshal(f.Additional, &additional) == nil && len(additional) > 0 {
		b, _ := json.Marshal(additional)
		fmt.Printf("meta      %s\n", b)
	}
	if f.Quote != nil {
		fmt.Printf("price     %s tokens (%s quote %s, paid %s, valid until %s)\n", f.Quote.Price, f.Quote.Kind, f.Quote.ID, f.Quote.Paid, f.Quote.ExpiresAt.Format(time.RFC3339))
		var conf struct {
			Signatures []struct{ Node string } `json:"signatures"`
		}
		_ = json.Unmarshal(f.Quote.Confirmations, &conf)
		fmt.Printf("confirmed by %d peers", len(conf.Signatures))
		for _, s := range conf.Signatures {
			fmt.Printf(" %s", s.Node)
		}
		fmt.Println()
	} else {
		fmt.Printf("paid      %s tokens\n", f.PriceExact)
		var meta struct {
			Copies []struct{ Node, State string }
		}
		if json.Unmarshal(f.Meta, &meta) == nil && len(meta.Copies) > 0 {
			fmt.Printf("copies   ")
			for _, c := range meta.Copies {
				fmt.Printf(" %s (%s)", c.Node, c.State)
			}
			fmt.Println()
		}
	}
}

func putCmd() *ffcli.Command {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	c := clientFlags(fs)
	dur := fs.Duration("duration", 30*24*time.Hour, "storage term")
	name := fs.String("name", "", "file name (default: the file's base name)")
	meta := metaFlag{}
	fs.Var(meta, "meta", "additional attribute key=value (repeatable)")
	return command("put", "dds put [flags] FILE", "upload a file and print its price",
		"Uploads FILE (- for standard input). The node answers with the price to pay (402).", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("put takes one FILE argument")
			}
			var in io.Reader = os.Stdin
			var size int64
			n := *name
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				st, _ := f.Stat()
				size, in = st.Size(), f
				if n == "" {
					n = st.Name()
				}
			} else if n == "" {
				n = "stdin"
			}
			wrap, _, done := progress(size, "uploading")
			f, err := c().Upload(ctx, n, wrap(in), client.UploadOptions{Duration: *dur, Additional: meta})
			done()
			if err != nil {
				return err
			}
			printFile(f)
			if f.PaymentRequired {
				fmt.Printf("\npay with: dds pay %s --amount %s --token <payment token>\n", f.ID, f.Quote.Price)
			}
			return nil
		})
}

func getCmd() *ffcli.Command {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	c := clientFlags(fs)
	out := fs.String("o", "", "write to this file (default: standard output)")
	return command("get", "dds get [flags] ID", "download a file", "", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("get takes one ID argument")
			}
			body, size, err := c().Open(ctx, args[0], nil)
			if err != nil {
				return explainUnpaid(ctx, c(), args[0], err)
			}
			defer body.Close()
			var w io.Writer = os.Stdout
			if *out != "" {
				tmp := *out + ".part"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				defer os.Remove(tmp)
				defer f.Close()
				w = f
				_, wr, done := progress(size, "downloading")
				if _, err := io.Copy(wr(w), body); err != nil {
					return err
				}
				done()
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(tmp, *out)
			}
			_, err = io.Copy(w, body)
			return err
		})
}

// explainUnpaid turns a 402 (a file not paid yet) into what to do about it;
// any other error is returned as it is.
func explainUnpaid(ctx context.Context, c *client.Client, id string, err error) error {
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusPaymentRequired {
		return err
	}
	f, ierr := c.Info(ctx, id)
	if ierr != nil || f.Quote == nil {
		return fmt.Errorf("file %s is not paid yet: see 'dds info %s'", id, id)
	}
	owed := f.Quote.Price
	if price, perr := money.Parse(f.Quote.Price); perr == nil {
		if paid, perr := money.Parse(f.Quote.Paid); perr == nil && paid < price {
			owed = (price - paid).String()
		}
	}
	return fmt.Errorf("file %s is pending: %s of %s tokens paid; pay %s tokens with 'dds pay %s --amount %s' (payment token) before %s",
		id, f.Quote.Paid, f.Quote.Price, owed, id, owed, f.Quote.ExpiresAt.Format(time.RFC3339))
}

func infoCmd() *ffcli.Command {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	c := clientFlags(fs)
	return command("info", "dds info [flags] ID", "show a file's info", "", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("info takes one ID argument")
			}
			f, err := c().Info(ctx, args[0])
			if err != nil {
				return err
			}
			printFile(f)
			return nil
		})
}

func payCmd() *ffcli.Command {
	fs := flag.NewFlagSet("pay", flag.ContinueOnError)
	c := clientFlags(fs)
	amount := fs.String("amount", "", "amount paid, in tokens (exact decimal)")
	status := fs.String("status", "success", "payment status: success or error")
	key := fs.String("idempotency-key", "", "key that makes a repeated delivery count once")
	return command("pay", "dds pay [flags] ID --amount X", "report a payment for a file (payment processor)", "", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 || *amount == "" {
				return usageErrorf("pay takes one file ID argument and --amount")
			}
			p, err := c().Pay(ctx, api.PaymentRequest{FileID: args[0], Status: *status, Amount: *amount, IdempotencyKey: *key})
			if err != nil {
				return err
			}
			fmt.Printf("payment %s: %s, %s tokens for file %s\n", p.ID, p.Status, p.AmountExact, p.FileID)
			fmt.Println(payState(p))
			return nil
		})
}

func extendCmd() *ffcli.Command {
	fs := flag.NewFlagSet("extend", flag.ContinueOnError)
	c := clientFlags(fs)
	dur := fs.Duration("duration", 0, "new total storage term")
	meta := metaFlag{}
	fs.Var(meta, "meta", "additional attribute key=value to set (repeatable)")
	return command("extend", "dds extend [flags] ID --duration D", "extend a file's term (prints the price of the extension)", "", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("extend takes one ID argument")
			}
			if *dur <= 0 && len(meta) == 0 {
				return usageErrorf("extend needs --duration (the new total term, e.g. 1440h) or --meta key=value")
			}
			var add map[string]any
			if len(meta) > 0 {
				add = meta
			}
			f, err := c().Extend(ctx, args[0], *dur, add)
			if err != nil {
				return err
			}
			printFile(f)
			if f.PaymentRequired {
				fmt.Printf("\npay with: dds pay %s --amount %s --token <payment token>\n", f.ID, f.Quote.Price)
			}
			return nil
		})
}

func statementCmd() *ffcli.Command {
	fs := flag.NewFlagSet("statement", flag.ContinueOnError)
	c := clientFlags(fs)
	now := time.Now().UTC()
	from := fs.String("from", now.Format("200601")+"01", "first day, yyyymmdd")
	to := fs.String("to", now.Format("20060102"), "last day, yyyymmdd (inclusive)")
	return command("statement", "dds statement [flags]", "show what the node is owed for a period (admin)", "", fs,
		func(ctx context.Context, args []string) error {
			st, err := c().Statement(ctx, *from, *to)
			if err != nil {
				return err
			}
			fmt.Printf("from %s to %s: %d files, %d bytes, owed %s tokens\n", *from, *to, st.Files, st.Size, st.AmountExact)
			return nil
		})
}

func lsCmd() *ffcli.Command {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	c := clientFlags(fs)
	all := fs.Bool("all", false, "also list files that ended (expired, abandoned, cancelled)")
	return command("ls", "dds ls [flags]", "list your files, newest first", "", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("ls takes no arguments")
			}
			tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSIZE\tSTATE\tEXPIRES")
			after := ""
			for {
				page, err := c().Files(ctx, 200, after)
				if err != nil {
					return err
				}
				for _, f := range page.Files {
					if !*all && f.State != "stored" && f.State != "pending" {
						continue
					}
					expires := "-"
					if f.ExpiresAt != nil {
						expires = f.ExpiresAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.ID, f.Name, f.Size, f.State, expires)
				}
				if len(page.Unreachable) > 0 {
					defer fmt.Fprintf(os.Stderr, "dds: %d node(s) did not answer; their files may be missing: %s\n", len(page.Unreachable), strings.Join(page.Unreachable, " "))
				}
				if after = page.Next; after == "" {
					return tw.Flush()
				}
			}
		})
}

func rmCmd() *ffcli.Command {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	c := clientFlags(fs)
	return command("rm", "dds rm [flags] ID", "cancel an upload that was not paid", `Cancels an upload that was never paid: its price quote is withdrawn and its
content deleted. A paid file is kept until its term ends.`, fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf("rm takes one ID argument")
			}
			if err := c().Cancel(ctx, args[0]); err != nil {
				return err
			}
			fmt.Printf("cancelled %s\n", args[0])
			return nil
		})
}

// payState says what a payment did: stored (paid), what is still owed, what
// was paid over, or why it did not count.
func payState(p *client.Payment) string {
	switch {
	case p.Status != "success":
		return "recorded as failed: it pays nothing"
	case !p.Applied || p.Quote == nil:
		return "not applied: the file has no open quote (paid already, or its quote expired)"
	}
	price, err1 := money.Parse(p.Quote.Price)
	paid, err2 := money.Parse(p.Quote.Paid)
	if err1 != nil || err2 != nil {
		return "quote " + p.Quote.State
	}
	switch {
	case paid < price:
		return fmt.Sprintf("still owed: %s of %s tokens (pay it with 'dds pay %s --amount %s')", price-paid, price, p.FileID, price-paid)
	case paid > price:
		return fmt.Sprintf("paid: the %s is done; %s tokens over the price of %s were kept (the node does not refund)", p.Quote.Kind, paid-price, price)
	}
	return fmt.Sprintf("paid: the %s of %s tokens is done; the file is stored for its term", p.Quote.Kind, price)
}
