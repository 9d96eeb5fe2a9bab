package ocean_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOceanJSCompat runs the real @oceanprotocol/lib client (pinned in
// testdata/oceanjs/package.json) against a node: discovery, nonce, encrypt, fileinfo,
// initialize, download, auth tokens. It needs node and the installed
// modules (npm ci --prefix internal/ocean/testdata/oceanjs) and skips without them.
func TestOceanJSCompat(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the @oceanprotocol/lib compatibility test")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "oceanjs"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@oceanprotocol", "lib", "package.json")); err != nil {
		t.Skip("testdata/oceanjs/node_modules is absent: run `npm ci --prefix internal/ocean/testdata/oceanjs` to enable the @oceanprotocol/lib compatibility test")
	}
	e := newEnv(t, allowLoopback)
	fileURL := e.files.URL + "/open.csv"

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(dir, "compat.js"), e.nd.URL(), e.nd.UserToken, e.nd.PaymentToken, fileURL, "0x"+consumerHex)
	cmd.Dir = dir
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("compat.js failed: %v\nstdout:\n%s\nstderr:\n%s", err, outb, stderr)
	}
	var line string
	for _, l := range strings.Split(string(outb), "\n") {
		if strings.HasPrefix(l, "COMPAT-RESULT ") {
			line = strings.TrimPrefix(l, "COMPAT-RESULT ")
		}
	}
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
		t.Fatalf("no result from compat.js (%v):\n%s", err, outb)
	}
	t.Logf("ocean.js observed: %s", line)
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
