package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// The deal module face (/api/v1/ping, time, help, account/*, deal/*,
// signature). Every account and deal action answers a DealEnvelope whose
// payload is base64 of an OpenPGP clear-signed YAML document (DealPayload);
// ?payload=text|html|json|xml answers the document itself and ?pgp=off
// leaves it unsigned. Requests carry their parameters as a form, multipart,
// JSON (DealAccountRequest, DealRequest: nested keys and the form's
// "seller_address" are the same parameter) or text/plain (YAML or the line
// format of the help text).

// DealEnvelope is the answer of every account and deal action.
type DealEnvelope struct {
	ID      string     `json:"id"`
	Action  string     `json:"action"` // the action done, in the past tense for deal orders (Created, Paid...)
	Result  DealResult `json:"result"`
	Payload string     `json:"payload,omitempty"` // base64 of the clear-signed YAML document
}

// DealResult says how an action went.
type DealResult struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// DealError is the module's error body: {"error": {"code": 404, "message": "..."}}.
type DealError struct {
	Error DealErrorDetail `json:"error"`
}

// DealErrorDetail is the error: code repeats the HTTP status.
type DealErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// DealTime is the answer of GET /api/v1/time.
type DealTime struct {
	ServerTime int64 `json:"serverTime"` // milliseconds since the epoch
}

// DealHMAC is the Signature header of an HMAC-authenticated request: hex
// HMAC-SHA256 with the session's secret of the path without "/api/v1", the
// Nonce header (microseconds since the epoch) and the body, or "null" when
// there is none.
func DealHMAC(secret []byte, path, nonce string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strings.TrimPrefix(path, "/api/v1")))
	mac.Write([]byte(nonce))
	if len(body) == 0 {
		body = []byte("null")
	}
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// DealAccountRequest is the JSON body of an account action
// (POST /api/v1/account/new|add|update|delete|token, status).
type DealAccountRequest struct {
	Address    string   `json:"address,omitempty"`    // the Bitcoin address: the account
	Key        string   `json:"key,omitempty"`        // hex public key of the address
	PGP        string   `json:"pgp,omitempty"`        // armored OpenPGP public key
	Bitmessage []string `json:"bitmessage,omitempty"` // new only
	Email      string   `json:"email,omitempty"`      // new only
	URL        string   `json:"url,omitempty"`        // "account: +URL trusted: -URL ..."
	Password   string   `json:"password,omitempty"`   // new: a password for the node's Basic auth
	Date       string   `json:"date,omitempty"`       // update, delete: today, yyyy-mm-dd
	Flags      string   `json:"flags,omitempty"`      // delete: "-account"
	Code       string   `json:"code,omitempty"`       // token: any code never signed before
	Sign       string   `json:"sign,omitempty"`       // Bitcoin signed message of the action's lines
}

// DealRequest is the JSON body of a deal order (POST /api/v1/deal with
// "order", or /api/v1/deal/{order}). A deal is named by its id, its payment
// address or all its fields.
type DealRequest struct {
	Order    string        `json:"order,omitempty"` // create, pay, complete, cancel, feedback, status, confirm
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"` // Prepaid or Postpaid
	At       string        `json:"at,omitempty"`   // URL of the site the deal is made at
	Date     string        `json:"date,omitempty"` // "2006-01-02 15:04:05 UTC": now
	Seller   *DealPartyIn  `json:"seller,omitempty"`
	Customer *DealPartyIn  `json:"customer,omitempty"`
	Payment  *DealPayIn    `json:"payment,omitempty"`
	Feedback *DealReviewIn `json:"feedback,omitempty"`
	File     string        `json:"file,omitempty"` // a pending DDS file the deal pays for
	// PSBT is the release (complete) or refund (cancel) the module
	// answered, signed by the seller or the customer: base64 BIP-174.
	PSBT string `json:"psbt,omitempty"`
}

// DealPartyIn is a party of a deal order.
type DealPartyIn struct {
	Address   string `json:"address,omitempty"`
	Signature string `json:"signature,omitempty"` // cancel: the seller's; feedback: the customer's
}

// DealPayIn is the payment part of a deal order.
type DealPayIn struct {
	Address string      `json:"address,omitempty"` // the escrow address: names the deal
	Until   string      `json:"until,omitempty"`
	Sum     json.Number `json:"sum,omitempty"`  // BTC, a decimal number
	TxID    string      `json:"txid,omitempty"` // pay
}

// DealReviewIn is the feedback part of a deal order.
type DealReviewIn struct {
	LeaveBefore string `json:"leave-before,omitempty"`
	Status      string `json:"status,omitempty"` // positive, neutral or negative
	Comments    string `json:"comments,omitempty"`
}

// DealPayload is the signed YAML document of an answer: one of its parts,
// after the action.
type DealPayload struct {
	Account   *DealAccount   `yaml:"account,omitempty"`
	Token     *DealToken     `yaml:"token,omitempty"`
	Deal      *Deal          `yaml:"deal,omitempty"`
	Signature *DealSignature `yaml:"signature,omitempty"`
	Failure   *DealFailure   `yaml:"error,omitempty"`
}

