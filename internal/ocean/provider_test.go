package ocean_test

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/ocean"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	d, err := e.c.OceanDiscovery(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	addr := e.nd.Key.Address()
	if d.ProviderAddress != addr || d.ProviderAddresses["8996"] != addr || len(d.ChainIDs) != 1 || d.ChainIDs[0] != 8996 || d.Software == "" || d.Version == "" {
		t.Fatalf("discovery: %+v", d)
	}
	for name, want := range map[string][2]string{
		"nonce": {"GET", "/api/services/nonce"}, "encrypt": {"POST", "/api/services/encrypt"},
		"decrypt": {"POST", "/api/services/decrypt"}, "fileinfo": {"POST", "/api/services/fileinfo"},
		"initialize": {"GET", "/api/services/initialize"}, "download": {"GET", "/api/services/download"},
		"create_auth_token": {"GET", "/api/services/createAuthToken"}, "delete_auth_token": {"DELETE", "/api/services/deleteAuthToken"},
	} {
		if d.ServiceEndpoints[name] != want {
			t.Errorf("serviceEndpoints[%s] = %v, want %v", name, d.ServiceEndpoints[name], want)
		}
	}
	// Every advertised route answers something other than 404/405.
	for name, ep := range d.ServiceEndpoints {
		st, _, _ := e.do(ep[0], ep[1], nil)
		if st == http.StatusNotFound || st == http.StatusMethodNotAllowed || st >= 500 {
			t.Errorf("%s %s %s: %d", name, ep[0], ep[1], st)
		}
	}
}

