package ocean

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
)

// oceanEvents are the events of Ocean's datatoken (ERC20Template) and data
// NFT (ERC721Template) contracts the provider reads, as their ABI declares
// them (@oceanprotocol/contracts 2.x), and the NFT's isDeployed.
var oceanEvents = mustABI(`[
 {"type":"event","name":"OrderStarted","inputs":[
  {"name":"consumer","type":"address","indexed":true},{"name":"payer","type":"address","indexed":false},
  {"name":"amount","type":"uint256","indexed":false},{"name":"serviceIndex","type":"uint256","indexed":false},
  {"name":"timestamp","type":"uint256","indexed":false},{"name":"publishMarketAddress","type":"address","indexed":true},
  {"name":"blockNumber","type":"uint256","indexed":false}]},
 {"type":"event","name":"OrderReused","inputs":[
  {"name":"orderTxId","type":"bytes32","indexed":false},{"name":"caller","type":"address","indexed":false},
  {"name":"timestamp","type":"uint256","indexed":false},{"name":"number","type":"uint256","indexed":false}]},
 {"type":"event","name":"ProviderFee","inputs":[
  {"name":"providerFeeAddress","type":"address","indexed":true},{"name":"providerFeeToken","type":"address","indexed":true},
  {"name":"providerFeeAmount","type":"uint256","indexed":false},{"name":"providerData","type":"bytes","indexed":false},
  {"name":"v","type":"uint8","indexed":false},{"name":"r","type":"bytes32","indexed":false},
  {"name":"s","type":"bytes32","indexed":false},{"name":"validUntil","type":"uint256","indexed":false}]},
 {"type":"function","name":"isDeployed","stateMutability":"view","inputs":[{"name":"datatoken","type":"address"}],"outputs":[{"name":"","type":"bool"}]},
 {"type":"event","name":"MetadataCreated","inputs":[
  {"name":"createdBy","type":"address","indexed":true},{"name":"state","type":"uint8","indexed":false},
  {"name":"decryptorUrl","type":"string","indexed":false},{"name":"flags","type":"bytes","indexed":false},
  {"name":"data","type":"bytes","indexed":false},{"name":"metaDataHash","type":"bytes32","indexed":false},
  {"name":"timestamp","type":"uint256","indexed":false},{"name":"blockNumber","type":"uint256","indexed":false}]},
 {"type":"event","name":"MetadataState","inputs":[
  {"name":"updatedBy","type":"address","indexed":true},{"name":"state","type":"uint8","indexed":false},
  {"name":"timestamp","type":"uint256","indexed":false},{"name":"blockNumber","type":"uint256","indexed":false}]},
 {"type":"event","name":"MetadataUpdated","inputs":[
  {"name":"updatedBy","type":"address","indexed":true},{"name":"state","type":"uint8","indexed":false},
  {"name":"decryptorUrl","type":"string","indexed":false},{"name":"flags","type":"bytes","indexed":false},
  {"name":"data","type":"bytes","indexed":false},{"name":"metaDataHash","type":"bytes32","indexed":false},
  {"name":"timestamp","type":"uint256","indexed":false},{"name":"blockNumber","type":"uint256","indexed":false}]}
]`)

func mustABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return a
}

// Decoded events (the non-indexed fields, plus the indexed ones read from
// the topics).
type (
	orderStarted struct {
		Consumer     common.Address
		Payer        common.Address
		Amount       *big.Int
		ServiceIndex *big.Int
		Timestamp    *big.Int
		BlockNumber  *big.Int
	}
	orderReused struct {
		OrderTxId [32]byte
		Caller    common.Address
		Timestamp *big.Int
		Number    *big.Int
	}
	providerFeeEvent struct {
		ProviderFeeAddress common.Address
		ProviderFeeToken   common.Address
		ProviderFeeAmount  *big.Int
		ProviderData       []byte
		V                  uint8
		R, S               [32]byte
		ValidUntil         *big.Int
		env                string // from ProviderData
	}
)

