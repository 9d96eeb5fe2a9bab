package ocean_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/testnet"
)

const installChainTools = "npm ci --prefix internal/ocean/testdata/oceanjs"

// loudSkip skips t with a message that `go test` shows even without -v:
// it also goes to the go command's own stderr, which a passing package's
// output never reaches otherwise.
func loudSkip(t *testing.T, why string) {
	t.Helper()
	msg := fmt.Sprintf("SKIP %s: %s; to run it: %s", t.Name(), why, installChainTools)
	if f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", os.Getppid()), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		fmt.Fprintln(f, msg)
		f.Close()
	}
	t.Skip(msg)
}

// hardhat starts a Hardhat node (from testdata/oceanjs/node_modules) serving
// chainID on a free loopback port and returns its RPC URL and a function
// that stops it; it stops with the test.
func hardhat(t *testing.T, nodeBin, modules string, chainID int64) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, _ := filepath.Abs(filepath.Join("testdata", "oceanjs"))
	cmd := exec.Command(nodeBin, filepath.Join(modules, "hardhat", "internal", "cli", "bootstrap.js"),
		"node", "--hostname", "127.0.0.1", "--port", fmt.Sprint(port), "--config", filepath.Join(dir, "hardhat.config.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, fmt.Sprintf("CHAIN_ID=%d", chainID),
		"HARDHAT_DISABLE_TELEMETRY_PROMPT=true", "DO_NOT_TRACK=1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	t.Cleanup(stop)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hardhat node for chain %d did not answer at %s: %v\n%s", chainID, url, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOceanChain runs an Ocean user's whole flow against the provider on a
// real local chain, with the real @oceanprotocol/lib: Ocean's contracts
// deployed, a dataset and an algorithm published on chain (read back by
// the node from the chain), ordered, downloaded, computed on, an order
// reused; then every refusal of an order.
func TestOceanChain(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		loudSkip(t, "node (Node.js) is not installed")
	}
	modules, _ := filepath.Abs(filepath.Join("testdata", "oceanjs", "node_modules"))
	if m := os.Getenv("DDS_OCEANJS_MODULES"); m != "" {
		modules = m
	}
	for _, pkg := range []string{"hardhat", "@oceanprotocol/lib", "@oceanprotocol/contracts"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			loudSkip(t, pkg+" is not installed")
		}
	}
	rpc, stopMain := hardhat(t, nodeBin, modules, 8996)
	other, stopOther := hardhat(t, nodeBin, modules, 8997) // a second chain, for replays
	chains := func(_ int, c *testnet.Setup) {
		c.Ocean.Chains = []ocean.Chain{{ID: 8996, RPC: rpc}, {ID: 8997, RPC: other}}
		c.Ocean.Confirmations = 2
	}
	e := newEnv(t, allowLoopback, chains)
	// Blocks carry the real time; so must the node.
	e.net.Clock.Set(time.Now())
	ctx := t.Context()

	disc, err := e.c.OceanDiscovery(ctx)
	if err != nil || !slices.Equal(disc.ChainIDs, []int64{8996, 8997}) || len(disc.ProviderAddresses) != 2 ||
		disc.ProviderAddresses["8997"] != e.nd.Key.Address() {
		t.Fatalf("discovery: %+v, %v", disc, err)
	}

	line := oceanJS(t, "chain_compat.js", rpc, e.nd.URL(), e.files.URL)
	type asset struct{ DID, NFTAddress, DatatokenAddress string }
	var out struct {
		Consumer, Other                    string
		Dataset, ComputeDataset, Algorithm asset
		Order, Reuse                       string
		Download                           struct {
			Status, Length int
			SHA256         string
		}
		ReuseDownload                struct{ Status, Length int }
		ComputeOrder, AlgorithmOrder string
		ComputeStatus                int
		ComputeResult                struct {
			Status int
			Text   string
		}
		UnsignedFee, ShortFee, Failed, Late string
		FailedStatus                        int
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("no result from chain_compat.js (%v): %q", err, line)
	}
	sum := sha256.Sum256(e.content)
	if out.Download.Status != 200 || out.Download.Length != len(e.content) || out.Download.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("download with an order on chain: %+v", out.Download)
	}
	if out.ReuseDownload.Status != 200 || out.ReuseDownload.Length != len(e.content) {
		t.Errorf("download with a reused order: %+v", out.ReuseDownload)
	}
	if want := fmt.Sprintf("%s/0 5\ntotal 5\n", out.ComputeDataset.DID); out.ComputeStatus != 70 || out.ComputeResult.Status != 200 || out.ComputeResult.Text != want {
		t.Errorf("compute on chain orders: status %d, result %+v, want %q", out.ComputeStatus, out.ComputeResult, want)
	}

	// The DDO the node read from the chain.
	raw, err := e.c.DDO(ctx, out.Dataset.DID)
	if err != nil || !strings.Contains(string(raw), out.Dataset.DatatokenAddress) {
		t.Fatalf("DDO published on chain: %s, %v", raw, err)
	}
	// A revoked asset (metadata state 3) is gone.
	_, err = e.c.DDO(ctx, out.ComputeDataset.DID)
	wantErr(t, "a revoked DDO", err, 404, "Cannot resolve DID")
	// initialize recognises an order that can be reused.
	access := api.OceanAccess{DocumentID: out.Dataset.DID, ServiceID: "access-1", ConsumerAddress: out.Consumer}
	for _, tx := range []string{out.Order, out.Reuse} {
		access.TransferTxID = tx
		valid, fresh, err := e.c.OceanInitializeReuse(ctx, access)
		if err != nil || !strings.EqualFold(valid, out.Order) {
			t.Errorf("initialize with order %s: validOrder %q (quote %+v), %v; want %s", tx, valid, fresh, err, out.Order)
		}
	}

	service := "access-1"
	download := func(what string, signer *identity.Key, did, tx string, status int, contains string) {
		t.Helper()
		resp, err := e.c.OceanDownload(ctx, signer, api.OceanAccess{DocumentID: did, ServiceID: service, TransferTxID: tx})
		if status == http.StatusOK {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			resp.Body.Close()
			return
		}
		wantErr(t, what, err, status, contains)
	}
	did := out.Dataset.DID
	download("an order of another datatoken", e.consumer, did, out.AlgorithmOrder, 400, "is not an order of datatoken "+out.Dataset.DatatokenAddress)
	download("another consumer's order", e.other, did, out.Order, 400, "was made for consumer")
	service = "access-2"
	download("an order of another service of the datatoken", e.consumer, did, out.Order, 400, "is for service index 0 of datatoken "+out.Dataset.DatatokenAddress+", not index 1")
	service = "access-1"
	download("an order whose provider fee this node did not sign", e.consumer, did, out.UnsignedFee, 400, "not this provider")
	if out.FailedStatus != 0 {
		t.Errorf("the failing order was mined with status %d", out.FailedStatus)
	}
	download("a failed transaction", e.other, did, out.Failed, 400, "failed (reverted)")
	download("an unknown transaction", e.consumer, did, "0x"+strings.Repeat("ab", 32), 400, "no such transaction on chain 8996")

	// An order one block deep, then two.
	download("an order with too few confirmations", e.consumer, did, out.Late, 400, "has 1 confirmations of the 2")
	resp, err := http.Post(rpc, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"hardhat_mine","params":["0x1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	download("an order with enough confirmations", e.consumer, did, out.Late, 200, "")

	// The registry does not take an asset its chain publishes.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.nd.User().PublishDDO(ctx, doc)
	wantErr(t, "registering an asset published on chain", err, 409, "is published on chain 8996")
	// An asset whose data NFT did not deploy the datatoken it names.
	files, _ := json.Marshal(api.FileList{Files: []api.FileObject{{Type: "url", URL: e.files.URL + "/open.csv"}}})
	foreign, _, err := e.nd.User().PublishDDO(ctx, api.DDO{Version: "4.1.0", ChainID: 8996, NFTAddress: "0x00000000000000000000000000000000000000f1",
		Metadata: map[string]any{"name": "not its datatoken"}, Services: []api.DDOService{{ID: "access-1", Type: "access", Timeout: 86400,
			Files: e.encrypt(files), DatatokenAddress: out.Dataset.DatatokenAddress}}})
	if err != nil {
		t.Fatal(err)
	}
	download("an asset naming another NFT's datatoken", e.consumer, foreign.ID, out.Order, 400, "is not a datatoken of the asset's data NFT")

	// The same asset registered on another chain: an order of chain 8996
	// is no order there; and when that chain cannot be reached, a 503.
	doc["chainId"], doc["id"] = 8997, ocean.MakeDID(out.Dataset.NFTAddress, 8997)
	replay, _, err := e.nd.User().PublishDDO(ctx, doc)
	if err != nil {
		t.Fatalf("registering the asset on chain 8997: %v", err)
	}
	download("an order replayed on chain 8997", e.consumer, replay.ID, out.Order, 400, "no such transaction on chain 8997")
	stopOther()
	download("an order on a chain that cannot be reached", e.consumer, replay.ID, out.Order, 503, "chain 8997 cannot be reached")

	// Past the short provider fee, within the order's timeout. The fee's
	// 30 seconds started when ocean.js asked for it, in real time: a slow
	// run can be further from the clock's setting than that.
	e.net.Clock.Set(time.Now())
	e.net.Clock.Advance(time.Minute)
	download("an expired provider fee", e.consumer, did, out.ShortFee, 400, "provider fee expired")
	download("the order, still valid", e.consumer, did, out.Order, 200, "")
	// Past the service's timeout (a day).
	e.net.Clock.Advance(25 * time.Hour)
	download("an expired order", e.consumer, did, out.Order, 400, "expired at")

	// What the node read from the chain survives a restart, and answers
	// while the chain is down.
	e.nd.Restart(t)
	stopMain()
	if raw2, err := e.c.DDO(ctx, out.Dataset.DID); err != nil || !bytes.Equal(raw2, raw) {
		t.Fatalf("DDO read from the chain, after a restart, with the chain down: %s, %v", raw2, err)
	}
	download("an order while its chain is down", e.consumer, did, out.Order, 503, "chain 8996 cannot be reached")
}
