package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus-dds/dds/api"
)

// Deals is the client of a node's deal module. It authenticates with the
// client's bearer token or, after WithSession, signs each request with an
// HMAC session; after WithKey it checks every answer's clear signature.
type Deals struct {
	c       *Client
	session *DealSession
	key     openpgp.EntityList

	mu        sync.Mutex
	lastNonce int64
}

// DealSession is an HMAC session, from the answer of account/token.
type DealSession struct {
	ID     string           // the Session header
	Secret string           // the HMAC key, hex
	Now    func() time.Time // the clock nonces come from; nil: time.Now
}

// Deals returns the deal module's client, authenticating with c's token.
func (c *Client) Deals() *Deals { return &Deals{c: c} }

// WithSession returns a client that signs its requests with s instead of
// sending the token.
func (d *Deals) WithSession(s DealSession) *Deals {
	return &Deals{c: d.c, session: &s, key: d.key}
}

// WithKey returns a client that verifies every answer's clear signature
// with the node's armored OpenPGP public key (see PublicKey).
func (d *Deals) WithKey(armored []byte) (*Deals, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("deal module key: %w", err)
	}
	return &Deals{c: d.c, session: d.session, key: ring}, nil
}

// DealAnswer is an answer of an account or deal action.
type DealAnswer struct {
	api.DealEnvelope
	Signed []byte          // the payload as sent: clear-signed unless ?pgp=off
	Text   []byte          // the payload's text (YAML, or the help text)
	Doc    api.DealPayload // Text decoded
}

