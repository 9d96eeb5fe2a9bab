package dds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

const schemaPath = "../../../shared/conformance/jsonapi-1.0-schema.json"

// jsonapiSchema loads the official JSON:API schema, or returns nil when the
// shared folder is not beside the checkout (a plain clone).
func jsonapiSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("jsonapi.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("jsonapi.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type rawClient struct {
	t      *testing.T
	base   string
	schema *jsonschema.Schema
}

// do sends a request as it is (malformed ones included) and checks the raw
// answer: its status, and that any JSON body is a valid JSON:API document
// (errors included).
func (c *rawClient) do(method, path, token, ctype, body string, want int) map[string]any {
	c.t.Helper()
	cl := client.New(c.base, token)
	req, _ := cl.NewRequest(context.Background(), method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.api+json") {
		return nil
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		c.t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
	}
	if c.schema != nil {
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err := c.schema.Validate(inst); err != nil {
			c.t.Fatalf("%s %s: answer is not a valid JSON:API document: %v\n%s", method, path, err, raw)
		}
	}
	if want >= 400 && want != http.StatusPaymentRequired {
		errs, _ := doc["errors"].([]any)
		if len(errs) == 0 {
			c.t.Fatalf("%s %s: error answer without errors: %s", method, path, raw)
		}
		e := errs[0].(map[string]any)
		if e["detail"] == "" || e["status"] != strconv.Itoa(want) {
			c.t.Fatalf("%s %s: error object %v", method, path, e)
		}
	}
	return doc
}

const ct = "application/vnd.api+json"

func fileDoc(attrs string) string { return `{"data":{"type":"file","attributes":{` + attrs + `}}}` }

func TestBadInputAndConformance(t *testing.T) {
	schema := jsonapiSchema(t)
	if schema == nil {
		t.Log("skipping JSON:API schema checks: " + schemaPath + " is absent (a plain clone)")
	}
	net := testnet.New(t, 1, func(_ int, c *testnet.Setup) { c.DDS.MaxFileSize = 1000 })
	nd := net.Nodes[0]
	c := &rawClient{t: t, base: nd.URL(), schema: schema}
	u, p, a := nd.UserToken, nd.PaymentToken, nd.AdminToken

	ok := c.do("POST", "/files", u, ct, fileDoc(`"name":"a.txt","data":"aGVsbG8=","duration":60,"additional":{"k":"v"}`), 402)
	id := ok["data"].(map[string]any)["id"].(string)
	c.do("POST", "/files", u, "application/json", fileDoc(`"name":"a.txt","data":"aGVsbG8="`), 402)

	for _, tc := range []struct {
		name, token, ctype, body string
		want                     int
	}{
		{"no token", "", ct, fileDoc(`"name":"a","data":""`), 401},
		{"unknown token", "dds_nope", ct, fileDoc(`"name":"a","data":""`), 401},
		{"payment role", p, ct, fileDoc(`"name":"a","data":""`), 403},
		{"wrong media type", u, "text/plain", fileDoc(`"name":"a","data":""`), 415},
		{"media type parameters", u, ct + "; ext=x", fileDoc(`"name":"a","data":""`), 415},
		{"malformed JSON", u, ct, `{"data":{"type":"file",`, 400},
		{"not an object", u, ct, `[1,2]`, 400},
		{"wrong type", u, ct, `{"data":{"type":"payment","attributes":{"name":"a","data":""}}}`, 409},
		{"client id", u, ct, `{"data":{"type":"file","id":"x","attributes":{"name":"a","data":""}}}`, 403},
		{"bad base64", u, ct, fileDoc(`"name":"a","data":"!!!!"`), 400},
		{"truncated base64", u, ct, fileDoc(`"name":"a","data":"aGVsbG8=x"`), 400},
		{"data not a string", u, ct, fileDoc(`"name":"a","data":42`), 400},
		{"missing data", u, ct, fileDoc(`"name":"a"`), 400},
		{"missing name", u, ct, fileDoc(`"data":"aGk="`), 400},
		{"name with slash", u, ct, fileDoc(`"name":"../etc/passwd","data":"aGk="`), 400},
		{"negative duration", u, ct, fileDoc(`"name":"a","data":"aGk=","duration":-5`), 400},
		{"fractional duration", u, ct, fileDoc(`"name":"a","data":"aGk=","duration":1.5`), 400},
		{"string duration", u, ct, fileDoc(`"name":"a","data":"aGk=","duration":"1h"`), 400},
		{"huge duration", u, ct, fileDoc(`"name":"a","data":"aGk=","duration":99999999999999`), 400},
		{"additional not an object", u, ct, fileDoc(`"name":"a","data":"aGk=","additional":[1]`), 400},
		{"too large", u, ct, fileDoc(`"name":"a","data":"` + strings.Repeat("QUFB", 400) + `"`), 413},
	} {
		t.Run("POST /files "+tc.name, func(t *testing.T) {
			c.t = t
			c.do("POST", "/files", tc.token, tc.ctype, tc.body, tc.want)
		})
	}
	c.t = t
	c.do("GET", "/files/nope", u, "", "", 404)
	c.do("GET", "/files/nope/info", u, "", "", 404)
	c.do("GET", "/files/"+id+"/info", nd.NewUser(t), "", "", 404)
	c.do("GET", "/files/"+id+"/info", a, "", "", 200)
	c.do("GET", "/files/"+id, u, "", "", 402)
	patch := func(attrs string) string {
		return `{"data":{"type":"file","id":"` + id + `","attributes":{` + attrs + `}}}`
	}
	c.do("PATCH", "/files/"+id, u, ct, `{"data":{"type":"file","id":"other","attributes":{}}}`, 409)
	c.do("PATCH", "/files/"+id, u, ct, `{"data":`, 400)
	c.do("PATCH", "/files/"+id, u, ct, patch(`"duration":0`), 400)
	c.do("PATCH", "/files/"+id, u, ct, patch(`"data":"aGk="`), 400)
	c.do("PATCH", "/files/nope", u, ct, `{"data":{"type":"file","attributes":{}}}`, 404)
	c.do("PATCH", "/files/"+id, u, ct, patch(`"duration":120`), 402) // pending: re-quoted

	pay := func(attrs string) string { return `{"data":{"type":"payment","attributes":{` + attrs + `}}}` }
	c.do("POST", "/payments", u, ct, pay(`"file_id":"`+id+`","status":"success","amount":1`), 403)
	c.do("POST", "/payments", p, ct, pay(`"status":"success","amount":1`), 400)
	c.do("POST", "/payments", p, ct, pay(`"file_id":"nope","status":"success","amount":1`), 404)
	c.do("POST", "/payments", p, ct, pay(`"file_id":"`+id+`","status":"maybe","amount":1`), 400)
	c.do("POST", "/payments", p, ct, pay(`"file_id":"`+id+`","status":"success","amount":"lots"`), 400)
	c.do("POST", "/payments", p, ct, pay(`"file_id":"`+id+`","status":"success","amount":-1`), 400)
	c.do("POST", "/payments", p, ct, pay(`"file_id":"`+id+`","status":"success","amount":0.0000000001`), 400)
	c.do("POST", "/payments", p, ct, pay(`"file_id":"`+id+`","status":"success"`), 400)
	c.do("POST", "/payments", p, ct, `{"data":{"type":"thing","attributes":{}}}`, 409)
	doc := c.do("POST", "/payments", p, ct, pay(`"file_id":"`+id+`","status":"success","amount":1`), 201)
	payID := doc["data"].(map[string]any)["id"].(string)
	c.do("GET", "/payments/"+payID, p, "", "", 200)
	c.do("GET", "/payments/nope", p, "", "", 404)
	c.do("GET", "/files/"+id+"/info", u, "", "", 200)
	c.do("PATCH", "/files/"+id, u, ct, patch(`"duration":60`), 409) // a paid term cannot shrink
	c.do("PATCH", "/files/"+id, u, ct, patch(`"duration":120`), 200)
	c.do("PATCH", "/files/"+id, u, ct, patch(`"duration":240`), 402)

	for q, want := range map[string]int{
		"from=20261101&to=20261130":   200,
		"from=2026-11-01&to=20261130": 400,
		"from=20261131&to=20261201":   400,
		"from=20261201&to=20261101":   400,
		"to=20261101":                 400,
	} {
		c.do("GET", "/payments/local?"+q, a, "", "", want)
	}
	c.do("GET", "/payments/local?from=20261101&to=20261130", u, "", "", 403)

	// The node is still healthy after all that.
	resp, err := http.Get(nd.URL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	mreq, _ := nd.Admin().NewRequest(context.Background(), http.MethodGet, "/metrics", nil)
	resp, _ = http.DefaultClient.Do(mreq)
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dds_files{state="pending"} 1`, `dds_http_requests_total{code="402",route="POST /files"} 2`, `dds_payments{status="success"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestPaymentIdempotencyConflict(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	f, _ := nd.User().Upload(ctx, "a", strings.NewReader("x"), client.UploadOptions{})
	if _, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: "0.1", IdempotencyKey: "same"}); err != nil {
		t.Fatal(err)
	}
	_, err := nd.Payer().Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: "0.2", IdempotencyKey: "same"})
	apiErr(t, err, http.StatusConflict)
}

// A client that goes away mid-upload leaves nothing behind and the node
// keeps serving.
func TestInterruptedUpload(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	conn, err := net.Dial("tcp", strings.TrimPrefix(nd.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n", nd.UserToken, ct)
	fmt.Fprint(conn, `{"data":{"type":"file","attributes":{"name":"a","data":"`+strings.Repeat("QUFB", 1000))
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	ctx := context.Background()
	if n, _, _ := nd.Blobs.Usage(ctx); n != 0 {
		t.Fatalf("%d blobs after an interrupted upload", n)
	}
	if objs, tmp, err := nd.Blobs.Holdings(ctx); err != nil || objs != 0 || tmp != 0 {
		t.Fatalf("%d objects and %d temporaries after an interrupted upload (%v)", objs, tmp, err)
	}
	if _, err := nd.User().Upload(ctx, "b", strings.NewReader("ok"), client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
}