// DealFailure is the payload of an action the module understood but could
// not carry out (result.success false, a 4xx status).
type DealFailure struct {
	Code    string `yaml:"code"`   // the HTTP status
	Reason  string `yaml:"reason"` // machine-readable, snake_case
	Message string `yaml:"message"`
}

// DealAccount is an account.
type DealAccount struct {
	Address    string   `yaml:"address"`
	Key        string   `yaml:"key,omitempty"`
	PGP        string   `yaml:"pgp,omitempty"`
	Bitmessage []string `yaml:"bitmessage,omitempty"`
	Email      string   `yaml:"email,omitempty"`
	Account    []string `yaml:"account,omitempty"` // the account's URLs
	Trusted    []string `yaml:"trusted,omitempty"` // URLs it trusts
	Rating     string   `yaml:"rating,omitempty"`  // "<feedback count>, <positive share>%"
	Created    string   `yaml:"created,omitempty"`
	Updated    string   `yaml:"updated,omitempty"`
	Deleted    string   `yaml:"deleted,omitempty"` // "true" in the answer of delete
}

// DealToken is the answer of account/token: credentials of the account's
// principal.
type DealToken struct {
	Address     string `yaml:"address"`
	AccessToken string `yaml:"access_token"` // Bearer
	Session     string `yaml:"session"`      // HMAC session id
	Secret      string `yaml:"secret"`       // HMAC key, hex
}

// Deal is a deal.
type Deal struct {
	ID       string       `yaml:"id"`
	Order    string       `yaml:"order"` // its state: Created, Paying, Paid, Completed, Cancelled
	Type     string       `yaml:"type"`
	At       string       `yaml:"at"`
	Date     string       `yaml:"date"`
	Seller   DealParty    `yaml:"seller"`
	Customer DealParty    `yaml:"customer"`
	Payment  DealPayment  `yaml:"payment"`
	Feedback DealFeedback `yaml:"feedback"`
	File     *DealFile    `yaml:"file,omitempty"`
	// Canonical is the deal text the escrow commits to (see DealPayment).
	Canonical string `yaml:"canonical"`
}

// DealParty is a party of a deal.
type DealParty struct {
	Address string `yaml:"address"`
	Rating  string `yaml:"rating"`
}

// DealPayment is a deal's escrow: the 2-of-3 address of seller, customer
// and the module key tweaked by the deal, with its scripts. Anyone can
// check the commitment: h = SHA-256(Deal.Canonical) (= DealHash),
// t = SHA-256(ModulePubKey || h), tweaked key = ModulePubKey + t·G
// (= ModuleKey); the witness script is OP_2 and the three compressed keys
// sorted bytewise (BIP-67) then OP_3 OP_CHECKMULTISIG, wrapped in P2SH-P2WSH.
type DealPayment struct {
	Address   string `yaml:"address"`
	Until     string `yaml:"until"`
	Sum       string `yaml:"sum"` // "0.00001 tBTC"
	TxID      string `yaml:"txid,omitempty"`
	Script    string `yaml:"script"`        // witness script, hex
	Redeem    string `yaml:"redeem"`        // redeem script, hex
	ModuleKey string `yaml:"module-key"`    // the tweaked module key, hex
	ModulePub string `yaml:"module-pubkey"` // the untweaked module key, hex
	DealHash  string `yaml:"deal-hash"`     // hex SHA-256 of the canonical deal text
	// Funding and Spend are there when the node watches a Bitcoin node.
	Funding *DealFunding `yaml:"funding,omitempty"`
	Spend   *DealSpend   `yaml:"spend,omitempty"`
}

// DealFunding is what pays a deal's escrow, as the Bitcoin node sees it.
type DealFunding struct {
	Confirmed     string   `yaml:"confirmed"`         // "0.01 tBTC": counted towards the sum
	Pending       string   `yaml:"pending"`           // seen, not yet deep enough
	Confirmations string   `yaml:"confirmations"`     // how deep a payment must be
	Late          string   `yaml:"late,omitempty"`    // arrived after payment.until: refused as payment
	Outputs       []string `yaml:"outputs,omitempty"` // "txid:vout amount, n confirmations[, ...]"
}

// DealSpend is the release (to the seller) or refund (to the customer) of
// a deal's escrow.
type DealSpend struct {
	Kind string `yaml:"kind"`           // release or refund
	PSBT string `yaml:"psbt"`           // base64 BIP-174, signed by the module's tweaked key
	TxID string `yaml:"txid,omitempty"` // once broadcast
}

// DealFeedback is a deal's feedback.
type DealFeedback struct {
	LeaveBefore string `yaml:"leave-before"`
	Status      string `yaml:"status,omitempty"`
	Comments    string `yaml:"comments,omitempty"`
}

// DealFile is the DDS file a deal pays for.
type DealFile struct {
	ID     string `yaml:"id"`
	Amount string `yaml:"amount"` // base units the deal pays the ledger
}

// DealSignature is the answer of POST /api/v1/signature.
type DealSignature struct {
	Valid       string `yaml:"valid"`
	Fingerprint string `yaml:"fingerprint"`
	Signer      string `yaml:"signer"`
	Text        string `yaml:"text"`
}