// Ping checks that the module answers ({}).
func (d *Deals) Ping(ctx context.Context) error {
	resp, err := d.get(ctx, "/api/v1/ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeJSON(resp, &struct{}{})
}

// Time is the node's clock.
func (d *Deals) Time(ctx context.Context) (time.Time, error) {
	resp, err := d.get(ctx, "/api/v1/time")
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	var t api.DealTime
	if err := decodeJSON(resp, &t); err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(t.ServerTime), nil
}

// PublicKey is the armored OpenPGP public key the module signs its answers
// with.
func (d *Deals) PublicKey(ctx context.Context) ([]byte, error) {
	resp, err := d.get(ctx, "/api/v1/signature/key")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (d *Deals) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := d.c.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return d.c.Do(req, http.StatusOK)
}

// Help is the module's help text (in Text; Doc stays empty).
func (d *Deals) Help(ctx context.Context) (*DealAnswer, error) {
	return d.send(ctx, http.MethodPost, "/api/v1/help", "", nil, false)
}

// AccountStatus is an account; address "" is the caller's own.
func (d *Deals) AccountStatus(ctx context.Context, address string) (*DealAnswer, error) {
	path := "/api/v1/account/status"
	if address != "" {
		path += "?address=" + url.QueryEscape(address)
	}
	return d.Action(ctx, http.MethodGet, path, "", nil)
}

// AccountNew registers an account.
func (d *Deals) AccountNew(ctx context.Context, r api.DealAccountRequest) (*DealAnswer, error) {
	return d.account(ctx, "new", r)
}

// AccountAdd adds a public key to an account.
func (d *Deals) AccountAdd(ctx context.Context, r api.DealAccountRequest) (*DealAnswer, error) {
	return d.account(ctx, "add", r)
}

// AccountUpdate changes an account's key and URLs (signed by its address).
func (d *Deals) AccountUpdate(ctx context.Context, r api.DealAccountRequest) (*DealAnswer, error) {
	return d.account(ctx, "update", r)
}

// AccountDelete deletes an account (signed by its address).
func (d *Deals) AccountDelete(ctx context.Context, r api.DealAccountRequest) (*DealAnswer, error) {
	return d.account(ctx, "delete", r)
}

// AccountToken logs an account in with a signed code: the answer's
// Doc.Token holds a bearer token and an HMAC session.
func (d *Deals) AccountToken(ctx context.Context, r api.DealAccountRequest) (*DealAnswer, error) {
	return d.account(ctx, "token", r)
}

func (d *Deals) account(ctx context.Context, action string, r api.DealAccountRequest) (*DealAnswer, error) {
	return d.postJSON(ctx, "/api/v1/account/"+action, r)
}

// Deal sends a deal order (create, pay, confirm, complete, cancel, feedback,
// status); order "" sends r.Order in the body to POST /api/v1/deal.
func (d *Deals) Deal(ctx context.Context, order string, r api.DealRequest) (*DealAnswer, error) {
	path := "/api/v1/deal"
	if order != "" {
		path += "/" + url.PathEscape(order)
	}
	return d.postJSON(ctx, path, r)
}

// CreateDeal creates a deal, or answers the same deal if it exists.
func (d *Deals) CreateDeal(ctx context.Context, r api.DealRequest) (*DealAnswer, error) {
	return d.Deal(ctx, "create", r)
}

// PayDeal names the transaction that pays a deal (r.Payment.TxID).
func (d *Deals) PayDeal(ctx context.Context, r api.DealRequest) (*DealAnswer, error) {
	return d.Deal(ctx, "pay", r)
}

// ConfirmDeal confirms a deal's payment (admin).
func (d *Deals) ConfirmDeal(ctx context.Context, id string) (*DealAnswer, error) {
	return d.Deal(ctx, "confirm", api.DealRequest{ID: id})
}

// CompleteDeal completes a paid deal.
func (d *Deals) CompleteDeal(ctx context.Context, id string) (*DealAnswer, error) {
	return d.Deal(ctx, "complete", api.DealRequest{ID: id})
}

// CancelDeal cancels an unpaid deal with the seller's signature of
// "cancel <id>". On a node with a Bitcoin node, cancelling a funded deal
// answers the refund's PSBT, signed by the module (Payment.Spend).
func (d *Deals) CancelDeal(ctx context.Context, id, sellerSignature string) (*DealAnswer, error) {
	return d.Deal(ctx, "cancel", api.DealRequest{ID: id, Seller: &api.DealPartyIn{Signature: sellerSignature}})
}

// ReleaseDeal finishes the release of a completed deal's escrow to the
// seller: psbt is the answer's Payment.Spend.PSBT signed by the customer,
// or by the seller with customerSignature, the customer's Bitcoin signed
// message "complete <id>" (empty: none). The node broadcasts it.
func (d *Deals) ReleaseDeal(ctx context.Context, id, psbt, customerSignature string) (*DealAnswer, error) {
	r := api.DealRequest{ID: id, PSBT: psbt}
	if customerSignature != "" {
		r.Customer = &api.DealPartyIn{Signature: customerSignature}
	}
	return d.Deal(ctx, "complete", r)
}

// RefundDeal finishes the refund of a cancelled deal's escrow to the
// customer, as ReleaseDeal.
func (d *Deals) RefundDeal(ctx context.Context, id, sellerSignature, psbt string) (*DealAnswer, error) {
	return d.Deal(ctx, "cancel", api.DealRequest{ID: id, Seller: &api.DealPartyIn{Signature: sellerSignature}, PSBT: psbt})
}

// DealFeedback leaves the customer's feedback (r.Feedback, signed in
// r.Customer.Signature).
func (d *Deals) DealFeedback(ctx context.Context, r api.DealRequest) (*DealAnswer, error) {
	return d.Deal(ctx, "feedback", r)
}

// DealStatus is a deal.
func (d *Deals) DealStatus(ctx context.Context, id string) (*DealAnswer, error) {
	return d.Deal(ctx, "status", api.DealRequest{ID: id})
}

// VerifySignature has the module check a clear-signed text against its own
// key and, when address names an account with an OpenPGP key, that one.
func (d *Deals) VerifySignature(ctx context.Context, signed []byte, address string) (*DealAnswer, error) {
	path := "/api/v1/signature"
	if address != "" {
		path += "?address=" + url.QueryEscape(address)
	}
	return d.Action(ctx, http.MethodPost, path, "text/plain", signed)
}

func (d *Deals) postJSON(ctx context.Context, path string, v any) (*DealAnswer, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return d.Action(ctx, http.MethodPost, path, "application/json", body)
}

// Action sends any account or deal action with a body in one of the
// module's formats (a form, multipart, JSON, YAML or the line format as
// text/plain) and decodes the envelope and its YAML payload.
func (d *Deals) Action(ctx context.Context, method, path, contentType string, body []byte) (*DealAnswer, error) {
	return d.send(ctx, method, path, contentType, body, true)
}

func (d *Deals) send(ctx context.Context, method, path, contentType string, body []byte, decode bool) (*DealAnswer, error) {
	req, err := d.c.NewRequest(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if d.session != nil {
		req.Header.Del("Authorization")
		secret, err := hex.DecodeString(d.session.Secret)
		if err != nil {
			return nil, fmt.Errorf("deal session secret: %w", err)
		}
		nonce := strconv.FormatInt(d.nonce(), 10)
		req.Header.Set("Session", d.session.ID)
		req.Header.Set("Nonce", nonce)
		req.Header.Set("Signature", api.DealHMAC(secret, req.URL.Path, nonce, body))
	}
	resp, err := d.c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	a := &DealAnswer{}
	var failure error
	if resp.StatusCode != http.StatusOK {
		// A 4xx in the envelope is an action the module could not carry
		// out; anything else is the module's {"error": ...}.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode >= 500 || json.Unmarshal(body, &a.DealEnvelope) != nil || a.ID == "" || a.Result.Success {
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return nil, readError(resp)
		}
		failure = &DealFailure{Status: resp.StatusCode, Answer: a}
	} else if err := decodeJSON(resp, &a.DealEnvelope); err != nil {
		return nil, err
	}
	if a.Signed, err = base64.StdEncoding.DecodeString(a.Payload); err != nil {
		return nil, fmt.Errorf("%s: the payload is not base64: %w", path, err)
	}
	if a.Text, err = d.open(a.Signed); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !decode {
		return a, failure
	}
	if err := yaml.Unmarshal(a.Text, &a.Doc); err != nil {
		return nil, fmt.Errorf("%s: the payload is not the module's YAML: %w", path, err)
	}
	return a, failure
}

// DealFailure is an action the module understood but could not carry out:
// a 4xx answered in the envelope with result.success false, the reason in
// result.message and a signed payload.
type DealFailure struct {
	Status int
	Answer *DealAnswer
}

func (e *DealFailure) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Answer.Result.Message)
}

// open returns the text of a payload, checking its clear signature with the
// node's key when the client has it.
func (d *Deals) open(signed []byte) ([]byte, error) {
	b, _ := clearsign.Decode(signed)
	if b == nil {
		if d.key != nil {
			return nil, errors.New("the payload is not clear-signed")
		}
		return signed, nil // ?pgp=off
	}
	if d.key != nil {
		if _, err := b.VerifySignature(d.key, nil); err != nil {
			return nil, fmt.Errorf("the payload's signature does not verify with the node's key: %w", err)
		}
	}
	return b.Plaintext, nil
}

// nonce is the next HMAC nonce: the session's clock in microseconds, made
// to increase, since the module refuses a nonce it has seen.
func (d *Deals) nonce() int64 {
	now := time.Now
	if d.session.Now != nil {
		now = d.session.Now
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastNonce = max(now().UnixMicro(), d.lastNonce+1)
	return d.lastNonce
}
