// Package billing is the Billing external API face: the payment processor
// reports payments, and the operator reads what the node is owed per period.
package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/route"
	"github.com/prometheus-dds/dds/internal/store"
)

// Config configures the Billing face; it has no settings yet.
type Config struct{}

// DefaultConfig is the Billing face's configuration.
func DefaultConfig() Config { return Config{} }

// Ledger records payments and adds up statements.
type Ledger interface {
	RecordPayment(ctx context.Context, in ledger.PaymentIn) (ledger.Payment, bool, error)
	Payment(ctx context.Context, id string) (ledger.Payment, error)
	Statement(ctx context.Context, from, to time.Time) (ledger.Statement, error)
	Quote(ctx context.Context, id string) (ledger.Quote, error)
}

// Auth tells who calls.
type Auth interface {
	Bearer(r *http.Request) (auth.Principal, error)
}

// Remote is the network: a payment for a quote another node issued is
// forwarded to that node, as the same principal, and its answer relayed.
type Remote interface {
	PaymentNode(ctx context.Context, fileID string) (string, error) // "": this node
	Forward(w http.ResponseWriter, r *http.Request, node string, p auth.Principal, body []byte) error
	Forwarded(r *http.Request) (p auth.Principal, ok bool)
	// ForwardAny relays the first answer of another node that is not a 404.
	ForwardAny(w http.ResponseWriter, r *http.Request, key string, p auth.Principal) error
}

// Files tells whether a file id names a file.
type Files interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Orders validates an order for a document's service (the Ocean provider
// face answers): an *apierr.Error for an unknown document or service.
type Orders interface {
	DocumentService(r *http.Request, documentID, serviceID string) error
}

// Deps are the face's dependencies.
type Deps struct {
	Ledger Ledger
	Auth   Auth
	Files  Files
	// Orders lets payments name a document's service instead of a file:
	// attributes document_id, service_id and consumer_address (an Ethereum
	// address). They are kept in the payment's attributes, where the face
	// that sells the service finds them; the payment id is the order's id.
	// nil: this node sells no documents' services.
	Orders Orders
	// Remote forwards payments to the node that issued the quote; nil: every
	// payment is recorded here.
	Remote Remote
	Log    *slog.Logger
}

// Service is the Billing face.
type Service struct {
	ledger Ledger
	auth   Auth
	files  Files
	orders Orders
	remote Remote
	log    *slog.Logger
}

// New returns the Billing face.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	return &Service{ledger: deps.Ledger, auth: deps.Auth, files: deps.Files, orders: deps.Orders, remote: deps.Remote, log: deps.Log}, nil
}

// Routes adds the face's routes.
func (s *Service) Routes(mux route.Mux) {
	mux.HandleFunc("POST /payments", s.handle(s.pay, auth.RolePayment, auth.RoleAdmin))
	mux.HandleFunc("GET /payments/{id}", s.handle(s.payment, auth.RolePayment, auth.RoleAdmin))
	mux.HandleFunc("GET /payments/local", s.handle(s.local, auth.RoleAdmin))
}

func (s *Service) handle(h func(http.ResponseWriter, *http.Request) error, roles ...auth.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := jsonapi.CheckAccept(r)
		var p auth.Principal
		if err == nil {
			p, err = s.caller(r)
		}
		if err == nil {
			err = apierr.Forbidden("this needs a token with role %v", roles)
			for _, role := range roles {
				if p.Role == role {
					err = h(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
					break
				}
			}
		}
		if err != nil {
			jsonapi.WriteError(w, s.log, err)
		}
	}
}

// caller is the principal a request acts as: the bearer of its token, or
// the one a peer checked the token of and forwarded the request for.
func (s *Service) caller(r *http.Request) (auth.Principal, error) {
	if s.remote != nil {
		if p, ok := s.remote.Forwarded(r); ok {
			return p, nil
		}
	}
	return s.auth.Bearer(r)
}

