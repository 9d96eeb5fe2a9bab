package deals_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus-dds/dds/internal/testtool"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/pgp"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// party is a Bitcoin key holder with a testnet P2PKH address.
type party struct {
	key  *btcec.PrivateKey
	addr string
	pub  string
}

func newParty(t testing.TB) party {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), &chaincfg.TestNet3Params)
	return party{k, a.EncodeAddress(), fmt.Sprintf("%x", k.PubKey().SerializeCompressed())}
}

func (p party) sign(msg string) string { return btc.SignMessage(p.key, msg, true) }

// module is the deal module's client with token, checking every answer's
// clear signature with the public key the node publishes.
func module(t testing.TB, nd *testnet.Node, token string) *client.Deals {
	t.Helper()
	d := nd.Client(token).Deals()
	pub, err := d.PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err = d.WithKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ok checks a successful answer, signed with SHA-512:
// ok(t)(d.Call(...)).
func ok(t testing.TB) func(*client.DealAnswer, error) *client.DealAnswer {
	return func(a *client.DealAnswer, err error) *client.DealAnswer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !a.Result.Success || a.ID == "" {
			t.Fatalf("envelope not successful: %+v", a.DealEnvelope)
		}
		if !bytes.Contains(a.Signed, []byte("\nHash: SHA512\n")) {
			t.Errorf("payload not signed with SHA-512:\n%s", a.Signed)
		}
		return a
	}
}

// fails checks that a call was answered with status, in the module's error
// format, and returns the message: fails(t, 400)(d.Call(...)).
func fails(t testing.TB, status int) func(*client.DealAnswer, error) string {
	return func(_ *client.DealAnswer, err error) string {
		t.Helper()
		return errOf(t, err, status)
	}
}

// errOf checks err is a status answer: an action the module could not carry
// out (the envelope, result.success false, signed) or a request it did not
// understand ({"error": {"code", "message"}}); it returns the message.
func errOf(t testing.TB, err error, status int) string {
	t.Helper()
	var f *client.DealFailure
	if errors.As(err, &f) {
		if f.Status != status {
			t.Fatalf("status %d, want %d: %s", f.Status, status, f.Answer.Result.Message)
		}
		if f.Answer.Result.Success || f.Answer.ID == "" || f.Answer.Result.Message == "" || f.Answer.Doc.Failure == nil ||
			f.Answer.Doc.Failure.Code != strconv.Itoa(status) || f.Answer.Doc.Failure.Message != f.Answer.Result.Message {
			t.Fatalf("not the module's failure envelope: %+v %+v", f.Answer.DealEnvelope, f.Answer.Doc.Failure)
		}
		return f.Answer.Result.Message
	}
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a %d answer", err, status)
	}
	if e.Status != status {
		t.Fatalf("status %d, want %d: %s", e.Status, status, e.Detail)
	}
	if e.Code != strconv.Itoa(status) || e.Detail == "" {
		t.Fatalf("not the module's error format: %s", e.Detail)
	}
	return e.Detail
}

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
	textType = "text/plain"
)

// post sends an action with a body in one of the module's input formats.
func post(d *client.Deals, path, contentType, body string) (*client.DealAnswer, error) {
	return d.Action(context.Background(), http.MethodPost, path, contentType, []byte(body))
}

