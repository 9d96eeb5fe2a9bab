package ocean

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ulikunitz/xz"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/ecies"
)

// chainDDO is a DDO published on a chain: the document a data NFT's last
// MetadataCreated or MetadataUpdated event carries.
type chainDDO struct {
	doc   []byte
	ddo   *api.DDO
	state uint8 // the metadata state its NFT last set
}

// The bits of a metadata event's flags (Ocean's DDO encoding).
const (
	flagCompressed = 1 // xz (lzma), as Python's lzma.compress writes it
	flagEncrypted  = 2 // ECIES, for the provider named in decryptorUrl
)

// Metadata states a DDO may be ordered in: active and unlisted (listed
// nowhere, still usable), as the Ocean provider allows.
func consumableState(state uint8) bool { return state == 0 || state == 5 }

// scanBlocks bounds one eth_getLogs range: public endpoints refuse larger
// ones.
const scanBlocks = 5000

// chainDDO finds a DDO published on a connected chain: the data NFTs'
// metadata events are scanned up to the chain's confirmed head (the blocks
// already scanned are remembered), and the documents this node can decrypt
// are kept. It answers nil when no chain has it.
func (s *Service) chainDDO(ctx context.Context, did string) (*chainDDO, error) {
	// A chain that cannot be asked only matters when no other has it.
	var unreachable error
	for _, ch := range s.chains {
		d, err := s.lookupChainDDO(ctx, ch, did)
		if err != nil {
			unreachable = err
			continue
		}
		if d != nil && consumableState(d.state) {
			return d, nil
		}
	}
	return nil, unreachable
}

// lookupChainDDO scans ch and returns its DDO did, nil if it has none.
func (s *Service) lookupChainDDO(ctx context.Context, ch *chain, did string) (*chainDDO, error) {
	scanErr := ch.ready(ctx)
	if scanErr == nil {
		scanErr = s.scanDDOs(ctx, ch)
	}
	// While the chain cannot be reached, what was read from it still
	// answers (orders of it cannot be verified meanwhile anyway).
	doc, state, err := s.provStore.ChainDDO(ctx, ch.ID, did)
	if errors.Is(err, ErrNotFound) {
		return nil, scanErr
	}
	if err != nil {
		return nil, err
	}
	var d api.DDO
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("provider: stored chain DDO %s: %w", did, err)
	}
	return &chainDDO{doc: doc, ddo: &d, state: state}, nil
}

// notOnChain refuses to register a DDO that its chain already publishes:
// the data NFT's owner speaks for it there, and the registry's copy would
// hide the chain's.
func (s *Service) notOnChain(ctx context.Context, d *api.DDO) error {
	ch := s.chains[d.ChainID]
	if ch == nil {
		return nil
	}
	found, err := s.lookupChainDDO(ctx, ch, d.ID)
	if err != nil {
		return err
	}
	if found != nil {
		return apierr.Conflict("exists", "asset %s is published on chain %d: its data NFT's metadata is the asset", d.ID, d.ChainID)
	}
	return nil
}

// chainScanEvery is how often the chains' new blocks are scanned for DDOs
// in the background.
const chainScanEvery = 15 * time.Second

// watchChains scans the chains' DDOs in the background until ctx ends, so
// that a first scan of a long chain goes on whatever requests come, and a
// lookup has only the last blocks to read.
func (s *Service) watchChains(ctx context.Context) {
	if len(s.chains) == 0 {
		return
	}
	scan := func(ctx context.Context) {
		for _, ch := range s.chains {
			// One range at a time, so that a lookup waits for one at most.
			for done := false; !done && ctx.Err() == nil; {
				ch.ddoMu.Lock()
				err := ch.ready(ctx)
				if err == nil {
					done, err = s.scanDDOsLocked(ctx, ch, 1)
				}
				ch.ddoMu.Unlock()
				if err != nil {
					if ctx.Err() == nil {
						s.log.Debug("chain DDO scan", "chain", ch.ID, "err", err)
					}
					break
				}
			}
		}
	}
	scan(ctx)
	clock.Every(ctx, chainScanEvery, nil, scan)
}

// scanDDOs reads the metadata events of the confirmed blocks not scanned
// yet (a block counts once it has the confirmations orders need, so that a
// reorganisation does not leave a DDO that never was).
func (s *Service) scanDDOs(ctx context.Context, ch *chain) error {
	ch.ddoMu.Lock()
	defer ch.ddoMu.Unlock()
	_, err := s.scanDDOsLocked(ctx, ch, 0)
	return err
}