// paymentDoc renders a payment, with where its quote stands now (meta.quote:
// price, paid so far, state), so that the payer knows whether the file is
// paid for, what is still owed, or what was paid over.
func (s *Service) paymentDoc(r *http.Request, p ledger.Payment) jsonapi.Document {
	doc := jsonapi.Document{Data: jsonapi.Out{Type: "payment", ID: p.ID, Attributes: api.Payment{
		FileID: p.FileID, Status: p.Status, Amount: p.Amount.Float64(), AmountExact: p.Amount.String(),
		QuoteID: p.QuoteID, Applied: p.QuoteID != "", CreatedAt: p.Created, Extra: p.Attrs,
	}, Links: map[string]string{"self": jsonapi.BaseURL(r) + "/payments/" + p.ID}}}
	if p.QuoteID != "" {
		if q, err := s.ledger.Quote(r.Context(), p.QuoteID); err == nil {
			doc.Meta = map[string]any{"quote": api.PaymentQuote{ID: q.ID, Kind: q.Kind, Price: q.Price.String(), Paid: q.Paid.String(), State: q.State}}
		}
	}
	return doc
}

func (s *Service) pay(w http.ResponseWriter, r *http.Request) error {
	if err := jsonapi.CheckContentType(r); err != nil {
		return err
	}
	body, err := limits.ReadAll(w, r, jsonapi.MaxSmall, "a payment document")
	if err != nil {
		return err
	}
	res, err := jsonapi.Decode(bytes.NewReader(body))
	if err != nil {
		return err
	}
	if res.Type != "file" && res.Type != "payment" {
		return apierr.Conflict("wrong_type", "data.type must be \"payment\" or \"file\", not %q", res.Type).At("/data/type")
	}
	var in ledger.PaymentIn
	order, err := s.orderAttrs(r, res)
	if err != nil {
		return err
	}
	if ok, err := res.Attr("file_id", &in.FileID); err != nil {
		return err
	} else if (!ok || in.FileID == "") && order == nil {
		return apierr.BadRequest("missing_attribute", "attribute \"file_id\" is required").At("/data/attributes/file_id")
	}
	if order != nil {
		in.Attrs = order
	}
	if ok, err := res.Attr("status", &in.Status); err != nil {
		return err
	} else if !ok {
		return apierr.BadRequest("missing_attribute", "attribute \"status\" (success or error) is required").At("/data/attributes/status")
	}
	var amount json.Number
	if ok, err := res.Attr("amount", &amount); err != nil {
		return err
	} else if !ok {
		return apierr.BadRequest("missing_attribute", "attribute \"amount\" is required").At("/data/attributes/amount")
	}
	if in.Amount, err = money.Parse(amount.String()); err != nil {
		return apierr.BadRequest("invalid_attribute", "attribute \"amount\" %q: %v", amount, err).At("/data/attributes/amount")
	}
	in.IdempotencyKey = r.Header.Get("Idempotency-Key")
	var ref string
	if ok, err := res.Attr("reference", &ref); err != nil {
		return err
	} else if ok && in.IdempotencyKey == "" {
		in.IdempotencyKey = "ref:" + ref // the processor's own reference dedups too
	}
	if len(in.IdempotencyKey) > 255 {
		return apierr.BadRequest("invalid_header", "Idempotency-Key may not exceed 255 bytes")
	}
	if in.FileID != "" && s.remote != nil {
		if _, fwd := s.remote.Forwarded(r); !fwd {
			node, err := s.remote.PaymentNode(r.Context(), in.FileID)
			if err != nil {
				return err
			}
			if node != "" {
				p, _ := auth.From(r.Context())
				return s.remote.Forward(w, r, node, p, body)
			}
		}
	}
	if in.FileID != "" {
		if ok, err := s.files.Exists(r.Context(), in.FileID); err != nil {
			return err
		} else if !ok {
			return apierr.NotFound("no file %q", in.FileID).At("/data/attributes/file_id")
		}
	}
	p, dup, err := s.ledger.RecordPayment(r.Context(), in)
	if err != nil {
		return err
	}
	if !dup {
		s.log.Info("payment recorded", "payment", p.ID, "file", p.FileID, "status", p.Status, "amount", p.Amount.String(), "applied_to", p.QuoteID)
	}
	w.Header().Set("Location", "/payments/"+p.ID)
	status := http.StatusCreated
	if dup {
		status = http.StatusOK
	}
	jsonapi.Write(w, status, s.paymentDoc(r, p))
	return nil
}

