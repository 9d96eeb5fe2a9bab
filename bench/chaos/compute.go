package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/identity"
)

// A Hardhat development key: well known, never funded anywhere real.
const consumerHex = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

// computeDataset is what the compute jobs count the lines of.
var computeDataset = strings.Repeat("a,b,c\n", 1000)

// buildAlgorithm builds the linecount algorithm of the Ocean tests.
func (c *campaign) buildAlgorithm() error {
	c.algo = filepath.Join(c.work, "linecount.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", c.algo, "./internal/ocean/testdata/linecount")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the linecount algorithm: %v\n%s", err, out)
	}
	return nil
}

// computer starts compute jobs on one node's dataset and keeps the ids of
// the jobs the node acknowledged.
type computer struct {
	n        *node
	did      string
	key      *identity.Key
	algoURL  string
	module   []byte
	files    *httptest.Server
	mu       sync.Mutex
	jobs     map[string]bool
	attempts int
}

// newComputer publishes a dataset served from loopback (the node runs with
// --provider-allow-private-urls) with a compute service that allows raw
// algorithms (by URL, from the same server).
func (c *campaign) newComputer(n *node) (*computer, error) {
	ctx := context.Background()
	key, err := identity.FromHex(consumerHex)
	if err != nil {
		return nil, err
	}
	module, err := os.ReadFile(c.algo)
	if err != nil {
		return nil, err
	}
	// A Go-built module is too large for a start's body (raw code): the
	// algorithm is fetched from the same server.
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/linecount.wasm" {
			w.Write(module)
			return
		}
		w.Write([]byte(computeDataset))
	}))
	fl, _ := json.Marshal(api.FileList{Files: []api.FileObject{{Type: "url", URL: files.URL + "/dataset.csv", Method: "GET"}}})
	enc, err := n.user.OceanEncrypt(ctx, 8996, fl)
	if err != nil {
		files.Close()
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	opts, _ := json.Marshal(api.ComputeOptions{AllowRawAlgorithm: true})
	svc := api.DDOService{ID: "compute-1", Type: "compute", Timeout: 3600, Price: "1", Files: enc,
		DatatokenAddress: "0x00000000000000000000000000000000000000d7", ServiceEndpoint: n.url, Compute: opts}
	d, _, err := n.user.PublishDDO(ctx, api.DDO{Version: "4.1.0", ChainID: 8996, NFTAddress: "0x000000000000000000000000000000000000c4a0",
		Metadata: map[string]any{"name": "chaos dataset", "type": "dataset", "author": "chaos", "license": "MIT"},
		Services: []api.DDOService{svc}})
	if err != nil {
		files.Close()
		return nil, fmt.Errorf("publish: %w", err)
	}
	return &computer{n: n, did: d.ID, key: key, algoURL: files.URL + "/linecount.wasm", module: module, files: files, jobs: map[string]bool{}}, nil
}

// run pays for and starts jobs, one at a time, waiting for each to end,
// until ctx ends.
func (cp *computer) run(ctx context.Context) {
	for ctx.Err() == nil {
		cp.one(ctx)
	}
}

// one pays for and starts one job and waits for its end (or ctx's).
func (cp *computer) one(ctx context.Context) {
	oc := client.New(cp.n.url, "")
	{
		cp.mu.Lock()
		cp.attempts++
		cp.mu.Unlock()
		p, err := cp.n.payer.Pay(ctx, api.PaymentRequest{Status: "success", Amount: "1",
			Extra: map[string]any{"document_id": cp.did, "service_id": "compute-1", "consumer_address": cp.key.Address()}})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return
		}
		jobs, err := oc.ComputeStart(ctx, cp.key, api.ComputeStart{Environment: "wasm",
			Dataset:   api.ComputeDataset{DocumentID: cp.did, ServiceID: "compute-1", TransferTxID: p.ID},
			Algorithm: api.ComputeAlgorithm{Meta: &api.ComputeAlgorithmMeta{URL: cp.algoURL}}})
		if err != nil || len(jobs) != 1 {
			if ctx.Err() == nil && cp.n.alive() {
				fmt.Fprintf(os.Stderr, "compute start: %v\n", err)
			}
			return
		}
		cp.mu.Lock()
		cp.jobs[jobs[0].JobID] = true
		cp.mu.Unlock()
		for ctx.Err() == nil {
			if js, err := oc.ComputeStatus(ctx, cp.key.Address(), jobs[0].JobID, ""); err == nil && len(js) == 1 && jobFinal(js[0].Status) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// jobFinal tells whether a job status is an end: finished (70), a failure
// (31, 32, 41-44, 61), stopped (7) or deleted (8).
func jobFinal(s int) bool {
	switch s {
	case 7, 8, 31, 32, 41, 42, 43, 44, 61, 70:
		return true
	}
	return false
}

// settle waits up to d for every acknowledged job to end, and counts them
// by outcome.
func (cp *computer) settle(d time.Duration) (finished, interrupted, otherFail, stuck, missing int) {
	oc := client.New(cp.n.url, "")
	ctx := context.Background()
	deadline := time.Now().Add(d)
	for id := range cp.jobs {
		for {
			js, err := oc.ComputeStatus(ctx, cp.key.Address(), id, "")
			switch {
			case err == nil && len(js) == 0:
				missing++
				fmt.Fprintf(os.Stderr, "compute job %s is gone\n", id)
			case err == nil && len(js) == 1 && jobFinal(js[0].Status):
				switch js[0].Status {
				case 70:
					finished++
				case 44:
					interrupted++
				default:
					otherFail++
					fmt.Fprintf(os.Stderr, "compute job %s: %d %s %s\n", id, js[0].Status, js[0].StatusText, js[0].Error)
				}
			case time.Now().After(deadline):
				stuck++
				fmt.Fprintf(os.Stderr, "compute job %s stuck: %+v %v\n", id, js, err)
			default:
				time.Sleep(200 * time.Millisecond)
				continue
			}
			break
		}
	}
	return
}

// stored is the sha256 of what a job may store: the dataset, the algorithm
// and the results of a finished job (its output and its log, the same for
// every job).
func (cp *computer) stored() [][32]byte {
	return [][32]byte{sha256.Sum256([]byte(computeDataset)), sha256.Sum256(cp.module),
		sha256.Sum256([]byte(cp.did + "/0 1000\ntotal 1000\n")), sha256.Sum256([]byte("counted 1000 lines in 1 datasets\n"))}
}
