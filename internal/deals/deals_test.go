package deals_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/node"
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

type req struct {
	method, path, ctype, token string
	body                       string
	header                     map[string]string
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func do(t testing.TB, nd *testnet.Node, r req) resp {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	hr, err := http.NewRequest(r.method, nd.URL()+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b, res.Header}
}

type envelope struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Result struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	} `json:"result"`
	Payload string `json:"payload"`
}

// ok checks a successful envelope and returns it with its payload decoded
// and its clear signature checked.
func ok(t testing.TB, nd *testnet.Node, r resp) (envelope, map[string]any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var e envelope
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not an envelope: %v: %s", err, r.body)
	}
	if !e.Result.Success || e.ID == "" {
		t.Fatalf("envelope not successful: %s", r.body)
	}
	signed, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	text := verifyClearSigned(t, nd, signed)
	var m map[string]any
	if err := yaml.Unmarshal(text, &m); err != nil {
		t.Fatalf("payload is not YAML: %v\n%s", err, text)
	}
	return e, m
}

// verifyClearSigned checks a clear-signed text with the public key the node
// publishes, using go-crypto's stock clearsign package.
func verifyClearSigned(t testing.TB, nd *testnet.Node, signed []byte) []byte {
	t.Helper()
	r := do(t, nd, req{method: "GET", path: "/api/v1/signature/key"})
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := clearsign.Decode(signed)
	if b == nil {
		t.Fatalf("not clear-signed:\n%s", signed)
	}
	if h := b.Headers.Get("Hash"); h != "SHA512" {
		t.Errorf("hash %q, want SHA512", h)
	}
	if _, err := b.VerifySignature(ring, nil); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	return b.Plaintext
}

func errOf(t testing.TB, r resp, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != status || e.Error.Message == "" {
		t.Fatalf("not the module's error format: %s", r.body)
	}
	return e.Error.Message
}

func get(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, _ := cur.(map[string]any)
		cur = mm[p]
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func register(t testing.TB, nd *testnet.Node, p party) {
	t.Helper()
	ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/x-www-form-urlencoded", token: nd.UserToken,
		body: form("address", p.addr, "key", p.pub)}))
}

func TestPingTimeAndAuthRequired(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	r := do(t, nd, req{method: "GET", path: "/api/v1/ping"})
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("ping: %d %s", r.status, r.body)
	}
	r = do(t, nd, req{method: "GET", path: "/api/v1/time"})
	var tm struct{ ServerTime int64 }
	if json.Unmarshal(r.body, &tm); tm.ServerTime != testnet.Start.UnixMilli() {
		t.Fatalf("time: %s", r.body)
	}
	errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/help"}), 401)
	errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/help", token: "nope"}), 401)
	errOf(t, do(t, nd, req{path: "/api/v1/account/bogus", token: nd.UserToken}), 404)
	// Help in every payload format.
	r = do(t, nd, req{method: "GET", path: "/api/v1/help?payload=html", token: nd.UserToken})
	if !strings.Contains(string(r.body), "<!DOCTYPE html>") || !strings.Contains(string(r.body), "BEGIN PGP SIGNED MESSAGE") {
		t.Fatalf("help html: %s", r.body)
	}
	r = do(t, nd, req{method: "GET", path: "/api/v1/help?payload=text&pgp=off", token: nd.UserToken})
	if !strings.HasPrefix(string(r.body), "Bitcoin Payment Service") {
		t.Fatalf("help text unsigned: %s", r.body)
	}
	r = do(t, nd, req{method: "POST", path: "/api/v1/help", token: nd.UserToken})
	var env envelope
	if json.Unmarshal(r.body, &env); env.Action != "Help" || !env.Result.Success {
		t.Fatalf("help envelope: %s", r.body)
	}
	signed, _ := base64.StdEncoding.DecodeString(env.Payload)
	if !bytes.Contains(verifyClearSigned(t, nd, signed), []byte("Available actions")) {
		t.Fatal("help payload")
	}
}