// TestFlow is the whole life of an order: publish a DDO with an encrypted
// file list, nonce, initialize, pay, signed download, and every refusal.
func TestFlow(t *testing.T) {
	e := newEnv(t, allowLoopback)
	ctx := t.Context()
	nft := "0x00000000000000000000000000000000000000a1"
	files := []api.FileObject{{Type: "url", URL: e.files.URL + "/data.csv", Method: "GET", Headers: map[string]string{"X-Secret": "s3cret"}}}
	did := e.publish(nft, files, "1.5", 3600, e.nd.UserToken)
	if did != ocean.MakeDID(nft, 8996) {
		t.Fatalf("did %s", did)
	}

	// The DDO reads back with its files still encrypted.
	b, err := e.c.DDO(ctx, did)
	if err != nil || strings.Contains(string(b), "data.csv") || !strings.Contains(string(b), `"price":"1.5"`) {
		t.Fatalf("ddo: %v %s", err, b)
	}
	if meta, err := e.c.DDOMetadata(ctx, did); err != nil || meta["name"] != "test data" {
		t.Fatalf("metadata: %v %v", err, meta)
	}
	if list, err := e.c.DDOs(ctx, 0, 0); err != nil || list.Total != 1 || len(list.Results) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}

	if n := e.nonce(e.consumer.Address()); n != "0" {
		t.Fatalf("first nonce %q", n)
	}

	// initialize: a provider fee signed by the node.
	ini, err := e.c.OceanInitialize(ctx, api.OceanAccess{DocumentID: did, ServiceID: "access-1", ConsumerAddress: e.consumer.Address()})
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if ini.Datatoken != "0x00000000000000000000000000000000000000d7" || ini.Nonce != "0" || ini.Price != "1.5" {
		t.Fatalf("initialize: %+v", ini)
	}
	fee := ini.ProviderFee
	data, _ := hex.DecodeString(strings.TrimPrefix(fee.ProviderData, "0x"))
	amount, _ := new(big.Int).SetString(fee.ProviderFeeAmount, 10)
	h, err := ocean.ProviderFeeHash(data, fee.ProviderFeeAddress, fee.ProviderFeeToken, amount, fee.ValidUntil)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := hex.DecodeString(strings.TrimPrefix(fee.R, "0x") + strings.TrimPrefix(fee.S, "0x") + hex.EncodeToString([]byte{byte(fee.V)}))
	signer, err := identity.Recover(identity.EthMessageHash(h), sig)
	if err != nil || signer != e.nd.Key.Address() || fee.ProviderFeeAddress != e.nd.Key.Address() || (fee.V != 27 && fee.V != 28) {
		t.Fatalf("fee signed by %s (%v), provider is %s: %+v", signer, err, e.nd.Key.Address(), fee)
	}
	if fee.ValidUntil != testnet_start()+3600 || !strings.Contains(string(data), `"id":"access-1"`) {
		t.Fatalf("fee: %+v %s", fee, data)
	}

	// Unpaid: no order yet.
	_, err = e.download(did, "access-1", "no-such-order", e.consumer, "1", 0)
	wantErr(t, "unknown order", err, 400, "not found")
	if n := e.nonce(e.consumer.Address()); n != "1" { // refused, but signed: its nonce is used
		t.Fatalf("nonce after a refused download %q", n)
	}

	// Underpaid, then paid in full by a second payment.
	part := e.pay(did, "access-1", e.consumer, "1")
	_, err = e.download(did, "access-1", part, e.consumer, "2", 0)
	wantErr(t, "underpaid", err, 402, "not fully paid")
	tx := e.pay(did, "access-1", e.consumer, "0.5")

	// The signed download streams the file.
	b, err = e.download(did, "access-1", tx, e.consumer, "3", 0)
	if err != nil || !bytes.Equal(b, e.content) {
		t.Fatalf("download: %v, %d bytes", err, len(b))
	}
	if n := e.nonce(e.consumer.Address()); n != "3" {
		t.Fatalf("nonce after download %q", n)
	}
	// Range is passed through.
	q := e.downloadQuery(did, "access-1", tx, e.consumer, "4", "0")
	st, b, hdr := e.do("GET", "/api/services/download?"+q.Encode(), nil, "Range", "bytes=16-31")
	if st != http.StatusPartialContent || string(b) != string(e.content[16:32]) || hdr.Get("Content-Range") == "" {
		t.Fatalf("range: %d %q %v", st, b, hdr)
	}
	if !strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment;filename=data.csv") {
		t.Fatalf("content-disposition %q", hdr.Get("Content-Disposition"))
	}

	// Refusals.
	_, err = e.download(did, "access-1", tx, e.consumer, "4", 0)
	wantErr(t, "replayed nonce", err, 400, "nonce")
	_, err = e.download(did, "access-1", tx, e.consumer, "3.5", 0)
	wantErr(t, "lower nonce", err, 400, "nonce")
	q = e.downloadQuery(did, "access-1", tx, e.consumer, "10", "0")
	q.Set("signature", sign(t, e.consumer, "did:op:other", "10"))
	st, b = e.get("/api/services/download", q)
	wantError(t, "signature over another message", st, b, 401, "Invalid signature")
	q.Set("signature", "0x1234")
	st, b = e.get("/api/services/download", q)
	wantError(t, "malformed signature", st, b, 401, "Invalid signature")
	if n := e.nonce(e.consumer.Address()); n != "4" {
		t.Fatalf("a refused signature burned the nonce: %q", n)
	}
	other := mustKey(t, otherHex)
	_, err = e.download(did, "access-1", tx, other, "1", 0)
	wantErr(t, "wrong consumer", err, 400, "not made by consumer")
	// Somebody else's signature for the consumer's address.
	q = e.downloadQuery(did, "access-1", tx, e.consumer, "11", "0")
	q.Set("signature", sign(t, other, did, "11"))
	st, b = e.get("/api/services/download", q)
	wantError(t, "forged consumer", st, b, 401, "Invalid signature")
	_, err = e.download(did, "access-1", tx, e.consumer, "12", 1)
	wantErr(t, "file index", err, 400, "out of range")

	// An order for another document does not buy this one.
	did2 := e.publish("0x00000000000000000000000000000000000000a2", files, "0", 0, e.nd.UserToken)
	tx2 := e.pay(did2, "access-1", e.consumer, "0")
	_, err = e.download(did, "access-1", tx2, e.consumer, "13", 0)
	wantErr(t, "order for another asset", err, 400, "not for asset")
	if b, err = e.download(did2, "access-1", tx2, e.consumer, "14", 0); err != nil || !bytes.Equal(b, e.content) {
		t.Fatalf("free asset: %v", err)
	}

	// The order expires with the service's timeout.
	e.net.Clock.Advance(time.Hour + time.Second)
	_, err = e.download(did, "access-1", tx, e.consumer, "15", 0)
	wantErr(t, "expired order", err, 400, "expired")
	// A timeout of 0 never expires.
	_, err = e.download(did2, "access-1", tx2, e.consumer, "16", 0)
	if err != nil {
		t.Fatalf("timeout 0 expired: %v", err)
	}

	// The node's nonces and orders survive a restart.
	e.nd.Restart(t)
	_, err = e.download(did2, "access-1", tx2, e.consumer, "16", 0)
	wantErr(t, "replay after restart", err, 400, "nonce")
	_, err = e.download(did2, "access-1", tx2, e.consumer, "17", 0)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}

	// The payment shows its order attributes in the Billing face.
	p, err := e.nd.Payer().Payment(ctx, tx)
	if err != nil || p.Extra["document_id"] != did || p.Extra["consumer_address"] != strings.ToLower(e.consumer.Address()) {
		t.Fatalf("payment %+v %v", p, err)
	}
}

func testnet_start() int64 { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix() }

