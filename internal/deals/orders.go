package deals

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/ledger"
)

var txidRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (s *Service) dealPay(ctx context.Context, p *params) (answer, error) {
	d, err := s.findDeal(ctx, p)
	if err != nil {
		return answer{}, err
	}
	// Naming a transaction blocks the seller's cancel, so not anyone may.
	if err := mayAct(ctx, d, "pay", d.Customer); err != nil {
		return answer{}, err
	}
	if s.chain != nil {
		if d.State == StateExpired || d.State == StateCreated && s.clock.Now().After(d.Until) {
			return answer{}, apierr.Conflict("payment_overdue", "payment.until (%s) has passed: a payment to %s now is refused as payment (cancel refunds it)", formatTime(d.Until), d.Address)
		}
		// The node sees payments itself: naming one only hurries it.
		s.poke()
		return s.dealAnswer(ctx, d, d.State, "The Bitcoin node watches "+d.Address+": the deal is Paid once "+
			formatBTC(d.Sum)+" "+s.net.Unit+" there have "+fmt.Sprint(s.cfg.Confirmations)+" confirmations")
	}
	txid := p.get("payment_txid")
	if txid == "" {
		txid = p.get("txid")
	}
	if !txidRE.MatchString(txid) {
		return answer{}, apierr.BadRequest("bad_txid", "pay needs payment.txid: the id of the transaction that pays %s (64 hex digits)", d.Address)
	}
	if d.State != StateCreated {
		return answer{}, refuse("pay", d.State, []string{StateCreated})
	}
	if now := s.clock.Now(); now.After(d.Until) {
		return answer{}, apierr.Conflict("payment_overdue", "payment.until (%s) has passed", formatTime(d.Until))
	}
	paid := strings.ToLower(txid)
	d, err = s.transition(ctx, d, Move{From: []string{StateCreated}, To: StatePaying, TxID: &paid}, "pay", txid)
	if err != nil {
		return answer{}, err
	}
	ok, err := s.confirmer.Confirmed(ctx, PaymentClaim{DealID: d.ID, Address: d.Address, TxID: d.TxID, Sum: d.Sum})
	if err != nil {
		s.log.Warn("payment confirmation failed; it stays pending", "deal", d.ID, "err", err)
	}
	if !ok {
		return s.dealAnswer(ctx, d, StatePaid, "Payment "+d.TxID+" submitted: awaiting confirmation")
	}
	d, msg, err := s.markPaid(ctx, d)
	if err != nil {
		return answer{}, err
	}
	return s.dealAnswer(ctx, d, StatePaid, msg)
}

// dealConfirm is how an admin confirms a payment while the node has no
// Bitcoin backend.
func (s *Service) dealConfirm(ctx context.Context, p *params) (answer, error) {
	if caller, _ := auth.From(ctx); !caller.IsAdmin() {
		return answer{}, apierr.Forbidden("only an admin confirms payments")
	}
	if s.chain != nil {
		return answer{}, apierr.Conflict("chain_confirms", "this node watches the Bitcoin chain: payments are confirmed by their confirmations, not by an admin")
	}
	d, err := s.findDeal(ctx, p)
	if err != nil {
		return answer{}, err
	}
	if tx := p.get("payment_txid"); tx != "" && !strings.EqualFold(tx, d.TxID) {
		return answer{}, apierr.Conflict("txid_mismatch", "the deal was paid by %s, not %s", d.TxID, tx)
	}
	d, msg, err := s.markPaid(ctx, d)
	if err != nil {
		return answer{}, err
	}
	return s.dealAnswer(ctx, d, StatePaid, msg)
}

// markPaid makes a Paying deal Paid. A deal that pays for a DDS file first
// records the payment in the ledger, exactly as the payment processor
// would; its idempotency key makes a retry after a crash record it once.
func (s *Service) markPaid(ctx context.Context, d Deal) (Deal, string, error) {
	if d.State != StatePaying {
		return d, "", refuse("confirm", d.State, []string{StatePaying})
	}
	msg := "Payment " + d.TxID + " confirmed"
	if d.FileID != "" {
		pay, _, err := s.ledger.RecordPayment(ctx, ledger.PaymentIn{FileID: d.FileID, Status: "success", Amount: d.FileAmount,
			IdempotencyKey: "deal:" + d.ID, Attrs: map[string]any{"deal": d.ID, "txid": d.TxID, "address": d.Address, "sum_sat": d.Sum}})
		if err != nil {
			return d, "", err
		}
		if pay.QuoteID == "" {
			s.log.Warn("deal paid for a file whose quote is no longer open", "deal", d.ID, "file", d.FileID)
			msg += "; file " + d.FileID + " was not stored: its price quote had expired"
		} else {
			msg += "; file " + d.FileID + " paid"
		}
	}
	d, err := s.transition(ctx, d, Move{From: []string{StatePaying}, To: StatePaid}, "confirm", d.TxID)
	return d, msg, err
}

func (s *Service) dealComplete(ctx context.Context, p *params) (answer, error) {
	d, err := s.findDeal(ctx, p)
	if err != nil {
		return answer{}, err
	}
	if err := mayAct(ctx, d, "complete", d.Seller, d.Customer); err != nil {
		return answer{}, err
	}
	if s.chain != nil {
		return s.spend(ctx, d, "release", p.get("psbt"), p.get("customer_signature"))
	}
	d, err = s.transition(ctx, d, Move{From: []string{StatePaid}, To: StateCompleted}, "complete", "")
	if err != nil {
		return answer{}, err
	}
	return s.dealAnswer(ctx, d, StateCompleted, "Deal completed")
}

