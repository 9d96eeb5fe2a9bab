package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/testtool"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dds-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "dds")
	os.Setenv("DDS_CONFIG", filepath.Join(dir, "profiles.json")) // never the user's own profiles
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dds: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dds %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range [][]string{{}, {"serve"}, {"devnet"}, {"token", "create"}, {"put"}, {"get"}, {"info"}, {"pay"}, {"extend"}, {"statement"}, {"meta", "copy"}, {"version"}} {
		cmd := exec.Command(bin, append(c, "--help")...)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "USAGE") {
			t.Errorf("dds %v --help:\n%s", c, out)
		}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The README's story, through the real binary: a node from env-var
// configuration, accounts, upload, payment, download, statement.
func TestServeAndClientCommands(t *testing.T) {
	data := t.TempDir()
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--log-level", "warn")
	serveEnv := testtool.ServeEnv(t)
	meta := "DDS_META=" // the node's metadata: SQLite in DATA unless DDS_TEST_META=postgres
	for _, kv := range serveEnv {
		if strings.HasPrefix(kv, "DDS_META=") {
			meta = kv
		}
	}
	srv.Env = append(serveEnv, "DDS_DATA="+data, "DDS_LISTEN="+addr, "DDS_PRICE_PER_GIB_MONTH=2")
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	url := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("node did not come up: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, err := os.Stat(filepath.Join(data, "admin.token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v", err)
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return lines[len(lines)-1]
	}
	user := lastLine(run(t, []string{"DDS_DATA=" + data, meta}, "token", "create", "--role", "user", "--name", "alice"))
	payer := lastLine(run(t, []string{meta}, "token", "create", "--data", data, "--role", "payment"))
	admin := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(data, "admin.token")))))

	in := filepath.Join(t.TempDir(), "in.bin")
	content := make([]byte, 300_000)
	rand.Read(content)
	os.WriteFile(in, content, 0o600)
	env := []string{"DDS_NODE=" + url, "DDS_TOKEN=" + user}
	out := run(t, env, "put", in, "--duration", "48h", "--meta", "k=v")
	id := regexp.MustCompile(`(?m)^id\s+(\S+)`).FindStringSubmatch(out)
	price := regexp.MustCompile(`(?m)^price\s+(\S+)`).FindStringSubmatch(out)
	if id == nil || price == nil || !strings.Contains(out, "pending") {
		t.Fatalf("put:\n%s", out)
	}
	// Reading a pending file says what to do, in one line.
	cmd := exec.Command(bin, "get", id[1])
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "is pending") ||
		!strings.Contains(string(msg), "dds pay "+id[1]+" --amount "+price[1]) || strings.Count(string(msg), "\n") > 1 {
		t.Fatalf("get of a pending file: %v\n%s", err, msg)
	}
	payEnv := []string{"DDS_NODE=" + url, "DDS_TOKEN=" + payer}
	if out := run(t, payEnv, "pay", id[1], "--amount", "0.000000001"); !strings.Contains(out, "still owed") {
		t.Fatalf("a partial payment:\n%s", out)
	}
	if out := run(t, payEnv, "pay", id[1], "--amount", price[1]); !strings.Contains(out, "over the price") {
		t.Fatalf("paying the whole price after a part:\n%s", out)
	}
	if out := run(t, env, "info", id[1]); !strings.Contains(out, "stored") {
		t.Fatalf("info:\n%s", out)
	}
	if out := run(t, env, "ls"); !strings.Contains(out, id[1]) || !strings.Contains(out, "stored") {
		t.Fatalf("ls:\n%s", out)
	}
	outFile := filepath.Join(t.TempDir(), "out.bin")
	run(t, env, "get", id[1], "-o", outFile)
	if got, _ := os.ReadFile(outFile); !bytes.Equal(got, content) {
		t.Fatal("downloaded content differs")
	}
	if out := run(t, env, "extend", id[1], "--duration", "96h"); !strings.Contains(out, "extension quote") ||
		!strings.Contains(out, "pay with: dds pay "+id[1]+" --amount ") {
		t.Fatalf("extend:\n%s", out)
	}
	now := time.Now().UTC()
	out = run(t, []string{"DDS_NODE=" + url, "DDS_TOKEN=" + admin}, "statement", "--from", now.AddDate(0, 0, -1).Format("20060102"), "--to", now.AddDate(0, 0, 3).Format("20060102"))
	if !strings.Contains(out, "1 files, 300000 bytes") {
		t.Fatalf("statement:\n%s", out)
	}
	// Accounts and tokens on the running node, from anywhere, with the admin token.
	adminEnv := []string{"DDS_NODE=" + url, "DDS_TOKEN=" + admin}
	if out := run(t, adminEnv, "account", "create", "--role", "user", "--name", "bob"); !strings.Contains(out, "(bob, role user)") {
		t.Fatalf("account create:\n%s", out)
	}
	bobTok := lastLine(run(t, adminEnv, "token", "create", "--account", "bob", "--label", "cli test"))
	if out := run(t, []string{"DDS_NODE=" + url, "DDS_TOKEN=" + bobTok}, "account", "show"); !strings.Contains(out, "(bob, role user") {
		t.Fatalf("account show as bob:\n%s", out)
	}
	listed := run(t, adminEnv, "token", "list", "--account", "bob")
	tokID := regexp.MustCompile(`(?m)^([0-9a-f]{16})\s`).FindStringSubmatch(listed)
	if tokID == nil || !strings.Contains(listed, "cli test") || strings.Contains(listed, bobTok) {
		t.Fatalf("token list:\n%s", listed)
	}
	run(t, adminEnv, "token", "revoke", "--account", "bob", tokID[1])
	if out := run(t, adminEnv, "account", "list"); !strings.Contains(out, "bob") || !strings.Contains(out, "alice") {
		t.Fatalf("account list:\n%s", out)
	}

	// A profile: log in once, then no --node or --token.
	login := exec.Command(bin, "login", url, "--profile", "cli")
	login.Stdin = strings.NewReader(user + "\n")
	if out, err := login.CombinedOutput(); err != nil || !strings.Contains(string(out), "as alice") {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if st, err := os.Stat(os.Getenv("DDS_CONFIG")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("profiles file: %v %v", st, err)
	}
	if out := run(t, nil, "whoami"); !strings.Contains(out, "alice") || !strings.Contains(out, url) {
		t.Fatalf("whoami from the profile:\n%s", out)
	}
	bad := exec.Command(bin, "login", url, "--token", "dds_wrong")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "does not take this token") {
		t.Fatalf("login with a wrong token: %v\n%s", err, out)
	}

	// A client error is a clear message and a non-zero exit.
	cmd = exec.Command(bin, "info", "no-such-file")
	cmd.Env = append(os.Environ(), env...)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "404") {
		t.Fatalf("info of a missing file: %v %s", err, msg)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Every mistake exits non-zero: 2 for a usage mistake, 1 for a failure.
func TestMistakesExitNonZero(t *testing.T) {
	notANode := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{}, 2, "USAGE"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"completion"}, 2, "one shell"},
		{[]string{"completion", "tcsh"}, 2, "unknown shell"},
		{[]string{"token"}, 2, "needs a subcommand"},
		{[]string{"storlet", "frob"}, 2, "unknown command"},
		{[]string{"serve", "--bogus"}, 2, "not defined"},
		{[]string{"serve", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"serve", "--log-format", "xml"}, 2, "--log-format"},
		{[]string{"put"}, 2, "one FILE"},
		{[]string{"extend", "some-id"}, 2, "--duration"},
		{[]string{"token", "create", "--data", notANode}, 1, "not a node's data directory"},
		{[]string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--meta", "postgres://dds:secret@127.0.0.1:1/dds"}, 1,
			"start PostgreSQL, or fix the host and port in --meta"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), "DDS_NODE=http://127.0.0.1:1", "DDS_TOKEN=x")
		out, _ := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != c.code || !strings.Contains(string(out), c.says) {
			t.Errorf("dds %v: exit %d, want %d saying %q:\n%s", c.args, got, c.code, c.says, out)
		}
	}
	if entries, _ := os.ReadDir(notANode); len(entries) != 0 {
		t.Errorf("token create wrote into a directory that is not a node's: %v", entries)
	}
	if out := run(t, nil, "version"); !strings.HasPrefix(out, "dds ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %q", out)
	}
}

func TestCompletion(t *testing.T) {
	out := run(t, nil, "completion", "bash")
	for _, want := range []string{"complete -F _dds dds", `"token create"`, "--price-per-gib-month", "storlet"} {
		if !strings.Contains(out, want) {
			t.Errorf("bash completion lacks %q", want)
		}
	}
	if _, err := exec.LookPath("bash"); err == nil {
		script := filepath.Join(t.TempDir(), "c.bash")
		os.WriteFile(script, []byte(out+"\nCOMP_WORDS=(dds tok); COMP_CWORD=1; _dds; echo ${COMPREPLY[@]}\n"), 0o600)
		got, err := exec.Command("bash", script).CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != "token" {
			t.Errorf("bash completes 'dds tok' to %q (%v)", got, err)
		}
	}
	if out := run(t, nil, "completion", "fish"); !strings.Contains(out, "complete -c dds") {
		t.Errorf("fish completion:\n%s", out)
	}
}