func TestAccountsInEveryContentType(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	a, b, c, d := newParty(t), newParty(t), newParty(t), newParty(t)
	tok := nd.UserToken
	// form
	register(t, nd, a)
	// JSON, with bitmessage, email and URL lists
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/json", token: tok,
		body: `{"address": "` + b.addr + `", "key": "` + b.pub + `", "email": "b@example.org", "bitmessage": ["BM-2cXyz"], "url": "account: https://b.example.org trusted: https://t.example.org"}`}))
	if get(m, "account", "email") != "b@example.org" || get(m, "account", "trusted") != "[https://t.example.org]" || get(m, "account", "rating") != "0, 0%" {
		t.Fatalf("json account: %v", m)
	}
	// text/plain line format
	e, m := ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: "text/plain", token: tok,
		body: "bitcoin:" + c.addr + "\n" + c.pub + "\naccount:\n+https://c.example.org\n"}))
	if e.Action != "New" || get(m, "account", "key") != c.pub || get(m, "account", "account") != "[https://c.example.org]" {
		t.Fatalf("text account: %s %v", e.Action, m)
	}
	// multipart
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("address", d.addr)
	mw.WriteField("key", d.pub)
	mw.Close()
	ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: mw.FormDataContentType(), token: tok, body: buf.String()}))
	// status by query, in every payload format
	_, m = ok(t, nd, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=" + d.addr, token: tok}))
	if get(m, "account", "address") != d.addr {
		t.Fatalf("status: %v", m)
	}
	r := do(t, nd, req{method: "GET", path: "/api/v1/account/status?payload=json&address=" + b.addr, token: tok})
	var js map[string]map[string]any
	if json.Unmarshal(r.body, &js); js["account"]["email"] != "b@example.org" {
		t.Fatalf("payload=json: %s", r.body)
	}
	r = do(t, nd, req{method: "GET", path: "/api/v1/account/status?payload=xml&address=" + b.addr, token: tok})
	if !strings.Contains(string(r.body), "<email>b@example.org</email>") {
		t.Fatalf("payload=xml: %s", r.body)
	}
	// refusals
	errOf(t, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/x-www-form-urlencoded", token: tok, body: form("address", a.addr)}), 409)
	if msg := errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/account/status", token: tok}), 400); !strings.Contains(msg, "address parameter") {
		t.Errorf("message %q", msg)
	}
	msg := errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=null", token: tok}), 400)
	if !strings.Contains(msg, "invalid Bitcoin address") {
		t.Errorf("message %q", msg)
	}
	errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=16wrm6zJek6REbxbJSLsBHehn3Lj1vo57t", token: tok}), 400) // mainnet
	e2 := newParty(t)
	errOf(t, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/x-www-form-urlencoded", token: tok, body: form("address", e2.addr, "key", a.pub)}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/account/new", ctype: "text/plain", token: tok, body: e2.addr + "\nwhat is this\n"}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/json", token: tok, body: `{"address": `}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/json", token: tok, body: `{"address": "` + e2.addr + `", "email": "no"}`}), 400)
	// the spec's curl example sends a literal backslash-n
	lit := newParty(t)
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: "text/plain", token: tok, body: lit.addr + `\n` + lit.pub}))
	if get(m, "account", "key") != lit.pub {
		t.Fatalf("literal \\n: %v", m)
	}
	// add: a key is a fact about the address, anyone may add it
	ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: "text/plain", token: tok, body: e2.addr}))
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/account/add?address=" + e2.addr, ctype: "text/plain", token: nd.NewUser(t), body: e2.pub}))
	if get(m, "account", "key") != e2.pub {
		t.Fatalf("add: %v", m)
	}
}

// hmacReq signs a request as the original clients do.
func hmacReq(session, secret, path, body string, nonce int64) map[string]string {
	n := strconv.FormatInt(nonce, 10)
	return map[string]string{"Session": session, "Nonce": n, "Signature": deals.HMACSignature(secret, path, n, []byte(body))}
}

