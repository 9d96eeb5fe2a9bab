package ocean

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ulikunitz/xz"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
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
// metadata events are scanned up to the chain's head (the blocks already
// scanned are remembered), and the documents this node can decrypt are
// kept. It answers nil when no chain has it.
func (s *Service) chainDDO(ctx context.Context, did string) (*chainDDO, error) {
	// A chain that cannot be asked only matters when no other has it.
	var unreachable error
	for _, ch := range s.chains {
		err := ch.ready(ctx)
		if err == nil {
			err = s.scanDDOs(ctx, ch)
		}
		if err != nil {
			unreachable = err
			continue
		}
		ch.ddoMu.Lock()
		d, ok := ch.ddos[did]
		ch.ddoMu.Unlock()
		if ok && consumableState(d.state) {
			return &d, nil
		}
	}
	return nil, unreachable
}

// notOnChain refuses to register a DDO that its chain already publishes:
// the data NFT's owner speaks for it there, and the registry's copy would
// hide the chain's.
func (s *Service) notOnChain(ctx context.Context, d *api.DDO) error {
	ch := s.chains[d.ChainID]
	if ch == nil {
		return nil
	}
	err := ch.ready(ctx)
	if err == nil {
		err = s.scanDDOs(ctx, ch)
	}
	if err != nil {
		return err
	}
	ch.ddoMu.Lock()
	_, found := ch.ddos[d.ID]
	ch.ddoMu.Unlock()
	if found {
		return apierr.Conflict("exists", "asset %s is published on chain %d: its data NFT's metadata is the asset", d.ID, d.ChainID)
	}
	return nil
}

// scanDDOs reads the metadata events of the blocks not scanned yet.
func (s *Service) scanDDOs(ctx context.Context, ch *chain) error {
	ctx, cancel := context.WithTimeout(ctx, chainTimeout)
	defer cancel()
	ch.ddoMu.Lock()
	defer ch.ddoMu.Unlock()
	head, err := ch.client.BlockNumber(ctx)
	if err != nil {
		return ch.unavailable(err)
	}
	topics := [][]common.Hash{{oceanEvents.Events["MetadataCreated"].ID, oceanEvents.Events["MetadataUpdated"].ID, oceanEvents.Events["MetadataState"].ID}}
	for ch.scanned <= head {
		to := min(ch.scanned+scanBlocks-1, head)
		logs, err := ch.client.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(ch.scanned), ToBlock: new(big.Int).SetUint64(to), Topics: topics})
		if err != nil {
			return ch.unavailable(err)
		}
		for i := range logs {
			s.indexDDO(ch, &logs[i])
		}
		ch.scanned = to + 1
	}
	return nil
}

// indexDDO keeps the DDO of one metadata event, or the state a
// MetadataState event sets (an asset whose state is not consumable is
// hidden). Documents this node cannot read are skipped: they
// are another provider's.
func (s *Service) indexDDO(ch *chain, l *types.Log) {
	if l.Removed {
		return
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
		if d, ok := ch.ddos[did]; ok && unpack(&ev, "MetadataState", l) == nil {
			d.state = ev.State
			ch.ddos[did] = d
		}
		return
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
		return
	}
	plain := ev.Data
	var flags byte
	if len(ev.Flags) > 0 {
		flags = ev.Flags[0]
	}
	if flags&flagEncrypted != 0 {
		p, err := ecies.Decrypt(s.key.Private(), plain)
		if err != nil {
			return // encrypted for another provider
		}
		plain = p
	}
	if flags&flagCompressed != 0 {
		r, err := xz.NewReader(bytes.NewReader(plain))
		if err != nil {
			return
		}
		if plain, err = io.ReadAll(io.LimitReader(r, MaxDDO+1)); err != nil {
			return
		}
	}
	skip := func(why string, args ...any) {
		s.log.Warn("chain DDO skipped: "+why, append([]any{"chain", ch.ID, "did", did, "tx", l.TxHash}, args...)...)
	}
	if sum := sha256.Sum256(plain); sum != ev.MetaDataHash {
		skip("its metaDataHash is not the SHA-256 of the document")
		return
	}
	doc, d, err := ParseDDO(plain, ch.ID)
	if err != nil {
		skip("invalid", "err", err)
		return
	}
	if d.ID != did || (d.NFTAddress != "" && !strings.EqualFold(d.NFTAddress, l.Address.Hex())) {
		skip("its id or nftAddress is not the NFT's that published it", "id", d.ID)
		return
	}
	ch.ddos[did] = chainDDO{doc: doc, ddo: d, state: ev.State}
}
