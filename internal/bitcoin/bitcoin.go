// Package bitcoin is the deal module's Bitcoin node: a JSON-RPC client of
// btcd (or any node with btcd's searchrawtransactions, that is btcd with
// --addrindex) that lists an address's payments with their confirmations,
// broadcasts transactions and reads the tip height.
package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/prometheus-dds/dds/internal/btc"
)

// Config is how the node is reached.
type Config struct {
	RPC    string // http://host:port of the node's JSON-RPC; "": no node
	User   string
	Pass   string
	Cookie string // a file holding "user:pass" (Bitcoin Core's .cookie), instead of User and Pass
}

// DefaultConfig is no node: deals are confirmed by an admin.
func DefaultConfig() Config { return Config{} }

// RegisterFlags registers the node's flags, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RPC, "bitcoin-rpc", c.RPC, "JSON-RPC URL of the Bitcoin node (btcd with --addrindex) that watches deal escrows; empty: an admin confirms payments")
	fs.StringVar(&c.User, "bitcoin-rpc-user", c.User, "user name of the Bitcoin node's JSON-RPC")
	fs.StringVar(&c.Pass, "bitcoin-rpc-pass", c.Pass, "password of the Bitcoin node's JSON-RPC")
	fs.StringVar(&c.Cookie, "bitcoin-rpc-cookie", c.Cookie, "file with the Bitcoin node's JSON-RPC credentials as user:pass (instead of --bitcoin-rpc-user and --bitcoin-rpc-pass)")
}

// Client is a connection to the node.
type Client struct {
	rpc    *rpcclient.Client
	params *chaincfg.Params
}

// New connects to the node of cfg on network (see btc.ParseNetwork), or
// returns nil (no node) when cfg names none.
func New(cfg Config, network string) (*Client, error) {
	if cfg.RPC == "" {
		return nil, nil
	}
	net, err := btc.ParseNetwork(network)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.RPC)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--bitcoin-rpc %q: want http(s)://host:port", cfg.RPC)
	}
	if cfg.Cookie == "" && cfg.User == "" {
		return nil, errors.New("--bitcoin-rpc needs credentials: --bitcoin-rpc-cookie or --bitcoin-rpc-user and --bitcoin-rpc-pass")
	}
	// HTTP POST mode: one request per call, no websocket to keep alive;
	// the deal module polls.
	rpc, err := rpcclient.New(&rpcclient.ConnConfig{Host: u.Host + strings.TrimSuffix(u.Path, "/"), User: cfg.User, Pass: cfg.Pass,
		CookiePath: cfg.Cookie, HTTPPostMode: true, DisableTLS: u.Scheme == "http"}, nil)
	if err != nil {
		return nil, fmt.Errorf("bitcoin node %s: %w", u.Host, err)
	}
	return &Client{rpc: rpc, params: net.Params}, nil
}

// Payments lists the outputs paying address, in the chain and in the
// mempool (confirmations 0). An output whose block left the chain is listed
// again with 0 confirmations if its transaction went back to the mempool,
// and not at all if it did not.
func (c *Client) Payments(ctx context.Context, address string) ([]btc.Output, error) {
	addr, err := btcutil.DecodeAddress(address, c.params)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	var outs []btc.Output
	const page = 100
	for skip := 0; ; skip += page {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		txs, err := c.rpc.SearchRawTransactionsVerbose(addr, skip, page, false, false, nil)
		var rpcErr *btcjson.RPCError
		if errors.As(err, &rpcErr) && rpcErr.Code == btcjson.ErrRPCNoTxInfo {
			break // no transaction touches the address (any more)
		} else if err != nil {
			return nil, fmt.Errorf("bitcoin node: searchrawtransactions %s: %w", address, err)
		}
		for _, r := range txs {
			tx, err := decodeTx(r.Hex)
			if err != nil {
				return nil, fmt.Errorf("bitcoin node: transaction %s: %w", r.Txid, err)
			}
			for i, o := range tx.TxOut {
				if string(o.PkScript) == string(script) {
					outs = append(outs, btc.Output{TxID: r.Txid, Vout: uint32(i), Amount: o.Value, PkScript: o.PkScript,
						Confirmations: int64(r.Confirmations)})
				}
			}
		}
		if len(txs) < page {
			break
		}
	}
	return outs, nil
}

// Broadcast sends a signed transaction and returns its id.
func (c *Client) Broadcast(ctx context.Context, tx *wire.MsgTx) (string, error) {
	h, err := c.rpc.SendRawTransaction(tx, false)
	if err != nil {
		return "", fmt.Errorf("bitcoin node: sendrawtransaction: %w", err)
	}
	return h.String(), nil
}

// Height is the tip's height.
func (c *Client) Height(ctx context.Context) (int64, error) {
	return c.rpc.GetBlockCount()
}

// Close ends the connection.
func (c *Client) Close() error {
	c.rpc.Shutdown()
	return nil
}

func decodeTx(hexTx string) (*wire.MsgTx, error) {
	raw, err := hex.DecodeString(hexTx)
	if err != nil {
		return nil, err
	}
	var tx wire.MsgTx
	return &tx, tx.Deserialize(bytes.NewReader(raw))
}