func TestSignedAccountActionsAndHMAC(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	a := newParty(t)
	ok(t, nd, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/json", token: nd.UserToken,
		body: fmt.Sprintf(`{"address": %q, "key": %q, "password": "correct horse battery"}`, a.addr, a.pub)}))
	if _, err := nd.Auth.CheckPassword(context.Background(), a.addr, "correct horse battery"); err != nil {
		t.Fatalf("the account's password does not log in: %v", err)
	}
	today := nw.Clock.Now().Format("2006-01-02")

	// token, line format: the code and its signature
	code := "login-1"
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/account/token?address=" + a.addr, ctype: "text/plain", token: nd.UserToken,
		body: code + "\n" + a.sign(code) + "\n"}))
	bearer, session, secret := get(m, "token", "access_token"), get(m, "token", "session"), get(m, "token", "secret")
	if bearer == "" || session == "" || len(secret) != 64 {
		t.Fatalf("token payload: %v", m)
	}
	// the same signed code again is a replay
	errOf(t, do(t, nd, req{path: "/api/v1/account/token?address=" + a.addr, ctype: "text/plain", token: nd.UserToken,
		body: code + "\n" + a.sign(code) + "\n"}), 409)
	// someone else's signature
	other := newParty(t)
	errOf(t, do(t, nd, req{path: "/api/v1/account/token?address=" + a.addr, ctype: "text/plain", token: nd.UserToken,
		body: "login-2\n" + other.sign("login-2")}), 403)

	// The bearer token is the account's principal: status defaults to it.
	_, m = ok(t, nd, do(t, nd, req{method: "GET", path: "/api/v1/account/status", token: bearer}))
	if get(m, "account", "address") != a.addr {
		t.Fatalf("own status: %v", m)
	}

	// HMAC: accepted, then refused for a bad signature, an old nonce and a replay.
	body := form("address", a.addr)
	now := nw.Clock.Now().UnixMicro()
	h := hmacReq(session, secret, "/api/v1/account/status", body, now)
	ok(t, nd, do(t, nd, req{path: "/api/v1/account/status", ctype: "application/x-www-form-urlencoded", body: body, header: h}))
	errOf(t, do(t, nd, req{path: "/api/v1/account/status", ctype: "application/x-www-form-urlencoded", body: body, header: h}), 401) // replay
	nd.Restart(t)
	errOf(t, do(t, nd, req{path: "/api/v1/account/status", ctype: "application/x-www-form-urlencoded", body: body, header: h}), 401) // replay after restart
	bad := hmacReq(session, secret, "/api/v1/account/status", body, now+1)
	bad["Signature"] = strings.Repeat("0", 64)
	errOf(t, do(t, nd, req{path: "/api/v1/account/status", ctype: "application/x-www-form-urlencoded", body: body, header: bad}), 401)
	old := hmacReq(session, secret, "/api/v1/account/status", body, now-int64(2*time.Minute/time.Microsecond))
	errOf(t, do(t, nd, req{path: "/api/v1/account/status", ctype: "application/x-www-form-urlencoded", body: body, header: old}), 401)
	tampered := hmacReq(session, secret, "/api/v1/account/status", body, now+2)
	errOf(t, do(t, nd, req{path: "/api/v1/account/status", ctype: "application/x-www-form-urlencoded", body: body + "&x=1", header: tampered}), 401)
	// an empty body signs as "null"
	ok(t, nd, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=" + a.addr, header: hmacReq(session, secret, "/api/v1/account/status", "", now+3)}))

	// update, form: date, URLs; the signature covers the rebuilt lines
	msg := today + "\ntrusted:\n+https://friend.example.org"
	upd := form("address", a.addr, "date", today, "url", "trusted:\n+https://friend.example.org", "sign", a.sign(msg))
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/account/update", ctype: "application/x-www-form-urlencoded", token: nd.UserToken, body: upd}))
	if get(m, "account", "trusted") != "[https://friend.example.org]" {
		t.Fatalf("update: %v", m)
	}
	errOf(t, do(t, nd, req{path: "/api/v1/account/update", ctype: "application/x-www-form-urlencoded", token: nd.UserToken, body: upd}), 409)
	// update, line format, removing the URL
	text := today + "\ntrusted:\n-https://friend.example.org"
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/account/update?address=" + a.addr, ctype: "text/plain", token: nd.UserToken, body: text + "\n" + a.sign(text)}))
	if get(m, "account", "trusted") != "" {
		t.Fatalf("update -url: %v", m)
	}
	// a stale date is refused even with a good signature
	stale := "2020-01-01\n+https://x.example.org"
	errOf(t, do(t, nd, req{path: "/api/v1/account/update?address=" + a.addr, ctype: "text/plain", token: nd.UserToken, body: stale + "\n" + a.sign(stale)}), 400)

	// delete: its credentials stop working
	del := today + "\n-account"
	ok(t, nd, do(t, nd, req{path: "/api/v1/account/delete?address=" + a.addr, ctype: "text/plain", token: nd.UserToken, body: del + "\n" + a.sign(del)}))
	errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=" + a.addr, token: bearer}), 401)
	errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=" + a.addr, header: hmacReq(session, secret, "/api/v1/account/status", "", now+4)}), 401)
	errOf(t, do(t, nd, req{method: "GET", path: "/api/v1/account/status?address=" + a.addr, token: nd.UserToken}), 404)
	if _, err := nd.Auth.CheckPassword(context.Background(), a.addr, "correct horse battery"); err == nil {
		t.Fatal("a deleted account's password still logs in")
	}
	// and the address can register again
	register(t, nd, a)
	// A token code has no date: it stays used for ever.
	nw.Clock.Advance(100 * 24 * time.Hour)
	errOf(t, do(t, nd, req{path: "/api/v1/account/token?address=" + a.addr, ctype: "text/plain", token: nd.UserToken,
		body: code + "\n" + a.sign(code) + "\n"}), 409)
}

