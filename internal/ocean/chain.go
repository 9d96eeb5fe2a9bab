package ocean

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// Chain is an EVM chain the provider verifies orders on and reads published
// DDOs from: its chain id and JSON-RPC endpoint.
type Chain struct {
	ID  int64
	RPC string
}

func (c Chain) String() string { return strconv.FormatInt(c.ID, 10) + "=" + c.RPC }

// ParseChain reads "ID=RPC_URL".
func ParseChain(s string) (Chain, error) {
	id, rpc, ok := strings.Cut(strings.TrimSpace(s), "=")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 {
		return Chain{}, fmt.Errorf("chain %q: want ID=RPC_URL with a positive decimal chain id", s)
	}
	u, err := url.Parse(rpc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return Chain{}, fmt.Errorf("chain %q: the RPC URL must be http(s):// or ws(s)://", s)
	}
	return Chain{ID: n, RPC: rpc}, nil
}

// registerChainFlags registers the flags of the chains (called by
// RegisterFlags).
func (c *Config) registerChainFlags(fs *flag.FlagSet) {
	fs.Func("chain", "an EVM chain whose Ocean orders and published DDOs the provider reads, as ID=RPC_URL "+
		"(e.g. 8996=http://127.0.0.1:8545); repeatable, or several separated by commas. "+
		"Without one, orders are payments recorded through the Billing face", func(s string) error {
		for _, one := range strings.Split(s, ",") {
			if strings.TrimSpace(one) == "" {
				continue
			}
			ch, err := ParseChain(one)
			if err != nil {
				return err
			}
			c.Chains = append(c.Chains, ch)
		}
		return nil
	})
	fs.Uint64Var(&c.Confirmations, "chain-confirmations", c.Confirmations, "blocks an order transaction needs (its own included) before it counts")
}

// chainClient is what the provider asks of a chain's node; *ethclient.Client
// has it.
type chainClient interface {
	ChainID(ctx context.Context) (*big.Int, error)
	BlockNumber(ctx context.Context) (uint64, error)
	TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
	CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error)
	Close()
}

// chain is a connected chain.
type chain struct {
	Chain
	client chainClient

	mu       sync.Mutex
	verified bool // the endpoint said it serves ID

	ddoMu sync.Mutex // one scan of its DDOs at a time
}

// chainTimeout bounds one request's conversation with a chain.
const chainTimeout = 20 * time.Second

// openChains connects to the configured chains. An http(s) endpoint is not
// reached until it is used, so a chain that is down makes its orders answer
// 503, not the node fail; a ws(s) endpoint is dialled now.
func openChains(ctx context.Context, cfgs []Chain) (map[int64]*chain, error) {
	out := map[int64]*chain{}
	for _, c := range cfgs {
		if _, dup := out[c.ID]; dup {
			return nil, fmt.Errorf("provider: chain %d is configured twice", c.ID)
		}
		cl, err := ethclient.DialContext(ctx, c.RPC)
		if err != nil {
			return nil, fmt.Errorf("provider: chain %d: %w", c.ID, err)
		}
		out[c.ID] = &chain{Chain: c, client: cl}
	}
	return out, nil
}

func closeChains(chains map[int64]*chain) {
	for _, c := range chains {
		c.client.Close()
	}
}

// unavailable is the answer when a chain cannot be asked: 503 with the
// reason.
func (c *chain) unavailable(err error) error {
	return apierr.New(http.StatusServiceUnavailable, "chain_unavailable", "chain %d cannot be reached: %v", c.ID, err)
}

// ready checks once that the endpoint serves the configured chain id, so an
// order is never verified on the wrong chain.
func (c *chain) ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verified {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, chainTimeout)
	defer cancel()
	id, err := c.client.ChainID(ctx)
	if err != nil {
		return c.unavailable(err)
	}
	if id.Cmp(big.NewInt(c.ID)) != 0 {
		return apierr.New(http.StatusServiceUnavailable, "chain_unavailable",
			"chain %d is misconfigured: its RPC endpoint serves chain id %s", c.ID, id)
	}
	c.verified = true
	return nil
}

// chainFor returns the connected chain id, ready; nil when it is not
// configured.
func (s *Service) chainFor(ctx context.Context, id int64) (*chain, error) {
	c := s.chains[id]
	if c == nil {
		return nil, nil
	}
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// chainIDs are the chains the provider serves: its own and the connected
// ones, ascending.
func (s *Service) chainIDs() []int64 {
	ids := []int64{s.cfg.ChainID}
	for id := range s.chains {
		if id != s.cfg.ChainID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// servesChain tells whether DDOs of chain id may be registered here.
func (s *Service) servesChain(id int64) bool {
	return id == s.cfg.ChainID || s.chains[id] != nil
}

// notFound tells whether err means the chain has no such object.
func notFound(err error) bool { return errors.Is(err, ethereum.NotFound) }