// events returns the logs of receipt that contract emitted as event name.
func events(rc *types.Receipt, contract common.Address, name string) []*types.Log {
	id := oceanEvents.Events[name].ID
	var out []*types.Log
	for _, l := range rc.Logs {
		if l.Address == contract && len(l.Topics) > 0 && l.Topics[0] == id {
			out = append(out, l)
		}
	}
	return out
}

// unpack decodes a log's data into v.
func unpack(v any, name string, l *types.Log) error {
	return oceanEvents.UnpackIntoInterface(v, name, l.Data)
}

// oneDatatoken is the amount an order burns: one datatoken (18 decimals).
var oneDatatoken = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

var txHashRe = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

// onChain tells whether txID is to be found on a chain: chains are
// configured and it has a transaction hash's shape. Anything else is a
// payment of the node's ledger.
func (s *Service) onChain(txID string) bool {
	return len(s.chains) > 0 && txHashRe.MatchString(txID)
}

// badOrder is a refused order: 400 with the check that failed.
func badOrder(format string, args ...any) error {
	return apierr.BadRequest("invalid_order", format, args...)
}

// chainOrder is a verified order.
type chainOrder struct {
	TxHash common.Hash // the startOrder transaction (the reused one for a reuse)
	Env    string      // the compute environment the provider fee was quoted for
}

// ordersOnChain tells whether svc of d is ordered on a connected chain: d
// is on one and svc names a datatoken.
func (s *Service) ordersOnChain(d *api.DDO, svc api.DDOService) bool {
	return s.chains[d.ChainID] != nil && identity.ValidAddress(svc.DatatokenAddress) && !strings.EqualFold(svc.DatatokenAddress, ZeroAddress)
}

// checkComputeOrder verifies the order of a dataset of a compute job in env
// (main: the job's first dataset). On a chain, the main dataset's provider
// fee must be the one quoted for env, as the Ocean provider requires: it
// carries the environment's fee. In the ledger, the payments must cover the
// environment's fee as well.
func (s *Service) checkComputeOrder(r *http.Request, txID, did string, svc api.DDOService, consumer string, env *environment, main bool) error {
	if !s.onChain(txID) {
		if err := s.checkOrder(r, txID, did, svc, consumer); err != nil {
			return err
		}
		if main {
			return s.checkEnvFee(r.Context(), env, did, svc, consumer)
		}
		return nil
	}
	o, err := s.checkChainOrder(r.Context(), txID, did, svc, consumer, false)
	if err != nil {
		return err
	}
	if main && o.Env != env.ID {
		return badOrder("Order %s: its provider fee was quoted for compute environment %q, not %q", txID, o.Env, env.ID)
	}
	return nil
}

