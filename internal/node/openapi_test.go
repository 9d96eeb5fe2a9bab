package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// param is a path parameter, in a pattern ({id}, {rest...}) or a template.
var param = regexp.MustCompile(`\{[^}]*\}`)

// normal is a path with its parameters unnamed, "{$}" and a trailing slash
// dropped: the same for a mux pattern and the OpenAPI template it matches.
func normal(path string) string {
	path = strings.ReplaceAll(path, "{$}", "")
	path = param.ReplaceAllString(path, "{}")
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return path
}

// The node serves /openapi.json, a valid OpenAPI 3.1 document that
// documents every route on the node's mux, and nothing the mux lacks.
func TestOpenAPIRoutes(t *testing.T) {
	nd := testnet.New(t, 1, func(_ int, s *testnet.Setup) { s.Pprof = true }).Nodes[0] // every optional route on
	resp, err := http.Get(nd.URL() + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Valid against the OpenAPI 3.1 schema (testdata: the OpenAPI
	// Initiative's schemas/v3.1/schema.json).
	meta, err := os.ReadFile("testdata/openapi-3.1-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	metaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(meta))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi-3.1.json", metaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("openapi-3.1.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("not a valid OpenAPI 3.1 document: %v", err)
	}

	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas         map[string]json.RawMessage `json:"schemas"`
			Responses       map[string]json.RawMessage `json:"responses"`
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Components.Schemas) == 0 {
		t.Fatalf("openapi %q, %d schemas", doc.OpenAPI, len(doc.Components.Schemas))
	}
	for _, s := range []string{"bearer", "basic", "oceanSignature", "dealHMAC", "nodeSignature"} {
		if doc.Components.SecuritySchemes[s] == nil {
			t.Errorf("no security scheme %s", s)
		}
	}
	// Every $ref names a schema or a response the document has.
	for _, m := range regexp.MustCompile(`"#/components/(schemas|responses)/([^"]+)"`).FindAllSubmatch(body, -1) {
		if (string(m[1]) == "schemas" && doc.Components.Schemas[string(m[2])] == nil) ||
			(string(m[1]) == "responses" && doc.Components.Responses[string(m[2])] == nil) {
			t.Errorf("$ref to a missing %s", m[0])
		}
	}

	// documented: normalized path → methods (upper case).
	documented := map[string][]string{}
	var docPaths []string
	for path, item := range doc.Paths {
		docPaths = append(docPaths, path)
		for m := range item {
			documented[normal(path)] = append(documented[normal(path)], strings.ToUpper(m))
		}
	}

	routes := nd.Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes recorded: %v", len(routes), routes)
	}
	type route struct{ method, path string }
	var served []route
	for _, p := range routes {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p
		}
		served = append(served, route{method, path})
	}
	subtree := func(path string) bool { return strings.HasSuffix(path, "/") }

	// Every route is documented. A subtree without a method (what a face
	// answers below its prefix when no route matches) is documented by the
	// paths under it.
	for _, r := range served {
		switch {
		case subtree(r.path):
			found := slices.ContainsFunc(docPaths, func(p string) bool {
				return strings.HasPrefix(p, r.path) && (r.method == "" || slices.Contains(documented[normal(p)], r.method))
			})
			if !found {
				t.Errorf("route %q: nothing documented below it", r.method+" "+r.path)
			}
		case r.method == "":
			if len(documented[normal(r.path)]) == 0 {
				t.Errorf("route %q is not documented", r.path)
			}
		default:
			if !slices.Contains(documented[normal(r.path)], r.method) {
				t.Errorf("route %q is not documented", r.method+" "+r.path)
			}
		}
	}
	// Every documented operation is served: by a route of that path and
	// method (GET serves HEAD), or below a subtree served with that method.
	// A route without a method serves every method only where no route
	// names one: beside those, it is the face's 405 for the others.
	withMethod := map[string]bool{}
	for _, r := range served {
		if r.method != "" {
			withMethod[normal(r.path)] = true
		}
	}
	for path, methods := range documented {
		for _, m := range methods {
			ok := slices.ContainsFunc(served, func(r route) bool {
				methodOK := r.method == m || (m == "HEAD" && r.method == "GET") || (r.method == "" && !withMethod[normal(r.path)])
				if subtree(r.path) && r.method != "" {
					return methodOK && strings.HasPrefix(path+"/", r.path)
				}
				return methodOK && !subtree(r.path) && normal(r.path) == path
			})
			if !ok {
				t.Errorf("documented %s %s: no such route", m, path)
			}
		}
	}
}
