package deals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

// Deal states. The answers name them in the past tense, as the original does.
const (
	StateCreated   = "Created"
	StatePaying    = "Paying" // a transaction was named; awaiting confirmation
	StatePaid      = "Paid"
	StateCompleted = "Completed"
	StateCancelled = "Cancelled"
	StateExpired   = "Expired" // payment.until passed with no payment seen (Bitcoin node only)
)

const (
	// MaxDealAge is how old a deal's date may be when it is created.
	MaxDealAge = 5 * time.Minute
	// ClockSkew is how far in the future a deal's date may be.
	ClockSkew = 30 * time.Second
	// DefaultPaymentWindow is payment.until − date unless given.
	DefaultPaymentWindow = time.Hour
	// DefaultFeedbackWindow is feedback.leave-before − date unless given.
	DefaultFeedbackWindow = 24 * time.Hour
)

// Deal is a persisted deal.
type Deal struct {
	ID, State, Type, At             string
	Date, Until, LeaveBefore        time.Time
	Seller, Customer                string
	Sum                             int64 // satoshis
	FileID                          string
	FileAmount                      money.Amount
	Canonical                       string
	Address                         string
	WitnessScript, RedeemScript     string // hex
	ModuleKey                       string // hex, the tweaked module key
	TxID                            string
	FeedbackStatus, FeedbackComment string
	CreatedBy                       string
	Created, Updated                time.Time
	SpendKind, SpendPSBT, SpendTxID string // the release or refund
}

// dealFields are the identifying fields of a deal, as sent.
type dealFields struct {
	Type, At, Seller, Customer, FileID string
	Date, Until, LeaveBefore           time.Time
	Sum                                int64
}

var dealTypes = map[string]string{"prepaid": "Prepaid", "postpaid": "Postpaid"}

// parseDealFields validates the fields that make a deal and fills in the
// defaults of payment.until and feedback.leave-before.
func (s *Service) parseDealFields(p *params) (dealFields, error) {
	var f dealFields
	var ok bool
	if f.Type, ok = dealTypes[strings.ToLower(p.get("type"))]; !ok {
		return f, apierr.BadRequest("bad_type", "type must be Prepaid or Postpaid, got %q", clip(p.get("type")))
	}
	f.At = p.get("at")
	if u, err := url.Parse(f.At); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !singleLine(f.At) || len(f.At) > 2048 {
		return f, apierr.BadRequest("bad_at", "at must be the http(s) URL of the site the deal is made at, got %q", clip(f.At))
	}
	var err error
	if f.Date, err = parseTime(p.get("date")); err != nil {
		return f, apierr.BadRequest("bad_date", "date: %v", err)
	}
	for _, side := range []struct {
		key string
		dst *string
	}{{"seller_address", &f.Seller}, {"customer_address", &f.Customer}} {
		v := p.get(side.key)
		if v == "" {
			return f, apierr.BadRequest("missing_"+side.key, "%s is required", strings.Replace(side.key, "_", ".", 1))
		}
		a, err := s.net.DecodeAddress(v)
		if err != nil {
			return f, apierr.BadRequest("bad_"+side.key, "%s: %v", strings.Replace(side.key, "_", ".", 1), err)
		}
		*side.dst = a.EncodeAddress()
	}
	if f.Seller == f.Customer {
		return f, apierr.BadRequest("same_parties", "the seller and the customer must be different accounts")
	}
	if f.Sum, err = parseBTC(p.get("payment_sum")); err != nil {
		return f, apierr.BadRequest("bad_payment_sum", "payment.sum: %v", err)
	}
	f.Until, f.LeaveBefore = f.Date.Add(DefaultPaymentWindow), f.Date.Add(DefaultFeedbackWindow)
	if v := p.get("payment_until"); v != "" {
		if f.Until, err = parseTime(v); err != nil {
			return f, apierr.BadRequest("bad_payment_until", "payment.until: %v", err)
		}
	}
	if v := p.get("feedback_leave_before"); v != "" {
		if f.LeaveBefore, err = parseTime(v); err != nil {
			return f, apierr.BadRequest("bad_feedback_leave_before", "feedback.leave-before: %v", err)
		}
	}
	if !f.Until.After(f.Date) {
		return f, apierr.BadRequest("bad_payment_until", "payment.until must be after the deal's date")
	}
	if f.LeaveBefore.Before(f.Until) {
		return f, apierr.BadRequest("bad_feedback_leave_before", "feedback.leave-before may not be before payment.until")
	}
	f.FileID = p.get("file")
	if f.FileID != "" && (!singleLine(f.FileID) || len(f.FileID) > 128) {
		return f, apierr.BadRequest("bad_file", "file must be the id of a DDS file")
	}
	return f, nil
}