// scanDDOsLocked scans, with ch.ddoMu held, up to ranges block ranges (0:
// all) and tells whether it reached the confirmed head.
func (s *Service) scanDDOsLocked(ctx context.Context, ch *chain, ranges int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, chainTimeout)
	defer cancel()
	next, err := s.provStore.ChainScanNext(ctx, ch.ID)
	if err != nil {
		return false, err
	}
	head, err := ch.client.BlockNumber(ctx)
	if err != nil {
		return false, ch.unavailable(err)
	}
	if head+1 < s.cfg.Confirmations {
		return true, nil
	}
	last := head + 1 - s.cfg.Confirmations
	topics := [][]common.Hash{{oceanEvents.Events["MetadataCreated"].ID, oceanEvents.Events["MetadataUpdated"].ID, oceanEvents.Events["MetadataState"].ID}}
	for n := 0; next <= last; n++ {
		if ranges > 0 && n == ranges {
			return false, nil
		}
		to := min(next+scanBlocks-1, last)
		logs, err := ch.client.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(next), ToBlock: new(big.Int).SetUint64(to), Topics: topics})
		if err != nil {
			return false, ch.unavailable(err)
		}
		err = s.provStore.InTx(ctx, func(ctx context.Context) error {
			for i := range logs {
				if err := s.indexDDO(ctx, ch, &logs[i]); err != nil {
					return err
				}
			}
			return s.provStore.SetChainScanNext(ctx, ch.ID, to+1)
		})
		if err != nil {
			return false, err
		}
		next = to + 1
	}
	return true, nil
}

// indexDDO keeps the DDO of one metadata event, or the state a
// MetadataState event sets (an asset whose state is not consumable is
// hidden). Documents this node cannot read are skipped: they
// are another provider's.
func (s *Service) indexDDO(ctx context.Context, ch *chain, l *types.Log) error {
	if l.Removed {
		return nil
	}
	did := MakeDID(l.Address.Hex(), ch.ID)
	name := "MetadataCreated"
	switch l.Topics[0] {
	case oceanEvents.Events["MetadataUpdated"].ID:
		name = "MetadataUpdated"
	case oceanEvents.Events["MetadataState"].ID:
		// Only the state changes (revoked, deprecated, ...).
		var ev struct {
			State       uint8
			Timestamp   *big.Int
			BlockNumber *big.Int
		}
		if unpack(&ev, "MetadataState", l) != nil {
			return nil
		}
		return s.provStore.SetChainDDOState(ctx, ch.ID, did, ev.State)
	}
	// A document this node cannot take replaces the one it had: the asset
	// moved to another provider or broke.
	drop := func() error {
		return s.provStore.DropChainDDO(ctx, ch.ID, did)
	}
	var ev struct {
		State        uint8
		DecryptorUrl string
		Flags        []byte
		Data         []byte
		MetaDataHash [32]byte
		Timestamp    *big.Int
		BlockNumber  *big.Int
	}
	if err := unpack(&ev, name, l); err != nil {
		s.log.Debug("chain metadata event does not decode", "chain", ch.ID, "tx", l.TxHash, "err", err)
		return drop()
	}
	plain := ev.Data
	var flags byte
	if len(ev.Flags) > 0 {
		flags = ev.Flags[0]
	}
	if flags&flagEncrypted != 0 {
		p, err := ecies.Decrypt(s.key.Private(), plain)
		if err != nil {
			return drop() // encrypted for another provider
		}
		plain = p
	}
	if flags&flagCompressed != 0 {
		r, err := xz.NewReader(bytes.NewReader(plain))
		if err != nil {
			return drop()
		}
		if plain, err = io.ReadAll(io.LimitReader(r, MaxDDO+1)); err != nil {
			return drop()
		}
	}
	skip := func(why string, args ...any) {
		s.log.Warn("chain DDO skipped: "+why, append([]any{"chain", ch.ID, "did", did, "tx", l.TxHash}, args...)...)
	}
	if sum := sha256.Sum256(plain); sum != ev.MetaDataHash {
		skip("its metaDataHash is not the SHA-256 of the document")
		return drop()
	}
	doc, d, err := ParseDDO(plain, ch.ID)
	if err != nil {
		skip("invalid", "err", err)
		return drop()
	}
	if d.ID != did || (d.NFTAddress != "" && !strings.EqualFold(d.NFTAddress, l.Address.Hex())) {
		skip("its id or nftAddress is not the NFT's that published it", "id", d.ID)
		return drop()
	}
	return s.provStore.PutChainDDO(ctx, ch.ID, did, doc, ev.State)
}