func dealJSON(order, typ string, date time.Time, seller, customer party, sum string, extra string) string {
	return fmt.Sprintf(`{"order": %q, "type": %q, "at": "http://placard.example.org", "date": %q,
		"seller": {"address": %q}, "customer": {"address": %q}, "payment": {"sum": %s}%s}`,
		order, typ, date.UTC().Format("2006-01-02 15:04:05")+" UTC", seller.addr, customer.addr, sum, extra)
}

func TestDealLifecycle(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	seller, customer := newParty(t), newParty(t)
	register(t, nd, seller)
	register(t, nd, customer)
	tok := nd.UserToken
	now := nw.Clock.Now()

	create := dealJSON("create", "Prepaid", now, seller, customer, "0.00001", "")
	e, m := ok(t, nd, do(t, nd, req{path: "/api/v1/deal", ctype: "application/json", token: tok, body: create}))
	if e.Action != "Created" || get(m, "deal", "order") != "Created" || get(m, "deal", "payment", "sum") != "0.00001 tBTC" ||
		get(m, "deal", "payment", "until") != now.Add(time.Hour).Format("2006-01-02 15:04:05")+" UTC" ||
		get(m, "deal", "feedback", "leave-before") != now.Add(24*time.Hour).Format("2006-01-02 15:04:05")+" UTC" ||
		get(m, "deal", "seller", "rating") != "0, 0%" {
		t.Fatalf("created: %s %v", e.Action, m)
	}
	id, address := get(m, "deal", "id"), get(m, "deal", "payment", "address")
	if !strings.HasPrefix(address, "2") || get(m, "deal", "payment", "redeem") == "" {
		t.Fatalf("payment address %q", address)
	}
	// the same deal again: the same deal and address
	_, m2 := ok(t, nd, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: create}))
	if get(m2, "deal", "payment", "address") != address || get(m2, "deal", "id") != id {
		t.Fatal("the same deal gave another address")
	}
	// a changed field: another address
	_, m3 := ok(t, nd, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok,
		body: dealJSON("create", "Prepaid", now, seller, customer, "0.00002", "")}))
	if get(m3, "deal", "payment", "address") == address {
		t.Fatal("a changed deal gave the same address")
	}
	// the date window
	errOf(t, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: dealJSON("create", "Prepaid", now.Add(time.Hour), seller, customer, "1", "")}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: dealJSON("create", "Prepaid", now.Add(-time.Hour), seller, customer, "1", "")}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: dealJSON("create", "Barter", now, seller, customer, "1", "")}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: dealJSON("create", "Prepaid", now, seller, seller, "1", "")}), 400)
	errOf(t, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: dealJSON("create", "Prepaid", now, seller, newParty(t), "1", "")}), 400)

	// The witness script shown is what the address commits to; anyone can check.
	net, _ := btc.ParseNetwork("testnet")
	addr, _ := net.DecodeAddress(address)
	redeem, _ := hexDecode(get(m, "deal", "payment", "redeem"))
	if !bytes.Equal(addr.ScriptAddress(), btcutil.Hash160(redeem)) {
		t.Fatal("redeem script does not hash to the payment address")
	}

	// Out of order: complete and feedback before payment.
	errOf(t, do(t, nd, req{path: "/api/v1/deal/complete", ctype: "application/json", token: nd.AdminToken, body: `{"id": "` + id + `"}`}), 409)
	fb0 := deals.DealMessage("feedback", id, "neutral", "")
	errOf(t, do(t, nd, req{path: "/api/v1/deal/feedback", ctype: "application/x-www-form-urlencoded", token: tok,
		body: form("id", id, "feedback_status", "neutral", "customer_signature", customer.sign(fb0))}), 409)
	// pay, as YAML, naming the deal by its payment address
	txid := strings.Repeat("ab", 32)
	yamlPay := "deal:\n  order: pay\n  payment:\n    address: " + address + "\n    txid: " + txid + "\n"
	errOf(t, do(t, nd, req{path: "/api/v1/deal", ctype: "text/plain", token: nd.NewUser(t), body: yamlPay}), 403)
	e, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal", ctype: "text/plain", token: tok, body: yamlPay}))
	if get(m, "deal", "order") != "Paying" || get(m, "deal", "payment", "txid") != txid {
		t.Fatalf("pay: %v", m)
	}
	errOf(t, do(t, nd, req{path: "/api/v1/deal", ctype: "text/plain", token: tok, body: yamlPay}), 409)
	// only an admin confirms
	errOf(t, do(t, nd, req{path: "/api/v1/deal/confirm", ctype: "application/x-www-form-urlencoded", token: tok, body: form("id", id)}), 403)
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/confirm", ctype: "application/x-www-form-urlencoded", token: nd.AdminToken, body: form("id", id)}))
	if get(m, "deal", "order") != "Paid" {
		t.Fatalf("confirm: %v", m)
	}
	// cancel is too late now, even signed
	errOf(t, do(t, nd, req{path: "/api/v1/deal/cancel", ctype: "application/x-www-form-urlencoded", token: tok,
		body: form("id", id, "seller_signature", seller.sign(deals.DealMessage("cancel", id)))}), 409)
	// complete: only the creator, a party or an admin
	errOf(t, do(t, nd, req{path: "/api/v1/deal/complete", ctype: "application/json", token: nd.NewUser(t), body: `{"id": "` + id + `"}`}), 403)
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/complete", ctype: "application/json", token: accountToken(t, nd, customer), body: `{"id": "` + id + `"}`}))
	if get(m, "deal", "order") != "Completed" {
		t.Fatalf("complete: %v", m)
	}
	errOf(t, do(t, nd, req{path: "/api/v1/deal/complete", ctype: "application/json", token: nd.AdminToken, body: `{"id": "` + id + `"}`}), 409)
	// feedback: the customer's signature, status and comments
	fb := deals.DealMessage("feedback", id, "positive", "fast and fair")
	errOf(t, do(t, nd, req{path: "/api/v1/deal/feedback", ctype: "application/x-www-form-urlencoded", token: tok,
		body: form("id", id, "feedback_status", "positive", "feedback_comments", "fast and fair", "customer_signature", seller.sign(fb))}), 403)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range [][2]string{{"id", id}, {"feedback_status", "positive"}, {"feedback_comments", "fast and fair"}, {"customer_signature", customer.sign(fb)}} {
		mw.WriteField(kv[0], kv[1])
	}
	mw.Close()
	e, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/feedback", ctype: mw.FormDataContentType(), token: tok, body: buf.String()}))
	if get(m, "deal", "feedback", "status") != "positive" || get(m, "deal", "seller", "rating") != "1, 100%" || get(m, "deal", "customer", "rating") != "1, 100%" {
		t.Fatalf("feedback: %v", m)
	}
	errOf(t, do(t, nd, req{path: "/api/v1/deal/feedback", ctype: mw.FormDataContentType(), token: tok, body: buf.String()}), 409)

	// The payload, signed, verifies at POST /api/v1/signature too.
	signed, _ := base64.StdEncoding.DecodeString(e.Payload)
	e, m = ok(t, nd, do(t, nd, req{path: "/api/v1/signature", ctype: "text/plain", token: tok, body: string(signed)}))
	if e.Action != "Verified" || get(m, "signature", "valid") != "true" {
		t.Fatalf("signature: %v", m)
	}
	errOf(t, do(t, nd, req{path: "/api/v1/signature", ctype: "text/plain", token: tok, body: strings.Replace(string(signed), "positive", "negative", 1)}), 400)

	// Cancel: by the seller's signature only, before payment.until.
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: tok, body: dealJSON("create", "Postpaid", now, seller, customer, "0.5", "")}))
	id2 := get(m, "deal", "id")
	errOf(t, do(t, nd, req{path: "/api/v1/deal/cancel", ctype: "application/json", token: tok, body: `{"id": "` + id2 + `", "seller": {"signature": "` + customer.sign(deals.DealMessage("cancel", id2)) + `"}}`}), 403)
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/cancel", ctype: "application/json", token: tok, body: `{"id": "` + id2 + `", "seller": {"signature": "` + seller.sign(deals.DealMessage("cancel", id2)) + `"}}`}))
	if get(m, "deal", "order") != "Cancelled" {
		t.Fatalf("cancel: %v", m)
	}
	errOf(t, do(t, nd, req{path: "/api/v1/deal/pay", ctype: "application/json", token: tok, body: `{"id": "` + id2 + `", "payment": {"txid": "` + txid + `"}}`}), 409)

	// Overdue: payment after payment.until is refused; the deal is found by its fields.
	id3 := get(m3, "deal", "id")
	nw.Clock.Advance(2 * time.Hour)
	body3 := dealJSON("pay", "Prepaid", now, seller, customer, "0.00002", `, "payment": {"sum": 0.00002, "txid": "`+txid+`"}`)
	errOf(t, do(t, nd, req{path: "/api/v1/deal", ctype: "application/json", token: tok, body: body3}), 409)
	errOf(t, do(t, nd, req{path: "/api/v1/deal/cancel", ctype: "application/json", token: tok, body: `{"id": "` + id3 + `", "seller": {"signature": "` + seller.sign(deals.DealMessage("cancel", id3)) + `"}}`}), 409)
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/status", ctype: "application/json", token: tok, body: `{"id": "` + id3 + `"}`}))
	if get(m, "deal", "order") != "Created" {
		t.Fatalf("status: %v", m)
	}
	// An account with open deals cannot be deleted.
	today := nw.Clock.Now().Format("2006-01-02")
	del := today + "\n-account"
	errOf(t, do(t, nd, req{path: "/api/v1/account/delete?address=" + seller.addr, ctype: "text/plain", token: tok, body: del + "\n" + seller.sign(del)}), 409)
	errOf(t, do(t, nd, req{path: "/api/v1/deal/frobnicate", ctype: "application/json", token: tok, body: `{}`}), 404)
}