// canonical is the deal text the id and the escrow address commit to. It is
// written by hand, not by a YAML library, so that it never changes with a
// library version: every value is one line of printable text.
func (f dealFields) canonical() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deal:\n  type: %s\n  at: %s\n  date: %s\n", f.Type, f.At, formatTime(f.Date))
	fmt.Fprintf(&b, "  seller:\n    address: %s\n  customer:\n    address: %s\n", f.Seller, f.Customer)
	fmt.Fprintf(&b, "  payment:\n    until: %s\n    sum: %s\n", formatTime(f.Until), formatBTC(f.Sum))
	fmt.Fprintf(&b, "  feedback:\n    leave-before: %s\n", formatTime(f.LeaveBefore))
	if f.FileID != "" {
		fmt.Fprintf(&b, "  file: %s\n", f.FileID)
	}
	return b.String()
}

func dealID(canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return hex.EncodeToString(h[:16])
}

func singleLine(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return s == strings.TrimSpace(s)
}

// deal dispatches an order. order is the path's, or "" for POST /api/v1/deal
// where the body names it.
func (s *Service) deal(pathOrder string) handlerFunc {
	return func(ctx context.Context, r *http.Request, p *params) (answer, error) {
		order := pathOrder
		if order == "" {
			order = p.get("order")
		}
		switch strings.ToLower(order) {
		case "create":
			return s.dealCreate(ctx, p)
		case "pay":
			return s.dealPay(ctx, p)
		case "confirm":
			return s.dealConfirm(ctx, p)
		case "complete":
			return s.dealComplete(ctx, p)
		case "cancel":
			return s.dealCancel(ctx, p)
		case "feedback":
			return s.dealFeedback(ctx, p)
		case "status":
			d, err := s.findDeal(ctx, p)
			if err != nil {
				return answer{}, err
			}
			return s.dealAnswer(ctx, d, d.State, "Deal "+d.ID+" is "+d.State)
		case "":
			return answer{}, apierr.BadRequest("missing_order", "name the order: create, pay, complete, cancel or feedback")
		}
		return answer{}, apierr.New(http.StatusNotFound, "unknown_order", "unknown order %q: use create, pay, complete, cancel, feedback, status or confirm", clip(order))
	}
}

func (s *Service) partyKey(ctx context.Context, role, address string) ([]byte, error) {
	a, err := s.loadAccount(ctx, address)
	if err != nil {
		return nil, apierr.BadRequest("unknown_"+role, "the %s %s has no account: register it with /api/v1/account/new", role, address)
	}
	if a.PubKey == "" {
		return nil, apierr.BadRequest("no_key_"+role, "the %s %s has no public key on file: add it with /api/v1/account/add (key=...)", role, address)
	}
	return hex.DecodeString(a.PubKey)
}

func (s *Service) dealCreate(ctx context.Context, p *params) (answer, error) {
	f, err := s.parseDealFields(p)
	if err != nil {
		return answer{}, err
	}
	now := s.clock.Now()
	if f.Date.After(now.Add(ClockSkew)) {
		return answer{}, apierr.BadRequest("date_in_future", "the deal's date %s is in the future (server time %s)", formatTime(f.Date), formatTime(now))
	}
	if f.Date.Before(now.Add(-MaxDealAge)) {
		return answer{}, apierr.BadRequest("date_too_old", "the deal's date %s is more than %s old (server time %s): date the deal now", formatTime(f.Date), MaxDealAge, formatTime(now))
	}
	sellerKey, err := s.partyKey(ctx, "seller", f.Seller)
	if err != nil {
		return answer{}, err
	}
	customerKey, err := s.partyKey(ctx, "customer", f.Customer)
	if err != nil {
		return answer{}, err
	}
	var fileAmount money.Amount
	if f.FileID != "" {
		q, err := s.ledger.OpenQuote(ctx, f.FileID)
		if errors.Is(err, store.ErrNotFound) {
			return answer{}, apierr.BadRequest("file_not_pending", "file %s has no open price quote: it is unknown, paid already or its quote expired", f.FileID)
		} else if err != nil {
			return answer{}, err
		}
		fileAmount = q.Price - q.Paid
	}
	canonical := f.canonical()
	id := dealID(canonical)
	hash := sha256.Sum256([]byte(canonical))
	sellerPub, _ := btc.ParsePublicKey(hex.EncodeToString(sellerKey))
	customerPub, _ := btc.ParsePublicKey(hex.EncodeToString(customerKey))
	esc, err := s.net.NewEscrow(sellerPub, customerPub, s.key.Private().PubKey(), hash[:])
	if err != nil {
		return answer{}, apierr.BadRequest("bad_deal", "%v", err)
	}
	caller, _ := auth.From(ctx)
	created := false
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		created, err = s.store.AddDeal(ctx, Deal{ID: id, State: StateCreated, Type: f.Type, At: f.At, Date: f.Date, Seller: f.Seller,
			Customer: f.Customer, Sum: f.Sum, Until: f.Until, LeaveBefore: f.LeaveBefore, FileID: f.FileID, FileAmount: fileAmount,
			Canonical: canonical, Address: esc.Address, WitnessScript: hex.EncodeToString(esc.WitnessScript),
			RedeemScript: hex.EncodeToString(esc.RedeemScript), ModuleKey: hex.EncodeToString(esc.ModuleKey),
			CreatedBy: caller.ID, Created: now, Updated: now})
		if err != nil || !created {
			return err
		}
		return s.store.AddEvent(ctx, Event{DealID: id, At: now, Action: "create", Principal: caller.ID})
	})
	if err != nil {
		return answer{}, err
	}
	d, err := s.loadDeal(ctx, id)
	if err != nil {
		return answer{}, err
	}
	msg := "New deal submitted"
	if !created {
		msg = "The deal exists already: it is " + d.State
	}
	return s.dealAnswer(ctx, d, StateCreated, msg)
}

