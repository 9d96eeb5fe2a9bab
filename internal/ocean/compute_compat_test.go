package ocean_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOceanJSCompat runs the real @oceanprotocol/lib client against the
// compute endpoints: environments, computeStartV1, computeStatus,
// getComputeResultUrl and computeStop. It uses the pinned copy of
// TestOceanJSCompat (npm ci --prefix internal/ocean/testdata/oceanjs), or the
// node_modules directory DDS_OCEANJS_MODULES names, and skips without one.
func TestOceanJSComputeCompat(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the @oceanprotocol/lib compatibility test")
	}
	modules := os.Getenv("DDS_OCEANJS_MODULES")
	if modules == "" {
		modules, _ = filepath.Abs(filepath.Join("testdata", "oceanjs", "node_modules"))
	}
	if _, err := os.Stat(filepath.Join(modules, "@oceanprotocol", "lib", "package.json")); err != nil {
		t.Skip("no @oceanprotocol/lib: run `npm ci --prefix internal/ocean/testdata/oceanjs` to enable the compatibility test")
	}
	e := newEnv(t, allowLoopback)
	did := e.publishDataset(nil)
	algo := e.publishAlgorithm("linecount")
	tx := e.pay(did, "compute-1", e.consumer, "2")

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir, _ := filepath.Abs(filepath.Join("testdata", "oceanjs"))
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(dir, "compute_compat.js"), e.nd.URL(), did, algo, tx, "0x"+consumerHex)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
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
		t.Fatalf("compat output %q: %v\n%s", line, err, outb)
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