func hexDecode(s string) ([]byte, error) {
	var b []byte
	_, err := fmt.Sscanf(s, "%x", &b)
	return b, err
}

// accountToken logs an account in with a signed code.
func accountToken(t testing.TB, nd *testnet.Node, p party) string {
	t.Helper()
	code := fmt.Sprintf("code-%d", time.Now().UnixNano())
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/account/token", ctype: "application/json", token: nd.UserToken,
		body: fmt.Sprintf(`{"address": %q, "code": %q, "sign": %q}`, p.addr, code, p.sign(code))}))
	return get(m, "token", "access_token")
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
	seller, customer := newParty(t), newParty(t)
	register(t, nd, seller)
	register(t, nd, customer)
	yamlDeal := fmt.Sprintf("deal:\n  order: create\n  type: Prepaid\n  at: https://dds.example.org\n  date: %s\n  seller:\n    address: %s\n  customer:\n    address: %s\n  payment:\n    sum: 0.001\n  file: %s\n",
		nw.Clock.Now().Format("2006-01-02 15:04:05")+" UTC", seller.addr, customer.addr, f.ID)
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/deal", ctype: "text/plain", token: nd.UserToken, body: yamlDeal}))
	if get(m, "deal", "file", "id") != f.ID || get(m, "deal", "file", "amount") != f.Amount().String() {
		t.Fatalf("deal file: %v (price %s)", m, f.Amount())
	}
	id := get(m, "deal", "id")
	ok(t, nd, do(t, nd, req{path: "/api/v1/deal/pay", ctype: "application/x-www-form-urlencoded", token: nd.UserToken, body: form("id", id, "payment_txid", strings.Repeat("cd", 32))}))
	if _, err := nd.User().Download(ctx, f.ID, io.Discard); err == nil {
		t.Fatal("downloaded before the payment was confirmed")
	}
	e, _ := ok(t, nd, do(t, nd, req{path: "/api/v1/deal/confirm", ctype: "application/x-www-form-urlencoded", token: nd.AdminToken, body: form("id", id)}))
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
	// A file with no open quote cannot be named by a new deal.
	errOf(t, do(t, nd, req{path: "/api/v1/deal", ctype: "text/plain", token: nd.UserToken, body: strings.Replace(yamlDeal, "0.001", "0.002", 1)}), 400)
}

