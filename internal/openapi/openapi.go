// Package openapi is the OpenAPI 3.1 document of every face of a node,
// served at /openapi.json. It is built in Go, not kept as a JSON file: the
// schemas are derived from the wire types in package api by reflection, so
// they cannot drift from what the faces write, and the route table below is
// held to the node's mux by internal/node's TestOpenAPIRoutes (every route
// documented, every documented route served).
package openapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sync"
)

// Handler serves the document.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(Document())
	})
}

// Document is the document, as JSON.
var Document = sync.OnceValue(func() []byte {
	b, err := json.MarshalIndent(build(), "", "  ")
	if err != nil {
		panic(err) // only maps, strings and numbers: cannot fail
	}
	return b
})

type doc struct {
	s     schemas
	paths map[string]map[string]any
	errs  map[string]map[string]any // a tag's error answer, by media type
}

// op is one operation being described.
type op struct {
	d *doc
	m map[string]any
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// op starts the operation method path, with its path parameters, the tag's
// error answers, and no security (a public endpoint) until sec says.
func (d *doc) op(method, path, tag, summary string) *op {
	m := map[string]any{"tags": []string{tag}, "summary": summary, "security": []any{},
		"responses": map[string]any{}}
	var params []any
	for _, p := range pathParam.FindAllStringSubmatch(path, -1) {
		params = append(params, map[string]any{"name": p[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	if params != nil {
		m["parameters"] = params
	}
	if d.paths[path] == nil {
		d.paths[path] = map[string]any{}
	}
	d.paths[path][method] = m
	if d.errs[tag] != nil { // the face's error answers, described once under components
		m["responses"].(map[string]any)["4XX"] = map[string]any{"$ref": "#/components/responses/" + tag + "Refused"}
		m["responses"].(map[string]any)["5XX"] = map[string]any{"$ref": "#/components/responses/" + tag + "Failed"}
	}
	return &op{d, m}
}

// errorResponses are the faces' error answers, by name, for components.
func (d *doc) errorResponses() map[string]any {
	out := map[string]any{}
	for tag, content := range d.errs {
		out[tag+"Refused"] = map[string]any{"description": "refused: the body says why and what to do", "content": media(content)}
		out[tag+"Failed"] = map[string]any{"description": "the node could not answer (503 carries Retry-After)", "content": media(content)}
	}
	return out
}

// sec lists the schemes of which any one authorizes the call; "" is none
// (an anonymous call is served too).
func (o *op) sec(schemes ...string) *op {
	var alts []any
	for _, s := range schemes {
		if s == "" {
			alts = append(alts, map[string]any{})
			continue
		}
		alts = append(alts, map[string]any{s: []string{}})
	}
	o.m["security"] = alts
	return o
}

func (o *op) param(in, name, typ, desc string, required bool) *op {
	p, _ := o.m["parameters"].([]any)
	o.m["parameters"] = append(p, map[string]any{"name": name, "in": in, "description": desc, "required": required,
		"schema": map[string]any{"type": typ}})
	return o
}

func (o *op) query(name, typ, desc string) *op    { return o.param("query", name, typ, desc, false) }
func (o *op) header(name, desc string) *op        { return o.param("header", name, "string", desc, false) }
func (o *op) required(name, typ, desc string) *op { return o.param("query", name, typ, desc, true) }

// body sets the request body: media type → schema.
func (o *op) body(desc string, content map[string]any) *op {
	o.m["requestBody"] = map[string]any{"description": desc, "required": true, "content": media(content)}
	return o
}

// resp adds an answer: media type → schema (nil content: no body).
func (o *op) resp(status, desc string, content map[string]any) *op {
	r := map[string]any{"description": desc}
	if content != nil {
		r["content"] = media(content)
	}
	o.m["responses"].(map[string]any)[status] = r
	return o
}

func media(content map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range content {
		out[k] = map[string]any{"schema": v}
	}
	return out
}

// Shorthands for content.
func jsonOf(s map[string]any) map[string]any { return map[string]any{"application/json": s} }

var (
	bytesSchema  = map[string]any{"type": "string", "format": "binary"}
	stringSchema = map[string]any{"type": "string"}
	anySchema    = map[string]any{}
	objectSchema = map[string]any{"type": "object"}
)

func arrayOf(s map[string]any) map[string]any { return map[string]any{"type": "array", "items": s} }

// jsonAPI is the content of a JSON:API document whose primary data is one
// resource (or, with many, a list) of type typ with attrs as attributes.
func jsonAPI(typ string, attrs map[string]any, many bool) map[string]any {
	res := map[string]any{"type": "object", "required": []string{"type"}, "properties": map[string]any{
		"type": map[string]any{"const": typ}, "id": stringSchema, "attributes": attrs,
		"links": map[string]any{"type": "object"}, "meta": objectSchema}}
	data := res
	if many {
		data = arrayOf(res)
	}
	s := map[string]any{"type": "object", "required": []string{"data"}, "properties": map[string]any{
		"data": data, "links": objectSchema, "meta": objectSchema}}
	return map[string]any{"application/vnd.api+json": s}
}

// attrs is an inline attributes object of string-typed fields.
func attrs(required []string, fields map[string]string) map[string]any {
	props := map[string]any{}
	for name, typ := range fields {
		props[name] = map[string]any{"type": typ}
	}
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}