func (s *Service) loadDeal(ctx context.Context, id string) (Deal, error) {
	d, err := s.store.Deal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, apierr.NotFound("no deal %s", id)
	}
	return d, err
}

// findDeal finds the deal an order is about: by id, by payment address, or
// by its fields (the same fields always make the same deal).
func (s *Service) findDeal(ctx context.Context, p *params) (Deal, error) {
	if id := p.get("id"); id != "" {
		return s.loadDeal(ctx, strings.ToLower(id))
	}
	if addr := p.get("payment_address"); addr != "" {
		d, err := s.store.DealByAddress(ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			return d, apierr.NotFound("no deal pays to %s", addr)
		}
		return d, err
	}
	f, err := s.parseDealFields(p)
	if err != nil {
		return Deal{}, apierr.BadRequest("unknown_deal", "name the deal by id, by payment.address or by all its fields: %v", err.Error())
	}
	return s.loadDeal(ctx, dealID(f.canonical()))
}

// transition moves a deal from one of the states m.From to m.To, recording
// the event in the same transaction. The store checks the state as it
// moves it, so two racing orders cannot both win.
func (s *Service) transition(ctx context.Context, d Deal, m Move, action, detail string) (Deal, error) {
	caller, _ := auth.From(ctx)
	now := s.clock.Now()
	m.At = now
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		moved, cur, err := s.store.MoveDeal(ctx, d.ID, m)
		if err != nil {
			return err
		}
		if !moved {
			return refuse(action, cur, m.From)
		}
		return s.store.AddEvent(ctx, Event{DealID: d.ID, At: now, Action: action, Principal: caller.ID, Detail: detail})
	})
	if err != nil {
		return Deal{}, err
	}
	return s.loadDeal(ctx, d.ID)
}

func refuse(action, state string, from []string) error {
	return apierr.Conflict("bad_state", "cannot %s a deal that is %s: %s needs a deal that is %s", action, state, action, strings.Join(from, " or "))
}