// payloadAs reads an answer in another payload format (?payload=...).
func payloadAs(t testing.TB, nd *testnet.Node, token, path string) []byte {
	t.Helper()
	c := nd.Client(token)
	req, err := c.NewRequest(context.Background(), http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func register(t testing.TB, d *client.Deals, p party) {
	t.Helper()
	ok(t)(d.AccountNew(context.Background(), api.DealAccountRequest{Address: p.addr, Key: p.pub}))
}

func TestPingTimeAndAuthRequired(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	anon := nd.Client("").Deals()
	if err := anon.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if tm, err := anon.Time(ctx); err != nil || tm.UnixMilli() != testnet.Start.UnixMilli() {
		t.Fatalf("time: %v %v", tm, err)
	}
	fails(t, 401)(anon.Help(ctx))
	fails(t, 401)(nd.Client("nope").Deals().Help(ctx))
	user := module(t, nd, nd.UserToken)
	fails(t, 404)(post(user, "/api/v1/account/bogus", "", ""))
	// Help in every payload format.
	if b := payloadAs(t, nd, nd.UserToken, "/api/v1/help?payload=html"); !strings.Contains(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), "BEGIN PGP SIGNED MESSAGE") {
		t.Fatalf("help html: %s", b)
	}
	if b := payloadAs(t, nd, nd.UserToken, "/api/v1/help?payload=text&pgp=off"); !strings.HasPrefix(string(b), "Bitcoin Payment Service") {
		t.Fatalf("help text unsigned: %s", b)
	}
	help := ok(t)(user.Help(ctx))
	if help.Action != "Help" || !bytes.Contains(help.Text, []byte("Available actions")) {
		t.Fatalf("help envelope: %+v\n%s", help.DealEnvelope, help.Text)
	}
}

func TestAccountsInEveryContentType(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	a, b, c, d := newParty(t), newParty(t), newParty(t), newParty(t)
	tok := nd.UserToken
	user := module(t, nd, tok)
	// form
	ok(t)(post(user, "/api/v1/account/new", formType, form("address", a.addr, "key", a.pub)))
	// JSON, with bitmessage, email and URL lists
	acc := ok(t)(user.AccountNew(ctx, api.DealAccountRequest{Address: b.addr, Key: b.pub, Email: "b@example.org",
		Bitmessage: []string{"BM-2cXyz"}, URL: "account: https://b.example.org trusted: https://t.example.org"})).Doc.Account
	if acc.Email != "b@example.org" || !slices.Equal(acc.Trusted, []string{"https://t.example.org"}) || acc.Rating != "0, 0%" {
		t.Fatalf("json account: %+v", acc)
	}
	// text/plain line format
	e := ok(t)(post(user, "/api/v1/account/new", textType, "bitcoin:"+c.addr+"\n"+c.pub+"\naccount:\n+https://c.example.org\n"))
	if e.Action != "New" || e.Doc.Account.Key != c.pub || !slices.Equal(e.Doc.Account.Account, []string{"https://c.example.org"}) {
		t.Fatalf("text account: %s %+v", e.Action, e.Doc.Account)
	}
	// multipart
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("address", d.addr)
	mw.WriteField("key", d.pub)
	mw.Close()
	ok(t)(post(user, "/api/v1/account/new", mw.FormDataContentType(), buf.String()))
	// status by query, in every payload format
	if got := ok(t)(user.AccountStatus(ctx, d.addr)).Doc.Account; got.Address != d.addr {
		t.Fatalf("status: %+v", got)
	}
	r := payloadAs(t, nd, tok, "/api/v1/account/status?payload=json&address="+b.addr)
	var js map[string]map[string]any
	if json.Unmarshal(r, &js); js["account"]["email"] != "b@example.org" {
		t.Fatalf("payload=json: %s", r)
	}
	r = payloadAs(t, nd, tok, "/api/v1/account/status?payload=xml&address="+b.addr)
	if !strings.Contains(string(r), "<email>b@example.org</email>") {
		t.Fatalf("payload=xml: %s", r)
	}
	// refusals
	fails(t, 409)(post(user, "/api/v1/account/new", formType, form("address", a.addr)))
	if msg := fails(t, 400)(user.AccountStatus(ctx, "")); !strings.Contains(msg, "address parameter") {
		t.Errorf("message %q", msg)
	}
	if msg := fails(t, 400)(user.AccountStatus(ctx, "null")); msg != "Invalid Bitcoin address: null" { // the spec's example
		t.Errorf("message %q", msg)
	}
	fails(t, 400)(user.AccountStatus(ctx, "16wrm6zJek6REbxbJSLsBHehn3Lj1vo57t")) // mainnet
	e2 := newParty(t)
	fails(t, 400)(post(user, "/api/v1/account/new", formType, form("address", e2.addr, "key", a.pub)))
	fails(t, 400)(post(user, "/api/v1/account/new", textType, e2.addr+"\nwhat is this\n"))
	fails(t, 400)(post(user, "/api/v1/account/new", jsonType, `{"address": `))
	fails(t, 400)(user.AccountNew(ctx, api.DealAccountRequest{Address: e2.addr, Email: "no"}))
	// the spec's curl example sends a literal backslash-n
	lit := newParty(t)
	if got := ok(t)(post(user, "/api/v1/account/new", textType, lit.addr+`\n`+lit.pub)).Doc.Account; got.Key != lit.pub {
		t.Fatalf("literal \\n: %+v", got)
	}
	// add: a key is a fact about the address, anyone may add it
	ok(t)(post(user, "/api/v1/account/new", textType, e2.addr))
	if got := ok(t)(post(module(t, nd, nd.NewUser(t)), "/api/v1/account/add?address="+e2.addr, textType, e2.pub)).Doc.Account; got.Key != e2.pub {
		t.Fatalf("add: %+v", got)
	}
}

// hmacSend sends a request with HMAC headers built by hand, for what the
// client never sends: replays, stale nonces, wrong signatures.
func hmacSend(t testing.TB, nd *testnet.Node, session, secret, path, body string, nonce int64, signature string) error {
	t.Helper()
	c := nd.Client("")
	req, err := c.NewRequest(context.Background(), http.MethodPost, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	n := strconv.FormatInt(nonce, 10)
	if signature == "" {
		key, _ := hex.DecodeString(secret)
		signature = api.DealHMAC(key, path, n, []byte(body))
	}
	req.Header.Set("Content-Type", formType)
	req.Header.Set("Session", session)
	req.Header.Set("Nonce", n)
	req.Header.Set("Signature", signature)
	resp, err := c.Do(req, http.StatusOK)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestSignedAccountActionsAndHMAC(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	user := module(t, nd, nd.UserToken)
	a := newParty(t)
	ok(t)(user.AccountNew(ctx, api.DealAccountRequest{Address: a.addr, Key: a.pub, Password: "correct horse battery"}))
	if _, err := nd.Auth.CheckPassword(context.Background(), a.addr, "correct horse battery"); err != nil {
		t.Fatalf("the account's password does not log in: %v", err)
	}
	today := nw.Clock.Now().Format("2006-01-02")

	// token, line format: the code and its signature
	code := "login-1"
	tk := ok(t)(post(user, "/api/v1/account/token?address="+a.addr, textType, code+"\n"+a.sign(code)+"\n")).Doc.Token
	if tk == nil || tk.AccessToken == "" || tk.Session == "" || len(tk.Secret) != 64 {
		t.Fatalf("token payload: %+v", tk)
	}
	bearer, session, secret := tk.AccessToken, tk.Session, tk.Secret
	// the same signed code again is a replay
	fails(t, 409)(post(user, "/api/v1/account/token?address="+a.addr, textType, code+"\n"+a.sign(code)+"\n"))
	// someone else's signature
	other := newParty(t)
	fails(t, 403)(post(user, "/api/v1/account/token?address="+a.addr, textType, "login-2\n"+other.sign("login-2")))

	// The bearer token is the account's principal: status defaults to it.
	if got := ok(t)(module(t, nd, bearer).AccountStatus(ctx, "")).Doc.Account; got.Address != a.addr {
		t.Fatalf("own status: %+v", got)
	}

	// HMAC: accepted, then refused for a replay, a bad signature, an old
	// nonce and a changed body. A new session client's first nonce is the
	// clock's now.
	hs := user.WithSession(client.DealSession{ID: session, Secret: secret, Now: nw.Clock.Now})
	body := form("address", a.addr)
	now := nw.Clock.Now().UnixMicro()
	ok(t)(post(hs, "/api/v1/account/status", formType, body))
	errOf(t, hmacSend(t, nd, session, secret, "/api/v1/account/status", body, now, ""), 401) // replay
	nd.Restart(t)
	errOf(t, hmacSend(t, nd, session, secret, "/api/v1/account/status", body, now, ""), 401) // replay after restart
	errOf(t, hmacSend(t, nd, session, secret, "/api/v1/account/status", body, now+1, strings.Repeat("0", 64)), 401)
	errOf(t, hmacSend(t, nd, session, secret, "/api/v1/account/status", body, now-int64(2*time.Minute/time.Microsecond), ""), 401)
	key, _ := hex.DecodeString(secret)
	tampered := api.DealHMAC(key, "/api/v1/account/status", strconv.FormatInt(now+2, 10), []byte(body))
	errOf(t, hmacSend(t, nd, session, secret, "/api/v1/account/status", body+"&x=1", now+2, tampered), 401)
	// an empty body signs as "null"
	ok(t)(hs.AccountStatus(ctx, a.addr))

	// update, form: date, URLs; the signature covers the rebuilt lines
	msg := today + "\ntrusted:\n+https://friend.example.org"
	upd := form("address", a.addr, "date", today, "url", "trusted:\n+https://friend.example.org", "sign", a.sign(msg))
	if got := ok(t)(post(user, "/api/v1/account/update", formType, upd)).Doc.Account; !slices.Equal(got.Trusted, []string{"https://friend.example.org"}) {
		t.Fatalf("update: %+v", got)
	}
	fails(t, 409)(post(user, "/api/v1/account/update", formType, upd))
	// update, line format, removing the URL
	text := today + "\ntrusted:\n-https://friend.example.org"
	if got := ok(t)(post(user, "/api/v1/account/update?address="+a.addr, textType, text+"\n"+a.sign(text))).Doc.Account; len(got.Trusted) != 0 {
		t.Fatalf("update -url: %+v", got)
	}
	// a stale date is refused even with a good signature
	stale := "2020-01-01\n+https://x.example.org"
	fails(t, 400)(post(user, "/api/v1/account/update?address="+a.addr, textType, stale+"\n"+a.sign(stale)))

	// delete: its credentials stop working
	del := today + "\n-account"
	ok(t)(post(user, "/api/v1/account/delete?address="+a.addr, textType, del+"\n"+a.sign(del)))
	fails(t, 401)(nd.Client(bearer).Deals().AccountStatus(ctx, a.addr))
	fails(t, 401)(hs.AccountStatus(ctx, a.addr))
	fails(t, 404)(user.AccountStatus(ctx, a.addr))
	if _, err := nd.Auth.CheckPassword(context.Background(), a.addr, "correct horse battery"); err == nil {
		t.Fatal("a deleted account's password still logs in")
	}
	// and the address can register again
	register(t, user, a)
	// A token code has no date: it stays used for ever.
	nw.Clock.Advance(100 * 24 * time.Hour)
	// (The answer is signed 100 days ahead of the real clock, which
	// OpenPGP verification refuses: read it without the key.)
	unkeyed := nd.Client(nd.UserToken).Deals()
	fails(t, 409)(post(unkeyed, "/api/v1/account/token?address="+a.addr, textType, code+"\n"+a.sign(code)+"\n"))
}

// dealReq is a deal's identifying fields.
func dealReq(typ string, date time.Time, seller, customer party, sum string) api.DealRequest {
	return api.DealRequest{Type: typ, At: "http://placard.example.org", Date: date.UTC().Format("2006-01-02 15:04:05") + " UTC",
		Seller: &api.DealPartyIn{Address: seller.addr}, Customer: &api.DealPartyIn{Address: customer.addr},
		Payment: &api.DealPayIn{Sum: json.Number(sum)}}
}

func TestDealLifecycle(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	user, admin := module(t, nd, nd.UserToken), module(t, nd, nd.AdminToken)
	seller, customer := newParty(t), newParty(t)
	register(t, user, seller)
	register(t, user, customer)
	now := nw.Clock.Now()

	create := dealReq("Prepaid", now, seller, customer, "0.00001")
	create.Order = "create"
	e := ok(t)(user.Deal(ctx, "", create))
	dl := e.Doc.Deal
	if e.Action != "Created" || dl.Order != "Created" || dl.Payment.Sum != "0.00001 tBTC" ||
		dl.Payment.Until != now.Add(time.Hour).Format("2006-01-02 15:04:05")+" UTC" ||
		dl.Feedback.LeaveBefore != now.Add(24*time.Hour).Format("2006-01-02 15:04:05")+" UTC" ||
		dl.Seller.Rating != "0, 0%" {
		t.Fatalf("created: %s %+v", e.Action, dl)
	}
	id, address := dl.ID, dl.Payment.Address
	if !strings.HasPrefix(address, "2") || dl.Payment.Redeem == "" {
		t.Fatalf("payment address %q", address)
	}
	// the same deal again: the same deal and address
	if d2 := ok(t)(user.CreateDeal(ctx, create)).Doc.Deal; d2.Payment.Address != address || d2.ID != id {
		t.Fatal("the same deal gave another address")
	}
	// a changed field: another address
	d3 := ok(t)(user.CreateDeal(ctx, dealReq("Prepaid", now, seller, customer, "0.00002"))).Doc.Deal
	if d3.Payment.Address == address {
		t.Fatal("a changed deal gave the same address")
	}
	// the date window
	fails(t, 400)(user.CreateDeal(ctx, dealReq("Prepaid", now.Add(time.Hour), seller, customer, "1")))
	fails(t, 400)(user.CreateDeal(ctx, dealReq("Prepaid", now.Add(-time.Hour), seller, customer, "1")))
	fails(t, 400)(user.CreateDeal(ctx, dealReq("Barter", now, seller, customer, "1")))
	fails(t, 400)(user.CreateDeal(ctx, dealReq("Prepaid", now, seller, seller, "1")))
	fails(t, 400)(user.CreateDeal(ctx, dealReq("Prepaid", now, seller, newParty(t), "1")))

	// The witness script shown is what the address commits to; anyone can check.
	net, _ := btc.ParseNetwork("testnet")
	addr, _ := net.DecodeAddress(address)
	redeem, _ := hex.DecodeString(dl.Payment.Redeem)
	if !bytes.Equal(addr.ScriptAddress(), btcutil.Hash160(redeem)) {
		t.Fatal("redeem script does not hash to the payment address")
	}

	// Out of order: complete and feedback before payment.
	fails(t, 409)(admin.CompleteDeal(ctx, id))
	fb0 := deals.DealMessage("feedback", id, "neutral", "")
	fails(t, 409)(post(user, "/api/v1/deal/feedback", formType, form("id", id, "feedback_status", "neutral", "customer_signature", customer.sign(fb0))))
	// pay, as YAML, naming the deal by its payment address
	txid := strings.Repeat("ab", 32)
	yamlPay := "deal:\n  order: pay\n  payment:\n    address: " + address + "\n    txid: " + txid + "\n"
	fails(t, 403)(post(module(t, nd, nd.NewUser(t)), "/api/v1/deal", textType, yamlPay))
	if got := ok(t)(post(user, "/api/v1/deal", textType, yamlPay)).Doc.Deal; got.Order != "Paying" || got.Payment.TxID != txid {
		t.Fatalf("pay: %+v", got)
	}
	fails(t, 409)(post(user, "/api/v1/deal", textType, yamlPay))
	// only an admin confirms
	fails(t, 403)(user.ConfirmDeal(ctx, id))
	if got := ok(t)(admin.ConfirmDeal(ctx, id)).Doc.Deal; got.Order != "Paid" {
		t.Fatalf("confirm: %+v", got)
	}
	// cancel is too late now, even signed
	fails(t, 409)(user.CancelDeal(ctx, id, seller.sign(deals.DealMessage("cancel", id))))
	// complete: only the creator, a party or an admin
	fails(t, 403)(module(t, nd, nd.NewUser(t)).CompleteDeal(ctx, id))
	if got := ok(t)(module(t, nd, accountToken(t, user, customer)).CompleteDeal(ctx, id)).Doc.Deal; got.Order != "Completed" {
		t.Fatalf("complete: %+v", got)
	}
	fails(t, 409)(admin.CompleteDeal(ctx, id))
	// feedback: the customer's signature, status and comments
	fb := deals.DealMessage("feedback", id, "positive", "fast and fair")
	fails(t, 403)(post(user, "/api/v1/deal/feedback", formType,
		form("id", id, "feedback_status", "positive", "feedback_comments", "fast and fair", "customer_signature", seller.sign(fb))))
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range [][2]string{{"id", id}, {"feedback_status", "positive"}, {"feedback_comments", "fast and fair"}, {"customer_signature", customer.sign(fb)}} {
		mw.WriteField(kv[0], kv[1])
	}
	mw.Close()
	e = ok(t)(post(user, "/api/v1/deal/feedback", mw.FormDataContentType(), buf.String()))
	if got := e.Doc.Deal; got.Feedback.Status != "positive" || got.Seller.Rating != "1, 100%" || got.Customer.Rating != "1, 100%" {
		t.Fatalf("feedback: %+v", got)
	}
	fails(t, 409)(post(user, "/api/v1/deal/feedback", mw.FormDataContentType(), buf.String()))
	// The typed call sends the same order.
	fails(t, 409)(user.DealFeedback(ctx, api.DealRequest{ID: id, Feedback: &api.DealReviewIn{Status: "positive", Comments: "fast and fair"},
		Customer: &api.DealPartyIn{Signature: customer.sign(fb)}}))

	// The payload, signed, verifies at POST /api/v1/signature too.
	v := ok(t)(user.VerifySignature(ctx, e.Signed, ""))
	if v.Action != "Verified" || v.Doc.Signature == nil || v.Doc.Signature.Valid != "true" {
		t.Fatalf("signature: %+v", v.Doc.Signature)
	}
	fails(t, 400)(user.VerifySignature(ctx, bytes.Replace(e.Signed, []byte("positive"), []byte("negative"), 1), ""))

	// Cancel: by the seller's signature only, before payment.until.
	id2 := ok(t)(user.CreateDeal(ctx, dealReq("Postpaid", now, seller, customer, "0.5"))).Doc.Deal.ID
	fails(t, 403)(user.CancelDeal(ctx, id2, customer.sign(deals.DealMessage("cancel", id2))))
	if got := ok(t)(user.CancelDeal(ctx, id2, seller.sign(deals.DealMessage("cancel", id2)))).Doc.Deal; got.Order != "Cancelled" {
		t.Fatalf("cancel: %+v", got)
	}
	fails(t, 409)(user.PayDeal(ctx, api.DealRequest{ID: id2, Payment: &api.DealPayIn{TxID: txid}}))

	// Overdue: payment after payment.until is refused; the deal is found by its fields.
	id3 := d3.ID
	nw.Clock.Advance(2 * time.Hour)
	pay3 := dealReq("Prepaid", now, seller, customer, "0.00002")
	pay3.Order, pay3.Payment.TxID = "pay", txid
	fails(t, 409)(user.Deal(ctx, "", pay3))
	fails(t, 409)(user.CancelDeal(ctx, id3, seller.sign(deals.DealMessage("cancel", id3))))
	if got := ok(t)(user.DealStatus(ctx, id3)).Doc.Deal; got.Order != "Created" {
		t.Fatalf("status: %+v", got)
	}
	// An account with open deals cannot be deleted.
	today := nw.Clock.Now().Format("2006-01-02")
	del := today + "\n-account"
	fails(t, 409)(post(user, "/api/v1/account/delete?address="+seller.addr, textType, del+"\n"+seller.sign(del)))
	fails(t, 404)(user.Deal(ctx, "frobnicate", api.DealRequest{}))
}

// accountToken logs an account in with a signed code.
func accountToken(t testing.TB, d *client.Deals, p party) string {
	t.Helper()
	code := fmt.Sprintf("code-%d", time.Now().UnixNano())
	return ok(t)(d.AccountToken(context.Background(), api.DealAccountRequest{Address: p.addr, Code: code, Sign: p.sign(code)})).Doc.Token.AccessToken
}

// A deal pays for a pending DDS file: once the payment is confirmed the
// file is stored exactly as if the payment processor had paid.
func TestDealPaysForDDSFile(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	ctx := context.Background()
	content := bytes.Repeat([]byte("prometheus deal module "), 4096)
	f, err := nd.User().Upload(ctx, "paid-by-deal.txt", bytes.NewReader(content), client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !f.PaymentRequired {
		t.Fatal("upload not pending")
	}
	if _, err := nd.User().Download(ctx, f.ID, io.Discard); err == nil {
		t.Fatal("a pending file downloaded")
	}
	user := module(t, nd, nd.UserToken)
	seller, customer := newParty(t), newParty(t)
	register(t, user, seller)
	register(t, user, customer)
	yamlDeal := fmt.Sprintf("deal:\n  order: create\n  type: Prepaid\n  at: https://dds.example.org\n  date: %s\n  seller:\n    address: %s\n  customer:\n    address: %s\n  payment:\n    sum: 0.001\n  file: %s\n",
		nw.Clock.Now().Format("2006-01-02 15:04:05")+" UTC", seller.addr, customer.addr, f.ID)
	dl := ok(t)(post(user, "/api/v1/deal", textType, yamlDeal)).Doc.Deal
	if dl.File == nil || dl.File.ID != f.ID || dl.File.Amount != f.Amount().String() {
		t.Fatalf("deal file: %+v (price %s)", dl.File, f.Amount())
	}
	ok(t)(user.PayDeal(ctx, api.DealRequest{ID: dl.ID, Payment: &api.DealPayIn{TxID: strings.Repeat("cd", 32)}}))
	if _, err := nd.User().Download(ctx, f.ID, io.Discard); err == nil {
		t.Fatal("downloaded before the payment was confirmed")
	}
	e := ok(t)(module(t, nd, nd.AdminToken).ConfirmDeal(ctx, dl.ID))
	if !strings.Contains(e.Result.Message, "paid") {
		t.Errorf("confirm message %q", e.Result.Message)
	}
	var got bytes.Buffer
	if _, err := nd.User().Download(ctx, f.ID, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatal("downloaded content differs")
	}
	info, err := nd.User().Info(ctx, f.ID)
	if err != nil || info.State != "stored" {
		t.Fatalf("file state %v %v", info, err)
	}
	if n, err := nd.Deals.Counts(ctx); err != nil || n[deals.StatePaid]+n[deals.StateCompleted] != 1 || n[deals.StateCreated] != 0 {
		t.Fatalf("deal counts %v %v", n, err)
	}
	// A file with no open quote cannot be named by a new deal.
	fails(t, 400)(post(user, "/api/v1/deal", textType, strings.Replace(yamlDeal, "0.001", "0.002", 1)))
}

// GnuPG, a stock OpenPGP implementation, verifies a node's answer with the
// public key the node publishes.
func TestGnuPGVerifiesAnswer(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		testtool.Missing(t, "gpg", "apt-get install gnupg")
	}
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	a := newParty(t)
	register(t, module(t, nd, nd.UserToken), a)
	signed := payloadAs(t, nd, nd.UserToken, "/api/v1/account/status?payload=text&address="+a.addr)
	pub, err := nd.Client("").Deals().PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	run := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--no-tty", "--status-fd", "1"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(pub, "--import"); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	// gpg checks signature times against the wall clock; the test node's
	// clock is fake, so let gpg ignore time conflicts.
	out, err := run(signed, "--ignore-time-conflict", "--verify")
	if err != nil || !strings.Contains(out, "GOODSIG") || !strings.Contains(out, "VALIDSIG") {
		t.Fatalf("gpg --verify: %v\n%s\n%s", err, out, signed)
	}
	if out, err := run(bytes.Replace(signed, []byte(a.addr), []byte(newParty(t).addr), 1), "--ignore-time-conflict", "--verify"); err == nil || strings.Contains(out, "GOODSIG") {
		t.Fatalf("gpg accepted a changed answer:\n%s", out)
	}
}

func BenchmarkDealCreate(b *testing.B) {
	nw := testnet.New(b, 1)
	nd := nw.Nodes[0]
	user := nd.Client(nd.UserToken).Deals()
	seller, customer := newParty(b), newParty(b)
	register(b, user, seller)
	register(b, user, customer)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := dealReq("Prepaid", nw.Clock.Now(), seller, customer, fmt.Sprintf("0.%08d", i+1))
		body, _ := json.Marshal(r)
		b.SetBytes(int64(len(body)))
		if _, err := user.CreateDeal(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// --bitcoin-network mainnet: mainnet addresses only, escrows start with 3.
func TestMainnetNode(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1, func(i int, c *testnet.Setup) { c.Deals.Network = "mainnet" })
	nd := nw.Nodes[0]
	user := module(t, nd, nd.UserToken)
	testnetParty := newParty(t)
	fails(t, 400)(user.AccountNew(ctx, api.DealAccountRequest{Address: testnetParty.addr}))
	var ps []party
	for range 2 {
		k, _ := btcec.NewPrivateKey()
		a, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), &chaincfg.MainNetParams)
		p := party{k, a.EncodeAddress(), fmt.Sprintf("%x", k.PubKey().SerializeCompressed())}
		register(t, user, p)
		ps = append(ps, p)
	}
	dl := ok(t)(user.CreateDeal(ctx, dealReq("Prepaid", nw.Clock.Now(), ps[0], ps[1], "0.1"))).Doc.Deal
	if !strings.HasPrefix(dl.Payment.Address, "3") || dl.Payment.Sum != "0.1 BTC" {
		t.Fatalf("mainnet deal: %+v", dl)
	}
	cfg := node.DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.Deals.Network = t.TempDir(), "127.0.0.1:0", "dogecoin"
	if _, err := node.Open(context.Background(), cfg, node.Deps{Log: slog.New(slog.DiscardHandler)}); err == nil {
		t.Fatal("an unknown Bitcoin network was accepted")
	}
}

// confirmAll is a Bitcoin backend that has seen every payment.
type confirmAll struct{ claims chan deals.PaymentClaim }

func (c confirmAll) Confirmed(_ context.Context, p deals.PaymentClaim) (bool, error) {
	c.claims <- p
	return true, nil
}

// With a Confirmer that confirms, pay makes the deal Paid at once.
func TestConfirmerBackend(t *testing.T) {
	ctx := context.Background()
	c := confirmAll{make(chan deals.PaymentClaim, 1)}
	nw := testnet.New(t, 1, func(i int, cfg *testnet.Setup) { cfg.Deps.DealConfirmer = c })
	nd := nw.Nodes[0]
	user := module(t, nd, nd.UserToken)
	seller, customer := newParty(t), newParty(t)
	register(t, user, seller)
	register(t, user, customer)
	id := ok(t)(user.CreateDeal(ctx, dealReq("Prepaid", nw.Clock.Now(), seller, customer, "0.25"))).Doc.Deal.ID
	txid := strings.Repeat("0f", 32)
	dl := ok(t)(user.PayDeal(ctx, api.DealRequest{ID: id, Payment: &api.DealPayIn{TxID: txid}})).Doc.Deal
	if dl.Order != "Paid" {
		t.Fatalf("pay with a confirming backend: %+v", dl)
	}
	claim := <-c.claims
	if claim.TxID != txid || claim.Sum != 25_000_000 || claim.Address != dl.Payment.Address {
		t.Fatalf("claim %+v", claim)
	}
}

// Deals and the node's keys survive a restart; racing orders on one deal
// have one winner.
func TestRestartAndRacingOrders(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	user := module(t, nd, nd.UserToken)
	seller, customer := newParty(t), newParty(t)
	register(t, user, seller)
	register(t, user, customer)
	pubBefore, err := user.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := dealReq("Prepaid", nw.Clock.Now(), seller, customer, "0.01")
	dl := ok(t)(user.CreateDeal(ctx, create)).Doc.Deal
	id, address := dl.ID, dl.Payment.Address

	const racers = 8
	statuses := make(chan int, racers)
	for i := range racers {
		go func() {
			_, err := user.PayDeal(ctx, api.DealRequest{ID: id, Payment: &api.DealPayIn{TxID: fmt.Sprintf("%064x", i+1)}})
			var f *client.DealFailure
			switch {
			case err == nil:
				statuses <- 200
			case errors.As(err, &f):
				statuses <- f.Status
			default:
				statuses <- 0
			}
		}()
	}
	won := 0
	for range racers {
		switch s := <-statuses; s {
		case 200:
			won++
		case 409:
		default:
			t.Errorf("racing pay: status %d", s)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing pays won, want 1", won)
	}

	nd.Restart(t)
	if pub, err := user.PublicKey(ctx); err != nil || !bytes.Equal(pubBefore, pub) {
		t.Fatalf("the OpenPGP key changed across a restart (%v)", err)
	}
	// user still checks answers with the key from before the restart.
	if got := ok(t)(user.CreateDeal(ctx, create)).Doc.Deal; got.Payment.Address != address || got.Order != "Paying" {
		t.Fatalf("after restart: %+v", got)
	}
	if got := ok(t)(module(t, nd, nd.AdminToken).ConfirmDeal(ctx, id)).Doc.Deal; got.Order != "Paid" {
		t.Fatalf("confirm after restart: %+v", got)
	}
}

// The client refuses answers that do not verify with the key it was given.
func TestClientChecksSignature(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	other, _, err := pgp.LoadOrCreate(filepath.Join(t.TempDir(), "other.asc"), "not the node", testnet.Start)
	if err != nil {
		t.Fatal(err)
	}
	d, err := nd.Client(nd.UserToken).Deals().WithKey(other.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Help(context.Background()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("an answer signed by another key was accepted: %v", err)
	}
}