// GnuPG, a stock OpenPGP implementation, verifies a node's answer with the
// public key the node publishes.
func TestGnuPGVerifiesAnswer(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg not installed")
	}
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	a := newParty(t)
	register(t, nd, a)
	signed := do(t, nd, req{method: "GET", path: "/api/v1/account/status?payload=text&address=" + a.addr, token: nd.UserToken}).body
	pub := do(t, nd, req{method: "GET", path: "/api/v1/signature/key"}).body
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
	seller, customer := newParty(b), newParty(b)
	register(b, nd, seller)
	register(b, nd, customer)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := dealJSON("create", "Prepaid", nw.Clock.Now(), seller, customer, fmt.Sprintf("0.%08d", i+1), "")
		b.SetBytes(int64(len(body)))
		r := do(b, nd, req{path: "/api/v1/deal", ctype: "application/json", token: nd.UserToken, body: body})
		if r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
}

// --bitcoin-network mainnet: mainnet addresses only, escrows start with 3.
func TestMainnetNode(t *testing.T) {
	nw := testnet.New(t, 1, func(i int, c *node.Config) { c.BitcoinNetwork = "mainnet" })
	nd := nw.Nodes[0]
	testnetParty := newParty(t)
	errOf(t, do(t, nd, req{path: "/api/v1/account/new", ctype: "application/x-www-form-urlencoded", token: nd.UserToken,
		body: form("address", testnetParty.addr)}), 400)
	var ps []party
	for range 2 {
		k, _ := btcec.NewPrivateKey()
		a, _ := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), &chaincfg.MainNetParams)
		p := party{k, a.EncodeAddress(), fmt.Sprintf("%x", k.PubKey().SerializeCompressed())}
		register(t, nd, p)
		ps = append(ps, p)
	}
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/deal", ctype: "application/json", token: nd.UserToken,
		body: dealJSON("create", "Prepaid", nw.Clock.Now(), ps[0], ps[1], "0.1", "")}))
	if a := get(m, "deal", "payment", "address"); !strings.HasPrefix(a, "3") || get(m, "deal", "payment", "sum") != "0.1 BTC" {
		t.Fatalf("mainnet deal: %v", m)
	}
	if _, err := node.Open(context.Background(), node.Config{DataDir: t.TempDir(), BitcoinNetwork: "dogecoin"}); err == nil {
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
	c := confirmAll{make(chan deals.PaymentClaim, 1)}
	nw := testnet.New(t, 1, func(i int, cfg *node.Config) { cfg.DealConfirmer = c })
	nd := nw.Nodes[0]
	seller, customer := newParty(t), newParty(t)
	register(t, nd, seller)
	register(t, nd, customer)
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/deal", ctype: "application/json", token: nd.UserToken,
		body: dealJSON("create", "Prepaid", nw.Clock.Now(), seller, customer, "0.25", "")}))
	txid := strings.Repeat("0f", 32)
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/pay", ctype: "application/json", token: nd.UserToken,
		body: `{"id": "` + get(m, "deal", "id") + `", "payment": {"txid": "` + txid + `"}}`}))
	if get(m, "deal", "order") != "Paid" {
		t.Fatalf("pay with a confirming backend: %v", m)
	}
	claim := <-c.claims
	if claim.TxID != txid || claim.Sum != 25_000_000 || claim.Address != get(m, "deal", "payment", "address") {
		t.Fatalf("claim %+v", claim)
	}
}