// checkChainOrder verifies transaction txID, on the chain of DDO did, as an
// order by consumer of svc, as the Ocean provider does (and stricter: every
// event must come from the service's datatoken). allowExpiredFee accepts an
// order whose provider fee has expired (initialize asking whether an order
// can be reused).
func (s *Service) checkChainOrder(ctx context.Context, txID, did string, svc api.DDOService, consumer string, allowExpiredFee bool) (*chainOrder, error) {
	_, d, _, err := s.loadDDO(ctx, did)
	if err != nil {
		return nil, err
	}
	ch, err := s.chainFor(ctx, d.ChainID)
	if err != nil {
		return nil, err
	}
	if ch == nil {
		return nil, badOrder("Order %s: asset %s is on chain %d, which this provider is not connected to", txID, did, d.ChainID)
	}
	index := -1
	for i, x := range d.Services {
		if x.ID == svc.ID {
			index = i
		}
	}
	if !identity.ValidAddress(svc.DatatokenAddress) || strings.EqualFold(svc.DatatokenAddress, ZeroAddress) {
		return nil, badOrder("Order %s: service %q of %s names no datatoken to order", txID, svc.ID, did)
	}
	dt := common.HexToAddress(svc.DatatokenAddress)
	ctx, cancel := context.WithTimeout(ctx, chainTimeout)
	defer cancel()

	// The presented transaction: succeeded, deep enough.
	rc, err := s.receipt(ctx, ch, common.HexToHash(txID), "Order "+txID)
	if err != nil {
		return nil, err
	}
	if err := ownDatatoken(ctx, ch, d, dt); err != nil {
		return nil, err
	}
	// A reuse points at the order it renews: that one must be an order of
	// this service too; the fee and the validity window are the reuse's.
	orderRc, orderTime := rc, int64(-1)
	if logs := events(rc, dt, "OrderReused"); len(logs) > 0 {
		var ev orderReused
		if err := unpack(&ev, "OrderReused", logs[0]); err != nil {
			return nil, badOrder("Order %s: its OrderReused event does not decode: %v", txID, err)
		}
		orderTime = ev.Timestamp.Int64()
		ref := common.Hash(ev.OrderTxId)
		if orderRc, err = s.receipt(ctx, ch, ref, "The order "+ref.Hex()+" that "+txID+" reuses"); err != nil {
			return nil, err
		}
	}
	var order *orderStarted
	other := -1
	for _, l := range events(orderRc, dt, "OrderStarted") {
		var ev orderStarted
		if err := unpack(&ev, "OrderStarted", l); err != nil || len(l.Topics) < 2 {
			continue
		}
		ev.Consumer = common.BytesToAddress(l.Topics[1].Bytes())
		if ev.ServiceIndex.IsInt64() && ev.ServiceIndex.Int64() == int64(index) {
			order = &ev
		} else {
			other = int(ev.ServiceIndex.Int64())
		}
	}
	switch {
	case order == nil && other >= 0:
		return nil, badOrder("Order %s is for service index %d of datatoken %s, not index %d (service %q)", txID, other, dt.Hex(), index, svc.ID)
	case order == nil:
		return nil, badOrder("Transaction %s is not an order of datatoken %s (no OrderStarted event of it)", orderRc.TxHash.Hex(), dt.Hex())
	case order.Amount.Cmp(oneDatatoken) < 0:
		return nil, badOrder("Order %s paid %s datatoken base units, less than one datatoken", txID, order.Amount)
	case !strings.EqualFold(order.Consumer.Hex(), consumer) && !strings.EqualFold(order.Payer.Hex(), consumer):
		return nil, badOrder("Order %s was made for consumer %s (payer %s), not %s", txID, order.Consumer.Hex(), order.Payer.Hex(), consumer)
	}
	if orderTime < 0 {
		orderTime = order.Timestamp.Int64()
	}
	now := s.clock.Now()
	if svc.Timeout > 0 && now.Unix()-orderTime > svc.Timeout {
		return nil, badOrder("Order %s expired at %s (the service's timeout is %ds)", txID,
			time.Unix(orderTime+svc.Timeout, 0).UTC().Format(time.RFC3339), svc.Timeout)
	}

	// The provider fee paid with the presented transaction: the contract
	// accepts any fee that names the zero address, so only this node's
	// signature over its very values makes it the fee it quoted.
	fee, err := s.paidFee(rc, dt, svc, txID)
	if err != nil {
		return nil, err
	}
	if v := fee.ValidUntil; v.Sign() > 0 && now.Unix() >= v.Int64() && !allowExpiredFee {
		return nil, badOrder("Order %s: its provider fee expired at %s", txID, time.Unix(v.Int64(), 0).UTC().Format(time.RFC3339))
	}
	return &chainOrder{TxHash: orderRc.TxHash, Env: fee.env}, nil
}

// ownDatatoken checks, as the Ocean provider does, that the asset's data
// NFT deployed the service's datatoken: an order of a datatoken is an order
// of the asset that owns it.
func ownDatatoken(ctx context.Context, ch *chain, d *api.DDO, dt common.Address) error {
	if !identity.ValidAddress(d.NFTAddress) {
		return badOrder("asset %s names no data NFT (nftAddress): its datatoken's owner cannot be checked", d.ID)
	}
	nft := common.HexToAddress(d.NFTAddress)
	input, err := oceanEvents.Pack("isDeployed", dt)
	if err != nil {
		return err
	}
	res, err := ch.client.CallContract(ctx, ethereum.CallMsg{To: &nft, Data: input}, nil)
	var reverted rpc.DataError
	if err != nil && !errors.As(err, &reverted) {
		return ch.unavailable(err)
	}
	out, err := oceanEvents.Unpack("isDeployed", res)
	if ok, _ := firstBool(out); err != nil || !ok {
		return badOrder("datatoken %s is not a datatoken of the asset's data NFT %s on chain %d", dt.Hex(), nft.Hex(), ch.ID)
	}
	return nil
}

