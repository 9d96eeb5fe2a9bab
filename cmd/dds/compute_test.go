package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/testtool"
)

// Compute environments come from --compute-env or its environment twin,
// several separated by ";".
func TestComputeEnvironmentsFromEnv(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--log-level", "warn")
	srv.Env = append(testtool.ServeEnv(t), "DDS_DATA="+t.TempDir(), "DDS_LISTEN="+addr,
		"DDS_COMPUTE_ENV=id=small,max-jobs=1,max-duration=30s;id=big,memory=1024,price-min=0.5,desc=Big, slow jobs")
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	var envs []struct {
		ID             string
		Desc           string
		MaxJobs        int
		MaxJobDuration int64
		RAMGB          float64 `json:"ramGB"`
		PriceMin       float64
	}
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/api/services/computeEnvironments")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&envs)
			resp.Body.Close()
			if err == nil {
				break
			}
		}
		if i > 100 {
			t.Fatalf("node did not come up: %v %s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(envs) != 2 || envs[0].ID != "small" || envs[0].MaxJobs != 1 || envs[0].MaxJobDuration != 30 ||
		envs[1].ID != "big" || envs[1].RAMGB != 1 || envs[1].PriceMin != 0.5 || envs[1].Desc != "Big, slow jobs" {
		t.Fatalf("environments: %+v", envs)
	}
	// A bad environment stops the node from starting, with a clear message.
	bad, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	out, err := exec.CommandContext(bad, bin, "serve", "--data", t.TempDir(), "--listen", freePort(t), "--compute-env", "id=x,max-jobs=-1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "max jobs") {
		t.Fatalf("bad environment: %v %s", err, out)
	}
}
