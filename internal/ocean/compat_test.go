package ocean_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/prometheus-dds/dds/internal/testtool"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oceanJS runs script (in testdata/oceanjs) with the real @oceanprotocol/lib
// client, pinned in testdata/oceanjs/package.json, and returns the JSON it
// prints after COMPAT-RESULT. The modules come from `npm ci --prefix
// internal/ocean/testdata/oceanjs`, or the node_modules directory
// DDS_OCEANJS_MODULES names; without node or the modules the test skips.
func oceanJS(t *testing.T, script string, args ...string) string {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		testtool.Missing(t, "Node.js", "apt-get install nodejs npm && npm ci --prefix internal/ocean/testdata/oceanjs")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "oceanjs"))
	modules := os.Getenv("DDS_OCEANJS_MODULES")
	if modules == "" {
		modules = filepath.Join(dir, "node_modules")
	}
	if _, err := os.Stat(filepath.Join(modules, "@oceanprotocol", "lib", "package.json")); err != nil {
		testtool.Missing(t, "@oceanprotocol/lib", "npm ci --prefix internal/ocean/testdata/oceanjs")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s failed: %v\nstdout:\n%s\nstderr:\n%s", script, err, outb, stderr)
	}
	var line string
	for _, l := range strings.Split(string(outb), "\n") {
		if strings.HasPrefix(l, "COMPAT-RESULT ") {
			line = strings.TrimPrefix(l, "COMPAT-RESULT ")
		}
	}
	t.Logf("ocean.js observed: %s", line)
	return line
}

// TestOceanJSCompat runs ocean.js against the provider: discovery, nonce,
// encrypt, fileinfo, initialize, download, auth tokens.
func TestOceanJSCompat(t *testing.T) {
	e := newEnv(t, allowLoopback)
	line := oceanJS(t, "compat.js", e.nd.URL(), e.nd.UserToken, e.nd.PaymentToken, e.files.URL+"/open.csv", "0x"+consumerHex)
	var out struct {
		Consumer        string
		ProviderAddress string
		IsValidProvider bool
		Nonce0          float64
		Fileinfo        []struct {
			Valid         bool
			ContentLength string
			Checksum      string
		}
		EncryptedPrefix string
		DID             string
		PublishStatus   int
		DidFiles        []struct{ Valid bool }
		Initialize      struct {
			Datatoken string
			Nonce     string
		}
		FeeSigner string
		PayStatus int
		Download  struct {
			Status      int
			Length      int
			SHA256      string
			Disposition string
		}
		Replay          struct{ Status int }
		TokenDownload   struct{ Status, Length int }
		Invalidate      struct{ Success string }
		RevokedDownload struct{ Status int }
		NonceEnd        float64
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("no result from compat.js (%v): %q", err, line)
	}
	sum := sha256.Sum256(e.content)
	want := hex.EncodeToString(sum[:])
	addr := e.nd.Key.Address()
	checks := []struct {
		ok   bool
		what string
	}{
		{out.ProviderAddress == addr && out.IsValidProvider, "discovery"},
		{out.Nonce0 == 0, "first nonce"},
		{len(out.Fileinfo) == 1 && out.Fileinfo[0].Valid && out.Fileinfo[0].ContentLength == "65536" && out.Fileinfo[0].Checksum == want, "fileinfo"},
		{out.EncryptedPrefix == "0x04", "encrypt"},
		{out.PublishStatus == 201, "publish"},
		{len(out.DidFiles) == 1 && out.DidFiles[0].Valid, "checkDidFiles"},
		{strings.EqualFold(out.Initialize.Datatoken, "0x00000000000000000000000000000000000000Dd"), "initialize datatoken"},
		{out.FeeSigner == addr, "fee signature recovers to the provider address"},
		{out.PayStatus == 201, "order payment"},
		{out.Download.Status == 200 && out.Download.Length == len(e.content) && out.Download.SHA256 == want, "signed download"},
		{strings.HasPrefix(out.Download.Disposition, "attachment;filename=open.csv"), "content disposition"},
		{out.Replay.Status == 400, "replayed download refused"},
		{out.TokenDownload.Status == 200 && out.TokenDownload.Length == len(e.content), "download with an auth token"},
		{out.Invalidate.Success != "", "invalidateAuthToken"},
		{out.RevokedDownload.Status == 401, "revoked token refused"},
		{out.NonceEnd >= 3, "nonce advanced"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("ocean.js: %s failed; observed %s", c.what, line)
		}
	}
}

// TestOceanJSComputeCompat runs ocean.js against the compute endpoints:
// environments, computeStartV1, computeStatus, getComputeResultUrl and
// computeStop.
func TestOceanJSComputeCompat(t *testing.T) {
	e := newEnv(t, allowLoopback)
	did := e.publishDataset(nil)
	algo := e.publishAlgorithm("linecount")
	tx := e.pay(did, "compute-1", e.consumer, "2")
	line := oceanJS(t, "compute_compat.js", e.nd.URL(), did, algo, tx, "0x"+consumerHex)
	var out struct {
		Consumer string
		Envs     []struct{ ID string }
		Start    []struct{ JobID string }
		Status   struct {
			Status  int
			Results []struct{ Filename string }
		}
		ResultStatus int
		Result       string
		Stop         []struct{ Status int }
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("compat output %q: %v", line, err)
	}
	if out.Consumer != e.consumer.Address() || len(out.Envs) != len(testEnvironments) || len(out.Start) != 1 {
		t.Fatalf("compat: %+v", out)
	}
	if out.Status.Status != 70 || len(out.Status.Results) != 2 {
		t.Fatalf("status through ocean.js: %+v", out.Status)
	}
	if want := fmt.Sprintf("%s/0 5\ntotal 5\n", did); out.ResultStatus != 200 || out.Result != want {
		t.Fatalf("result through ocean.js: %d %q, want %q", out.ResultStatus, out.Result, want)
	}
	if len(out.Stop) != 1 || out.Stop[0].Status != 70 {
		t.Fatalf("stop of a finished job through ocean.js: %+v", out.Stop)
	}
}