func firstBool(v []any) (bool, bool) {
	if len(v) != 1 {
		return false, false
	}
	b, ok := v[0].(bool)
	return b, ok
}

// receipt fetches a transaction's receipt and checks it succeeded and has
// the confirmations the node requires.
func (s *Service) receipt(ctx context.Context, ch *chain, h common.Hash, what string) (*types.Receipt, error) {
	rc, err := ch.client.TransactionReceipt(ctx, h)
	if notFound(err) {
		return nil, badOrder("%s: no such transaction on chain %d (or it is not mined yet)", what, ch.ID)
	}
	if err != nil {
		return nil, ch.unavailable(err)
	}
	if rc.Status != types.ReceiptStatusSuccessful {
		return nil, badOrder("%s: the transaction failed (reverted) on chain %d", what, ch.ID)
	}
	head, err := ch.client.BlockNumber(ctx)
	if err != nil {
		return nil, ch.unavailable(err)
	}
	if need := s.cfg.Confirmations; rc.BlockNumber == nil || head+1 < rc.BlockNumber.Uint64()+need {
		have := uint64(0)
		if rc.BlockNumber != nil && head >= rc.BlockNumber.Uint64() {
			have = head - rc.BlockNumber.Uint64() + 1
		}
		return nil, apierr.BadRequest("invalid_order", "%s has %d confirmations of the %d this provider requires: try again later", what, have, need)
	}
	return rc, nil
}

// paidFee finds the provider fee for svc in the transaction's ProviderFee
// events of datatoken dt and checks this node signed it.
func (s *Service) paidFee(rc *types.Receipt, dt common.Address, svc api.DDOService, txID string) (*providerFeeEvent, error) {
	logs := events(rc, dt, "ProviderFee")
	if len(logs) == 0 {
		return nil, badOrder("Order %s paid no provider fee (no ProviderFee event of datatoken %s)", txID, dt.Hex())
	}
	for _, l := range logs {
		var ev providerFeeEvent
		if err := unpack(&ev, "ProviderFee", l); err != nil || len(l.Topics) < 3 {
			continue
		}
		ev.ProviderFeeAddress = common.BytesToAddress(l.Topics[1].Bytes())
		ev.ProviderFeeToken = common.BytesToAddress(l.Topics[2].Bytes())
		var pd providerData
		if json.Unmarshal(ev.ProviderData, &pd) != nil || !strings.EqualFold(pd.DT, dt.Hex()) || pd.ID != svc.ID {
			continue
		}
		if !strings.EqualFold(ev.ProviderFeeAddress.Hex(), s.key.Address()) {
			return nil, badOrder("Order %s: its provider fee names %s, not this provider (%s): it is not a fee this provider quoted",
				txID, ev.ProviderFeeAddress.Hex(), s.key.Address())
		}
		if !ev.ValidUntil.IsInt64() {
			return nil, badOrder("Order %s: its provider fee's validUntil %s is out of range", txID, ev.ValidUntil)
		}
		h, err := ProviderFeeHash(ev.ProviderData, ev.ProviderFeeAddress.Hex(), ev.ProviderFeeToken.Hex(), ev.ProviderFeeAmount, ev.ValidUntil.Int64())
		if err != nil {
			return nil, badOrder("Order %s: its provider fee is malformed: %v", txID, err)
		}
		sig := append(append(append([]byte{}, ev.R[:]...), ev.S[:]...), ev.V)
		signer, err := identity.Recover(identity.EthMessageHash(h), sig)
		if err != nil || !strings.EqualFold(signer, s.key.Address()) {
			return nil, badOrder("Order %s: its provider fee (%s of token %s, valid until %s) was not signed by this provider",
				txID, ev.ProviderFeeAmount, ev.ProviderFeeToken.Hex(), ev.ValidUntil)
		}
		ev.env = pd.Environment
		return &ev, nil
	}
	return nil, badOrder("Order %s paid no provider fee for service %q of datatoken %s (providerData names another)", txID, svc.ID, dt.Hex())
}
