package deals_test

import (
	"fmt"
	"github.com/prometheus-dds/dds/internal/testtool"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/prometheus-dds/dds/internal/bitcoin"
)

// btcdInstall is how to get the btcd the chain tests run: the version of
// go.mod's btcd module.
const btcdInstall = "go install github.com/btcsuite/btcd@v0.24.2 (then put it on PATH or set DDS_BTCD=/path/to/btcd)"

// btcdPath finds btcd: $DDS_BTCD, else PATH.
func btcdPath() string {
	if p := os.Getenv("DDS_BTCD"); p != "" {
		return p
	}
	p, _ := exec.LookPath("btcd")
	return p
}

// btcd is a regtest btcd on loopback with a miner key the test holds.
type btcd struct {
	rpc    *rpcclient.Client
	cfg    bitcoin.Config
	miner  *btcec.PrivateKey
	script []byte   // the miner's P2PKH script
	coins  []outRef // mature coinbase outputs not spent yet
	params *chaincfg.Params
}

type outRef struct {
	op    wire.OutPoint
	value int64
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBTCD starts btcd in regtest with an address index, mines past
// segwit's activation (432) and keeps the coinbases that matured.
func startBTCD(t *testing.T) *btcd {
	bin := btcdPath()
	if bin == "" {
		testtool.Missing(t, "btcd (a Bitcoin node)", btcdInstall)
	}
	dir := t.TempDir()
	miner, _ := btcec.NewPrivateKey()
	params := &chaincfg.RegressionNetParams
	addr, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(miner.PubKey().SerializeCompressed()), params)
	port := freePort(t)
	cmd := exec.Command(bin, "--regtest", "--datadir="+filepath.Join(dir, "data"), "--logdir="+filepath.Join(dir, "log"),
		"--rpcuser=dds", "--rpcpass=dds", fmt.Sprintf("--rpclisten=127.0.0.1:%d", port), "--notls", "--nolisten",
		"--addrindex", "--txindex", "--miningaddr="+addr.EncodeAddress(), "--debuglevel=warn")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	cfg := bitcoin.Config{RPC: fmt.Sprintf("http://127.0.0.1:%d", port), User: "dds", Pass: "dds"}
	rpc, err := rpcclient.New(&rpcclient.ConnConfig{Host: fmt.Sprintf("127.0.0.1:%d", port), User: "dds", Pass: "dds",
		HTTPPostMode: true, DisableTLS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rpc.Shutdown)
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if _, err := rpc.GetBlockCount(); err == nil {
			break
		} else if time.Since(start) > 20*time.Second {
			t.Fatalf("btcd did not answer: %v", err)
		}
	}
	script, _ := txscript.PayToAddrScript(addr)
	b := &btcd{rpc: rpc, cfg: cfg, miner: miner, script: script, params: params}
	hashes := b.mine(t, 440)
	for _, h := range hashes[:20] { // mature: more than 100 deep
		blk, err := rpc.GetBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		cb := blk.Transactions[0]
		b.coins = append(b.coins, outRef{wire.OutPoint{Hash: cb.TxHash(), Index: 0}, cb.TxOut[0].Value})
	}
	return b
}

func (b *btcd) mine(t testing.TB, n uint32) []*chainhash.Hash {
	t.Helper()
	h, err := b.rpc.Generate(n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// pay sends sat to address from a coinbase of the miner, signed here, and
// returns the transaction id.
func (b *btcd) pay(t testing.TB, address string, sat int64) string {
	t.Helper()
	a, err := btcutil.DecodeAddress(address, b.params)
	if err != nil {
		t.Fatal(err)
	}
	to, _ := txscript.PayToAddrScript(a)
	coin := b.coins[0]
	b.coins = b.coins[1:]
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&coin.op, nil, nil))
	tx.AddTxOut(wire.NewTxOut(sat, to))
	tx.AddTxOut(wire.NewTxOut(coin.value-sat-10_000, b.script))
	sig, err := txscript.SignatureScript(tx, 0, b.script, txscript.SigHashAll, b.miner, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].SignatureScript = sig
	h, err := b.rpc.SendRawTransaction(tx, false)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}