// Deals and the node's keys survive a restart; racing orders on one deal
// have one winner.
func TestRestartAndRacingOrders(t *testing.T) {
	nw := testnet.New(t, 1)
	nd := nw.Nodes[0]
	seller, customer := newParty(t), newParty(t)
	register(t, nd, seller)
	register(t, nd, customer)
	pubBefore := do(t, nd, req{method: "GET", path: "/api/v1/signature/key"}).body
	create := dealJSON("create", "Prepaid", nw.Clock.Now(), seller, customer, "0.01", "")
	_, m := ok(t, nd, do(t, nd, req{path: "/api/v1/deal", ctype: "application/json", token: nd.UserToken, body: create}))
	id, address := get(m, "deal", "id"), get(m, "deal", "payment", "address")

	const racers = 8
	statuses := make(chan int, racers)
	for i := range racers {
		go func() {
			body := fmt.Sprintf(`{"id": %q, "payment": {"txid": "%064x"}}`, id, i+1)
			statuses <- do(t, nd, req{path: "/api/v1/deal/pay", ctype: "application/json", token: nd.UserToken, body: body}).status
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
	if !bytes.Equal(pubBefore, do(t, nd, req{method: "GET", path: "/api/v1/signature/key"}).body) {
		t.Fatal("the OpenPGP key changed across a restart")
	}
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/create", ctype: "application/json", token: nd.UserToken, body: create}))
	if get(m, "deal", "payment", "address") != address || get(m, "deal", "order") != "Paying" {
		t.Fatalf("after restart: %v", m)
	}
	_, m = ok(t, nd, do(t, nd, req{path: "/api/v1/deal/confirm", ctype: "application/json", token: nd.AdminToken, body: `{"id": "` + id + `"}`}))
	if get(m, "deal", "order") != "Paid" {
		t.Fatalf("confirm after restart: %v", m)
	}
}
