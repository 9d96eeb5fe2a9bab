package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/testtool"
)

// The README's walkthroughs run as written, on a devnet of this build: every
// sh block of the "Walkthroughs" section, in order, in one bash.
func TestREADMEWalkthroughs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet and a compute job (about 30 s)")
	}
	for _, tool := range []string{"bash", "curl", "jq", "openssl", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			testtool.Missing(t, tool, "apt-get install bash curl jq openssl coreutils")
		}
	}
	if exec.Command("openssl", "dgst", "-sha3-256", "/dev/null").Run() != nil {
		testtool.Missing(t, "OpenSSL 3 (SHA3)", "apt-get install openssl")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Walkthroughs\n")
	if start < 0 {
		t.Fatal("README has no Walkthroughs section")
	}
	section = section[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		script.WriteString(m[1])
	}
	repo, _ := filepath.Abs("../..")
	// This build instead of an installed one; the algorithm built from the
	// clone while the script works in a scratch directory.
	body := strings.Replace(script.String(), "go install ./cmd/dds", "true", 1)
	body = strings.Replace(body, "go build -o linecount.wasm", "go build -C "+repo+" -o $PWD/linecount.wasm", 1)
	if body == script.String() || !strings.Contains(body, "-C "+repo) {
		t.Fatal("the walkthrough no longer installs dds or builds linecount.wasm as this test expects")
	}

	tmp := t.TempDir()
	port := freePorts(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	devnet := exec.CommandContext(ctx, bin, "devnet", "--nodes", "3", "--base-port", strconv.Itoa(port), "--log-level", "warn")
	devnet.Env = append(os.Environ(), "TMPDIR="+tmp) // where the README reads devnet.json
	var logs bytes.Buffer
	devnet.Stdout, devnet.Stderr = &logs, &logs
	if err := devnet.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		devnet.Process.Signal(os.Interrupt)
		devnet.Wait()
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(tmp, "dds-devnet", "devnet.json")); err == nil {
			if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); err == nil {
				resp.Body.Close()
				break
			}
		}
		if i > 300 {
			t.Fatalf("devnet did not come up:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	work := filepath.Join(tmp, "work")
	os.Mkdir(work, 0o700)
	sh := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", body)
	sh.Dir = work
	sh.Env = append(os.Environ(), "TMPDIR="+tmp, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "DDS_CONFIG="+filepath.Join(tmp, "profiles.json"))
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s\ndevnet:\n%s", err, out, logs.String())
	}
	text := string(out)
	data, _ := os.ReadFile(filepath.Join(work, "data.txt"))
	sum := sha256.Sum256(data)
	for _, want := range []string{
		"same\n", // DEP-7 download
		"sha256    " + hex.EncodeToString(sum[:]),   // dds info's SHA-256 ...
		hex.EncodeToString(sum[:]) + "  data.txt\n", // ... is sha256sum's
		"hello, DEP-7",                            // the signed Ocean download
		`"statusText":"Job completed"`, "total 1", // the compute job and its output
		"confirmed\"}}", // the deal, paid
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the walkthrough's output lacks %q:\n%s", want, text)
		}
	}
	// The asset id printed is the SHA3-256 of the metadata, as openssl says.
	if ids := regexp.MustCompile(`(?m)^([0-9a-f]{64})\n([0-9a-f]{64}) \*meta\.json$`).FindStringSubmatch(text); ids == nil || ids[1] != ids[2] {
		t.Errorf("asset id and the metadata's SHA3-256: %v\n%s", ids, text)
	}
}

// freePorts finds n consecutive free loopback ports and returns the first.
func freePorts(t *testing.T, n int) int {
	for range 50 {
		base := 20000 + rand.IntN(30000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}
