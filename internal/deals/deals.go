package deals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/btc"
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