// orderAttrs reads the order attributes of a payment for a document's
// service; nil when the payment names no document.
func (s *Service) orderAttrs(r *http.Request, res *jsonapi.Resource) (map[string]any, error) {
	var doc string
	if ok, err := res.Attr("document_id", &doc); err != nil || !ok {
		return nil, err
	}
	if s.orders == nil {
		return nil, apierr.BadRequest("invalid_attribute", "this node sells no documents' services").At("/data/attributes/document_id")
	}
	var svc, consumer string
	if ok, err := res.Attr("service_id", &svc); err != nil {
		return nil, err
	} else if !ok || svc == "" {
		return nil, apierr.BadRequest("missing_attribute", "attribute \"service_id\" is required with \"document_id\"").At("/data/attributes/service_id")
	}
	if ok, err := res.Attr("consumer_address", &consumer); err != nil {
		return nil, err
	} else if !ok || !identity.ValidAddress(consumer) {
		return nil, apierr.BadRequest("invalid_attribute", "attribute \"consumer_address\" must be the consumer's 0x-prefixed Ethereum address").At("/data/attributes/consumer_address")
	}
	if err := s.orders.DocumentService(r, doc, svc); err != nil {
		return nil, err
	}
	return map[string]any{"document_id": doc, "service_id": svc, "consumer_address": strings.ToLower(consumer)}, nil
}

func (s *Service) payment(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ledger.Payment(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		// A payment is recorded by the node that held its quote: ask the
		// others (not for an admin, whose token opens only this node).
		if caller, cerr := s.caller(r); cerr == nil && s.remote != nil && !caller.IsAdmin() {
			if _, fwd := s.remote.Forwarded(r); !fwd && s.remote.ForwardAny(w, r, r.PathValue("id"), caller) == nil {
				return nil
			}
		}
		return apierr.NotFound("no payment %q", r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	jsonapi.Write(w, http.StatusOK, s.paymentDoc(r, p))
	return nil
}

func (s *Service) local(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := ledger.ParseDay(q.Get("from"))
	if err != nil {
		return apierr.BadRequest("invalid_parameter", "from: %v; give the first day as yyyymmdd", err).AtParam("from")
	}
	to, err := ledger.ParseDay(q.Get("to"))
	if err != nil {
		return apierr.BadRequest("invalid_parameter", "to: %v; give the last day as yyyymmdd", err).AtParam("to")
	}
	if to.Before(from) {
		return apierr.BadRequest("invalid_parameter", "to (%s) is before from (%s)", q.Get("to"), q.Get("from")).AtParam("to")
	}
	st, err := s.ledger.Statement(r.Context(), from, to.AddDate(0, 0, 1)) // "to" is inclusive
	if err != nil {
		return err
	}
	id := q.Get("from") + "-" + q.Get("to")
	jsonapi.Write(w, http.StatusOK, jsonapi.Document{Data: jsonapi.Out{Type: "local_payment", ID: id, Attributes: api.Statement{
		Amount: st.Amount.Float64(), AmountExact: st.Amount.String(), Size: st.Size, Files: st.Files, From: st.From, To: st.To.Add(-time.Nanosecond),
	}, Links: map[string]string{"self": jsonapi.BaseURL(r) + "/payments/local?from=" + q.Get("from") + "&to=" + q.Get("to")}}})
	return nil
}