var sumRE = regexp.MustCompile(`^\d{0,9}(\.\d{0,20})?([eE][+-]?\d{1,2})?$`)

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
		if f, err := s.funding(ctx, d); err != nil {
			return answer{}, err
		} else if len(f.spendable)+len(f.lateOuts) > 0 || d.SpendKind != "" {
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

func (s *Service) rating(ctx context.Context, address string) string {
	a, err := s.loadAccount(ctx, address)
	if err != nil {
		return "0, 0%"
	}
	return a.Rating()
}

func (s *Service) dealAnswer(ctx context.Context, d Deal, action, msg string) (answer, error) {
	payment := doc{{"address", d.Address}, {"until", formatTime(d.Until)}, {"sum", formatBTC(d.Sum) + " " + s.net.Unit}}
	if d.TxID != "" {
		payment = append(payment, field{"txid", d.TxID})
	}
	hash := sha256.Sum256([]byte(d.Canonical))
	payment = append(payment, field{"script", d.WitnessScript}, field{"redeem", d.RedeemScript}, field{"module-key", d.ModuleKey},
		field{"module-pubkey", hex.EncodeToString(s.key.Private().PubKey().SerializeCompressed())}, field{"deal-hash", hex.EncodeToString(hash[:])})
	if s.chain != nil {
		f, err := s.funding(ctx, d)
		if err != nil {
			return answer{}, err
		}
		payment = append(payment, field{"funding", f.doc(s)})
		if f.late > 0 && (msg == "" || !strings.Contains(msg, "payment.until")) {
			msg += "; " + formatBTC(f.late) + " " + s.net.Unit + " arrived after payment.until and is refused as payment: cancel to refund it"
		}
	}
	if d.SpendKind != "" {
		spend := doc{{"kind", d.SpendKind}, {"psbt", d.SpendPSBT}}
		if d.SpendTxID != "" {
			spend = append(spend, field{"txid", d.SpendTxID})
		}
		payment = append(payment, field{"spend", spend})
	}
	feedback := doc{{"leave-before", formatTime(d.LeaveBefore)}}
	if d.FeedbackStatus != "" {
		feedback = append(feedback, field{"status", d.FeedbackStatus}, field{"comments", d.FeedbackComment})
	}
	body := doc{{"id", d.ID}, {"order", d.State}, {"type", d.Type}, {"at", d.At}, {"date", formatTime(d.Date)},
		{"seller", doc{{"address", d.Seller}, {"rating", s.rating(ctx, d.Seller)}}},
		{"customer", doc{{"address", d.Customer}, {"rating", s.rating(ctx, d.Customer)}}},
		{"payment", payment}, {"feedback", feedback}}
	if d.FileID != "" {
		body = append(body, field{"file", doc{{"id", d.FileID}, {"amount", d.FileAmount.String()}}})
	}
	body = append(body, field{"canonical", d.Canonical})
	return answer{Action: action, Message: msg, Payload: doc{{"deal", body}}}, nil
}

// formatTime renders times as the original does: "2022-04-11 11:14:46 UTC".
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

var timeLayouts = []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05"}

// parseTime reads a date-time: the original's "2006-01-02 15:04:05 UTC",
// RFC 3339, or milliseconds since the epoch (the spec's time unit).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("missing: use YYYY-MM-DD hh:mm:ss UTC")
	}
	t, err := time.Time{}, fmt.Errorf("%q is not a date-time: use YYYY-MM-DD hh:mm:ss UTC", clip(s))
	if ms, perr := strconv.ParseInt(s, 10, 64); perr == nil && ms >= 0 && ms < 1e14 {
		t, err = time.UnixMilli(ms), nil
	}
	for _, l := range timeLayouts {
		if err == nil {
			break
		}
		if pt, perr := time.Parse(l, s); perr == nil {
			// Go reads an unknown zone abbreviation as a zero offset: only
			// UTC and GMT are unambiguous.
			if zone, _ := pt.Zone(); strings.Contains(l, "MST") && zone != "UTC" && zone != "GMT" {
				return time.Time{}, fmt.Errorf("%q: give the time in UTC (or as an offset, +0300)", clip(s))
			}
			t, err = pt, nil
		}
	}
	if err != nil {
		return t, err
	}
	// Bitcoin did not exist before 2009; four-digit years keep the format.
	if t.Year() < 2009 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range", clip(s))
	}
	return t.UTC().Truncate(time.Second), nil
}

const satPerBTC = 100_000_000

// parseBTC reads a sum in bitcoins ("0.00001", "1e-05", an optional BTC or
// tBTC unit) exactly into satoshis: a JSON client may send a number in any
// notation, but never a fraction of a satoshi.
func parseBTC(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, unit := range []string{"tBTC", "BTC"} {
		s = strings.TrimSpace(strings.TrimSuffix(s, unit))
	}
	bad := fmt.Errorf("%q is not a sum of bitcoins with at most 8 decimals", clip(s))
	// The shape is checked first: big.Rat would happily expand 1e999999999.
	if !sumRE.MatchString(s) || s == "." {
		return 0, bad
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, bad
	}
	r.Mul(r, big.NewRat(satPerBTC, 1))
	if !r.IsInt() {
		return 0, bad
	}
	sat := r.Num()
	if sat.Sign() <= 0 || sat.Cmp(big.NewInt(21_000_000*satPerBTC)) > 0 {
		return 0, fmt.Errorf("%q is out of range: more than 0 and at most 21 million", clip(s))
	}
	return sat.Int64(), nil
}

// formatBTC renders satoshis as bitcoins without trailing zeros.
func formatBTC(sat int64) string {
	s := fmt.Sprintf("%d.%08d", sat/satPerBTC, sat%satPerBTC)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