// mayAct lets the deal's creator, an admin or the accounts named (by their
// principals, see account/token) act on a deal.
func mayAct(ctx context.Context, d Deal, action string, accounts ...string) error {
	caller, _ := auth.From(ctx)
	if caller.IsAdmin() || caller.ID == d.CreatedBy {
		return nil
	}
	for _, a := range accounts {
		if caller.Name == a {
			return nil
		}
	}
	return apierr.Forbidden("only the deal's creator, an admin or %s (see account/token) may %s this deal", strings.Join(accounts, " or "), action)
}

// DealMessage is the text a party signs for an order on a deal.
func DealMessage(order, dealID string, extra ...string) string {
	return strings.Join(append([]string{strings.ToLower(order) + " " + dealID}, extra...), "\n")
}

func (s *Service) verifyParty(role, address, message, sig string) error {
	if sig == "" {
		return apierr.BadRequest("missing_signature", "%s.signature is required: the %s's Bitcoin signed message of %q", role, role, message)
	}
	addr, err := s.net.DecodeAddress(address)
	if err != nil {
		return err
	}
	if _, err := s.net.VerifyMessage(addr, message, sig); err != nil {
		return apierr.New(http.StatusForbidden, "bad_signature", "%s.signature: %v (the signed text must be %q)", role, err, message)
	}
	return nil
}

func (s *Service) dealCancel(ctx context.Context, p *params) (answer, error) {
	d, err := s.findDeal(ctx, p)
	if err != nil {
		return answer{}, err
	}
	err = s.verifyParty("seller", d.Seller, DealMessage("cancel", d.ID), p.get("seller_signature"))
	if err != nil && d.State == StateExpired && p.get("customer_signature") != "" {
		// Nobody paid in time: the customer may take back what came late.
		err = s.verifyParty("customer", d.Customer, DealMessage("cancel", d.ID), p.get("customer_signature"))
	}
	if err != nil {
		return answer{}, err
	}
	if s.chain != nil && d.State != StateCreated {
		refundable := func() (bool, error) {
			f, err := s.funding(ctx, d)
			return len(f.spendable)+len(f.lateOuts) > 0 || d.SpendKind != "", err
		}
		ok, err := refundable()
		if err == nil && !ok && d.State == StateExpired {
			// What the node recorded may lag the chain (a watch pass that
			// read it before the last blocks): look again before refusing.
			if err = s.watch(ctx, d.ID); err == nil {
				if d, err = s.loadDeal(ctx, d.ID); err == nil {
					ok, err = refundable()
				}
			}
		}
		if err != nil {
			return answer{}, err
		}
		if ok {
			return s.spend(ctx, d, "refund", p.get("psbt"), "")
		}
		if d.State == StateExpired {
			return answer{}, apierr.Conflict("not_funded", "the deal expired unfunded: there is nothing to refund")
		}
	}
	if d.State != StateCreated {
		return answer{}, refuse("cancel", d.State, []string{StateCreated})
	}
	if s.clock.Now().After(d.Until) {
		return answer{}, apierr.Conflict("too_late", "a deal can be cancelled only before payment.until (%s)", formatTime(d.Until))
	}
	d, err = s.transition(ctx, d, Move{From: []string{StateCreated}, To: StateCancelled}, "cancel", "")
	if err != nil {
		return answer{}, err
	}
	return s.dealAnswer(ctx, d, StateCancelled, "Deal cancelled by the seller")
}

var feedbackStatuses = map[string]bool{"positive": true, "neutral": true, "negative": true}

func (s *Service) dealFeedback(ctx context.Context, p *params) (answer, error) {
	d, err := s.findDeal(ctx, p)
	if err != nil {
		return answer{}, err
	}
	status, comments := strings.ToLower(p.get("feedback_status")), p.get("feedback_comments")
	if !feedbackStatuses[status] {
		return answer{}, apierr.BadRequest("bad_feedback_status", "feedback.status must be positive, neutral or negative")
	}
	if len(comments) > 4096 {
		return answer{}, apierr.BadRequest("bad_feedback_comments", "feedback.comments is longer than 4096 bytes")
	}
	if err := s.verifyParty("customer", d.Customer, DealMessage("feedback", d.ID, status, comments), p.get("customer_signature")); err != nil {
		return answer{}, err
	}
	if d.FeedbackStatus != "" {
		return answer{}, apierr.Conflict("feedback_given", "feedback was left already (%s)", d.FeedbackStatus)
	}
	if s.clock.Now().After(d.LeaveBefore) {
		return answer{}, apierr.Conflict("too_late", "feedback can be left only before feedback.leave-before (%s)", formatTime(d.LeaveBefore))
	}
	from := []string{StatePaid, StateCompleted}
	if d.State != StatePaid && d.State != StateCompleted {
		return answer{}, refuse("leave feedback on", d.State, from)
	}
	caller, _ := auth.From(ctx)
	now := s.clock.Now()
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		set, err := s.store.SetFeedback(ctx, d.ID, status, comments, now, from)
		if err != nil {
			return err
		}
		if !set {
			return apierr.Conflict("feedback_given", "feedback was left already or the deal changed state")
		}
		// The feedback rates both parties: the seller by its status, the
		// customer for having seen the deal through.
		if err := s.store.Rate(ctx, d.Seller, status == "positive"); err != nil {
			return err
		}
		if err := s.store.Rate(ctx, d.Customer, true); err != nil {
			return err
		}
		return s.store.AddEvent(ctx, Event{DealID: d.ID, At: now, Action: "feedback", Principal: caller.ID, Detail: status})
	})
	if err != nil {
		return answer{}, err
	}
	if d, err = s.loadDeal(ctx, d.ID); err != nil {
		return answer{}, err
	}
	return s.dealAnswer(ctx, d, "Feedback", "Feedback recorded")
}
