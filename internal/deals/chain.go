package deals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/clock"
)

// Chain is the Bitcoin node the module watches escrows on and sends
// releases and refunds through.
type Chain interface {
	// Payments lists the outputs paying address, in the chain and the
	// mempool (0 confirmations); an output reorganised out of both is
	// missing.
	Payments(ctx context.Context, address string) ([]btc.Output, error)
	Broadcast(ctx context.Context, tx *wire.MsgTx) (txid string, err error)
	Height(ctx context.Context) (int64, error)
}

// Run watches the escrows of open deals until ctx ends, at once (a restart
// resumes from the tables) and then every Poll.
func (s *Service) Run(ctx context.Context) {
	if s.chain == nil {
		return
	}
	if h, err := s.chain.Height(ctx); err != nil {
		s.log.Warn("the Bitcoin node does not answer yet; escrows are watched when it does", "err", err)
	} else {
		s.log.Info("watching deal escrows", "tip", h, "confirmations", s.cfg.Confirmations)
	}
	s.watchAll(ctx)
	clock.Every(ctx, s.cfg.Poll, s.wake, s.watchAll)
}

// Close closes the Bitcoin node's connection, if the module has one.
func (s *Service) Close() error {
	if c, ok := s.chain.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// poke asks the watcher to look at the escrows now.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Watched are the states whose escrow may still receive or lose a payment
// that matters: a Paid deal can lose one to a reorganisation, an Expired
// one can receive one too late.
var watched = []string{StateCreated, StatePaying, StatePaid, StateExpired}

func (s *Service) watchAll(ctx context.Context) {
	ids, err := s.store.Unspent(ctx, watched)
	if err != nil {
		s.log.Error("listing deals to watch", "err", err)
		return
	}
	for _, id := range ids {
		if err := s.watch(ctx, id); err != nil && ctx.Err() == nil {
			s.log.Warn("watching a deal's escrow", "deal", id, "err", err)
		}
	}
}

// watch records what the node says pays the deal's escrow and moves the
// deal along: Created → Paying when a payment is seen before
// payment.until, Paying → Paid when the confirmed sum reaches the deal's,
// back when a reorganisation takes payments away, Created → Expired when
// payment.until passes with nothing seen.
func (s *Service) watch(ctx context.Context, id string) error {
	d, err := s.loadDeal(ctx, id)
	if err != nil {
		return err
	}
	outs, err := s.chain.Payments(ctx, d.Address)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if err := s.store.SeePayments(ctx, d.ID, outs, now.After(d.Until), now); err != nil {
		return err
	}
	f, err := s.funding(ctx, d)
	if err != nil {
		return err
	}
	switch {
	case d.State == StateCreated && f.seen > 0:
		d, err = s.transition(ctx, d, Move{From: []string{StateCreated}, To: StatePaying, TxID: &f.first}, "funded", f.first)
	case d.State == StateCreated && now.After(d.Until):
		d, err = s.transition(ctx, d, Move{From: []string{StateCreated}, To: StateExpired}, "expire", "")
	case d.State == StatePaying && f.seen == 0:
		none := ""
		d, err = s.transition(ctx, d, Move{From: []string{StatePaying}, To: StateCreated, TxID: &none}, "reorg", "the payments left the chain")
	case d.State == StatePaid && f.confirmed < d.Sum && d.SpendTxID == "":
		d, err = s.transition(ctx, d, Move{From: []string{StatePaid}, To: StatePaying}, "reorg", fmt.Sprintf("confirmed %d sat of %d", f.confirmed, d.Sum))
	}
	if err != nil {
		return err
	}
	if d.State == StatePaying && f.confirmed >= d.Sum {
		_, _, err = s.markPaid(ctx, d)
	}
	return err
}

// funding is what pays a deal's escrow.
type funding struct {
	confirmed, pending, late int64 // satoshis: counted, not yet deep enough, refused (after payment.until)
	seen                     int   // outputs in time, at any depth
	first                    string
	spendable                []btc.Output // confirmed, still in the chain: what a release (in time) or a refund (all) spends
	lateOuts                 []btc.Output
	lines                    []string
}

func (s *Service) funding(ctx context.Context, d Deal) (funding, error) {
	var f funding
	pays, err := s.store.Payments(ctx, d.ID)
	if err != nil {
		return f, err
	}
	for _, p := range pays {
		o, late := p.Output, p.Late
		deep := o.Confirmations >= s.cfg.Confirmations
		line := fmt.Sprintf("%s:%d %s %s, %d confirmations", o.TxID, o.Vout, formatBTC(o.Amount), s.net.Unit, o.Confirmations)
		switch {
		case late:
			f.late += o.Amount
			line += ", after payment.until: refused as payment"
			if deep {
				f.lateOuts = append(f.lateOuts, o)
			}
		case deep:
			f.confirmed += o.Amount
			f.spendable = append(f.spendable, o)
		default:
			f.pending += o.Amount
		}
		if !late {
			f.seen++
			if f.first == "" {
				f.first = o.TxID
			}
		}
		f.lines = append(f.lines, line)
	}
	return f, nil
}

func (f funding) doc(s *Service) doc {
	d := doc{{"confirmed", formatBTC(f.confirmed) + " " + s.net.Unit}, {"pending", formatBTC(f.pending) + " " + s.net.Unit},
		{"confirmations", fmt.Sprint(s.cfg.Confirmations)}}
	if f.late > 0 {
		d = append(d, field{"late", formatBTC(f.late) + " " + s.net.Unit})
	}
	if len(f.lines) > 0 {
		d = append(d, field{"outputs", f.lines})
	}
	return d
}

// spend carries a release (to the seller) or a refund (to the customer)
// of a funded escrow: the first call builds the PSBT and signs its inputs
// with the module's tweaked key; a call with the PSBT signed by the seller
// or the customer finalizes it, checks every input with the script engine
// and broadcasts it. No path spends with fewer than two valid keys: the
// module signs only this transaction, and the engine checks the other.
//
// A release pays the seller, so it needs the customer's consent: the
// customer's signature in the PSBT, or the seller's with the customer's
// Bitcoin signed message "complete <id>" (consent), or an admin's order
// (the arbiter). A refund was consented to by the cancel order's signature.
func (s *Service) spend(ctx context.Context, d Deal, kind, signed, consent string) (answer, error) {
	action, final, dest := "Complete", StateCompleted, d.Seller
	from := []string{StatePaid}
	if kind == "refund" {
		action, final, dest = "Cancel", StateCancelled, d.Customer
		from = []string{StatePaid, StatePaying, StateExpired}
	}
	if d.SpendTxID != "" {
		return answer{}, apierr.Conflict("already_spent", "the escrow was spent already (%s %s): the deal is %s", d.SpendKind, d.SpendTxID, d.State)
	}
	if !contains(from, d.State) {
		return answer{}, refuse(strings.ToLower(action), d.State, from)
	}
	if d.SpendKind != "" && d.SpendKind != kind {
		return answer{}, apierr.Conflict("spend_pending", "a %s of this deal is under way: finish it with its PSBT", d.SpendKind)
	}
	if d.SpendPSBT == "" {
		var err error
		if d, err = s.newSpend(ctx, d, kind, dest); err != nil {
			return answer{}, err
		}
	}
	if signed == "" {
		return s.dealAnswer(ctx, d, action, fmt.Sprintf("The %s is signed by the module: sign its PSBT (payment.spend.psbt) with the seller's or the customer's key and send it back as psbt", kind))
	}
	tx, signers, err := s.countersign(d, signed)
	if err != nil {
		return answer{}, err
	}
	if kind == "release" {
		if err := s.releaseConsent(ctx, d, signers, consent); err != nil {
			return answer{}, err
		}
	}
	txid, before := tx.TxHash().String(), d.State
	// The state moves first, so two racing completions broadcast once.
	if d, err = s.transition(ctx, d, Move{From: from, To: final, SpendTxID: txid}, kind, txid); err != nil {
		return answer{}, err
	}
	if _, err := s.chain.Broadcast(ctx, tx); err != nil {
		if rerr := s.store.UndoSpend(ctx, d.ID, before, txid); rerr != nil {
			s.log.Error("undoing a failed broadcast", "deal", d.ID, "err", rerr)
		}
		return answer{}, apierr.New(http.StatusBadGateway, "broadcast_failed", "the Bitcoin node refused the %s %s: %v", kind, txid, err)
	}
	return s.dealAnswer(ctx, d, final, fmt.Sprintf("The %s %s is broadcast", kind, txid))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newSpend builds and signs the release or refund PSBT and records it.
func (s *Service) newSpend(ctx context.Context, d Deal, kind, dest string) (Deal, error) {
	f, err := s.funding(ctx, d)
	if err != nil {
		return d, err
	}
	outs := f.spendable
	if kind == "refund" {
		outs = append(outs, f.lateOuts...)
	}
	if len(outs) == 0 {
		return d, apierr.Conflict("not_funded", "the escrow %s holds no output with %d confirmations to %s", d.Address, s.cfg.Confirmations, kind)
	}
	ws, _ := hex.DecodeString(d.WitnessScript)
	rs, _ := hex.DecodeString(d.RedeemScript)
	p, err := s.net.NewSpend(outs, ws, rs, dest, s.cfg.FeeRate)
	if err != nil {
		return d, apierr.Conflict("cannot_spend", "%v", err)
	}
	if err := btc.SignSpend(p, s.dealKey(d)); err != nil {
		return d, err
	}
	if err := s.store.SetSpend(ctx, d.ID, kind, btc.EncodePSBT(p)); err != nil {
		return d, err
	}
	d, err = s.loadDeal(ctx, d.ID)
	if err == nil && d.SpendKind != kind {
		return d, apierr.Conflict("spend_pending", "a %s of this deal is under way: finish it with its PSBT", d.SpendKind)
	}
	return d, err
}

// dealKey is the module key tweaked for the deal: its key in the escrow.
func (s *Service) dealKey(d Deal) *btcec.PrivateKey {
	h := sha256.Sum256([]byte(d.Canonical))
	t, _ := btc.DealTweak(s.key.Private().PubKey(), h[:]) // it was in range when the deal was created
	return btc.TweakPrivate(s.key.Private(), t)
}

// countersign adds the party's signatures from signed to the deal's PSBT
// and returns the finished, verified transaction.
// The signers are the keys whose signatures were added (hex).
func (s *Service) countersign(d Deal, signed string) (*wire.MsgTx, map[string]bool, error) {
	theirs, err := btc.DecodePSBT(signed)
	if err != nil {
		return nil, nil, apierr.BadRequest("bad_psbt", "psbt is not a PSBT (BIP-174, base64): %v", err)
	}
	ours, err := btc.DecodePSBT(d.SpendPSBT)
	if err != nil {
		return nil, nil, err
	}
	if theirs.UnsignedTx.TxHash() != ours.UnsignedTx.TxHash() || len(theirs.Inputs) != len(ours.Inputs) {
		return nil, nil, apierr.BadRequest("psbt_mismatch", "the PSBT is not this deal's %s: sign the PSBT of payment.spend.psbt unchanged", d.SpendKind)
	}
	signers := map[string]bool{}
	moduleKey, _ := hex.DecodeString(d.ModuleKey)
	ws, _ := hex.DecodeString(d.WitnessScript)
	keys := escrowKeys(ws)
	for i := range ours.Inputs {
		var added []*psbt.PartialSig
		for _, ps := range theirs.Inputs[i].PartialSigs {
			if string(ps.PubKey) != string(moduleKey) {
				added = append(added, ps)
			}
		}
		if len(added) == 0 {
			return nil, nil, apierr.New(http.StatusForbidden, "missing_signature", "input %d of the PSBT has no signature by the seller's or the customer's key", i)
		}
		ours.Inputs[i].PartialSigs = append(ours.Inputs[i].PartialSigs, added...)
		if _, err := btc.PartialSigs(ours, i, keys); err != nil {
			return nil, nil, apierr.New(http.StatusForbidden, "bad_signature", "%v", err)
		}
		for _, ps := range added {
			signers[hex.EncodeToString(ps.PubKey)] = true
		}
	}
	tx, err := btc.Complete(ours)
	if err != nil {
		return nil, nil, apierr.New(http.StatusForbidden, "bad_signature", "%v", err)
	}
	return tx, signers, nil
}

// releaseConsent checks the customer agreed to pay the seller.
func (s *Service) releaseConsent(ctx context.Context, d Deal, signers map[string]bool, consent string) error {
	if a, err := s.loadAccount(ctx, d.Customer); err == nil && signers[strings.ToLower(a.PubKey)] {
		return nil
	}
	if caller, _ := auth.From(ctx); caller.IsAdmin() {
		return nil
	}
	if consent == "" {
		return apierr.New(http.StatusForbidden, "missing_consent", "a release to the seller needs the customer's consent: the customer signs the PSBT, or sends customer.signature, the Bitcoin signed message %q", DealMessage("complete", d.ID))
	}
	return s.verifyParty("customer", d.Customer, DealMessage("complete", d.ID), consent)
}

// escrowKeys are the three keys of a 2-of-3 witness script
// (OP_2 <33> <33> <33> OP_3 OP_CHECKMULTISIG).
func escrowKeys(ws []byte) [][]byte {
	var keys [][]byte
	for i := 1; i+34 <= len(ws) && ws[i] == 33; i += 34 {
		keys = append(keys, ws[i+1:i+34])
	}
	return keys
}