// TestNativeFile sells a DDS file stored on the node itself.
func TestNativeFile(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	content := bytes.Repeat([]byte("native bytes "), 1000)
	f, err := e.nd.User().Upload(ctx, "report.txt", bytes.NewReader(content), client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := []api.FileObject{{Type: "dds", ID: f.ID}}

	// Not stored yet (unpaid upload): cannot be published.
	fl, _ := json.Marshal(api.FileList{Files: files})
	ddo := api.DDO{ChainID: 8996, NFTAddress: "0x00000000000000000000000000000000000000b1", Metadata: map[string]any{"name": "n"},
		Services: []api.DDOService{{ID: "s", Type: "access", Files: e.encrypt(fl), Price: "2"}}}
	publish := func(token string) error {
		_, _, err := e.nd.Client(token).PublishDDO(ctx, ddo)
		return err
	}
	wantErr(t, "pending file", publish(e.nd.UserToken), 400, "no dds content")

	if _, err := e.nd.Payer().Pay(ctx, client.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.PriceExact}); err != nil {
		t.Fatal(err)
	}
	// Someone else may not sell it.
	wantErr(t, "someone else's file", publish(e.nd.NewUser(t)), 400, "no dds content")
	wantErr(t, "anonymous publish", publish(""), 401, "Bearer")
	did := e.publish("0x00000000000000000000000000000000000000b1", files, "2", 0, e.nd.UserToken)
	wantErr(t, "duplicate", publish(e.nd.UserToken), 409, "already published")

	infos, err := e.c.OceanFileInfo(ctx, api.FileInfoRequest{DID: did, ServiceID: "access-1", Checksum: true})
	if err != nil || len(infos) != 1 || !infos[0].Valid ||
		infos[0].ContentLength != "13000" || infos[0].Checksum != f.ContentHash || infos[0].ContentType != "text/plain; charset=utf-8" {
		t.Fatalf("fileinfo: %+v %v", infos, err)
	}
	tx := e.pay(did, "access-1", e.consumer, "2")
	resp, err := e.c.OceanDownload(ctx, e.consumer, api.OceanAccess{DocumentID: did, ServiceID: "access-1", TransferTxID: tx, Nonce: "1"})
	if err != nil {
		t.Fatalf("native download: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, content) || resp.Header.Get("ETag") == "" {
		t.Fatalf("native download: %d bytes %v", len(body), resp.Header)
	}
	q := e.downloadQuery(did, "access-1", tx, e.consumer, "2", "0")
	st, body, _ := e.do("GET", "/api/services/download?"+q.Encode(), nil, "Range", "bytes=0-5")
	if st != 206 || string(body) != "native" {
		t.Fatalf("native range: %d %q", st, body)
	}
	// Direct fileinfo of native content is refused: only through a DDO.
	_, err = e.c.OceanFileInfo(ctx, api.FileInfoRequest{FileObject: api.FileObject{Type: "dds", ID: f.ID}})
	wantErr(t, "direct native fileinfo", err, 400, "published asset")

	// The owner unpublishes; the asset is gone.
	wantErr(t, "stranger unpublished", e.nd.Client(e.nd.NewUser(t)).DeleteDDO(ctx, did), 404, "no such asset of yours")
	if err := e.nd.User().DeleteDDO(ctx, did); err != nil {
		t.Fatalf("unpublish: %v", err)
	}
	_, err = e.c.DDO(ctx, did)
	wantErr(t, "unpublished", err, 404, "Cannot resolve DID")
}

// A DEP-7 asset stored on this node is sold like any file: the native
// "dep7" file type.
func TestNativeDEP7Asset(t *testing.T) {
	e := newEnv(t)
	content := bytes.Repeat([]byte("dep7 asset bytes "), 500)
	sum := sha3.Sum256(content)
	meta := []byte(`{"name":"table.csv","type":"dataset","contentType":"text/csv","contentHash":"` + hex.EncodeToString(sum[:]) + `"}`)
	req, _ := http.NewRequest("POST", e.nd.URL()+"/api/v1/meta/data", bytes.NewReader(meta))
	req.Header.Set("Authorization", "token "+e.nd.UserToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	json.NewDecoder(resp.Body).Decode(&id)
	resp.Body.Close()
	req, _ = http.NewRequest("PUT", e.nd.URL()+"/api/v1/assets/"+id, bytes.NewReader(content))
	req.Header.Set("Authorization", "token "+e.nd.UserToken)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("upload asset: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	did := e.publish("0x00000000000000000000000000000000000000b7", []api.FileObject{{Type: "dep7", ID: id}}, "1", 0, e.nd.UserToken)
	tx := e.pay(did, "access-1", e.consumer, "1")
	resp, err = e.c.OceanDownload(t.Context(), e.consumer, api.OceanAccess{DocumentID: did, ServiceID: "access-1", TransferTxID: tx})
	if err != nil {
		t.Fatalf("dep7 download: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, content) || !strings.Contains(resp.Header.Get("Content-Disposition"), "table.csv") {
		t.Fatalf("dep7 download: %d bytes %v", len(body), resp.Header)
	}
}
