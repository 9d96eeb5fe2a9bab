package deals

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// maxBody caps a request body: deal documents, keys and signatures are small.
const maxBody = 1 << 20

// maxValues caps how many parameters one request may carry.
const maxValues = 256

// params are a request's parameters, from the query string and the body,
// flattened to lower-case keys joined by '_' ("seller.address" and the form
// field "seller_address" are the same parameter).
type params struct {
	vals map[string][]string
	text string // a text/plain body that is not a YAML mapping: the line format
	raw  bool   // whether text holds a line-format body
}

func (p *params) get(key string) string {
	if v := p.vals[key]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

func (p *params) all(key string) []string { return p.vals[key] }

func (p *params) add(key, val string) error {
	key = normKey(key)
	if key == "" {
		return nil
	}
	n := 0
	for _, v := range p.vals {
		n += len(v)
	}
	if n >= maxValues {
		return apierr.BadRequest("too_many_parameters", "more than %d parameters", maxValues)
	}
	p.vals[key] = append(p.vals[key], val)
	return nil
}

func normKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	return strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(k)
}

// parseParams reads the parameters of a request whose body has been read.
// yamlText says whether a text/plain body is a YAML document (deals) or may
// be the line format (accounts).
func parseParams(query url.Values, contentType string, body []byte, yamlText bool) (*params, error) {
	p := &params{vals: map[string][]string{}}
	for k, vs := range query {
		for _, v := range vs {
			if err := p.add(k, v); err != nil {
				return nil, err
			}
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	mt, mp, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, apierr.BadRequest("bad_form", "the form body does not parse: %v", err)
		}
		for k, vs := range vals {
			for _, v := range vs {
				if err := p.add(k, v); err != nil {
					return nil, err
				}
			}
		}
	case "multipart/form-data":
		if err := p.multipart(body, mp["boundary"]); err != nil {
			return nil, err
		}
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, apierr.BadRequest("bad_json", "the JSON body does not parse: %v", err)
		}
		if dec.More() {
			return nil, apierr.BadRequest("bad_json", "the JSON body holds more than one value")
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, apierr.BadRequest("bad_json", "the JSON body must be an object")
		}
		if err := p.flattenJSON("", unwrap(obj), 0); err != nil {
			return nil, err
		}
	default: // text/plain and anything unlabelled: YAML or the line format
		var doc yaml.Node
		yerr := yaml.Unmarshal(body, &doc)
		isMap := yerr == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode
		if isMap && (yamlText || knownAccountYAML(doc.Content[0])) {
			m := doc.Content[0]
			if len(m.Content) == 2 && (m.Content[0].Value == "deal" || m.Content[0].Value == "account") && m.Content[1].Kind == yaml.MappingNode {
				m = m.Content[1]
			}
			if err := p.flattenYAML("", m, 0); err != nil {
				return nil, err
			}
			return p, nil
		}
		if yamlText {
			msg := "the body must be a YAML mapping (deal: ...)"
			if yerr != nil {
				msg = "the YAML body does not parse: " + yerr.Error()
			}
			return nil, apierr.BadRequest("bad_yaml", "%s", msg)
		}
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		if !strings.Contains(text, "\n") {
			// The spec's own curl example sends "addr\nkey" with a literal
			// backslash-n; a real line never holds one.
			text = strings.ReplaceAll(text, `\n`, "\n")
		}
		p.text, p.raw = text, true
	}
	return p, nil
}

// unwrap drops a single "deal" or "account" wrapper object.
func unwrap(obj map[string]any) map[string]any {
	if len(obj) == 1 {
		for k, v := range obj {
			if inner, ok := v.(map[string]any); ok && (k == "deal" || k == "account") {
				return inner
			}
		}
	}
	return obj
}

func (p *params) multipart(body []byte, boundary string) error {
	if boundary == "" {
		return apierr.BadRequest("bad_multipart", "multipart/form-data without a boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return apierr.BadRequest("bad_multipart", "the multipart body does not parse: %v", err)
		}
		v, err := io.ReadAll(part)
		if err != nil {
			return apierr.BadRequest("bad_multipart", "the multipart body does not parse: %v", err)
		}
		if err := p.add(part.FormName(), string(v)); err != nil {
			return err
		}
	}
}

const maxDepth = 8

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "_" + k
}

func (p *params) flattenJSON(prefix string, v any, depth int) error {
	if depth > maxDepth {
		return apierr.BadRequest("bad_json", "the JSON body nests too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		for k, v := range x {
			if err := p.flattenJSON(join(prefix, normKey(k)), v, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range x {
			if err := p.flattenJSON(prefix, v, depth+1); err != nil {
				return err
			}
		}
	case nil:
	case string:
		return p.add(prefix, x)
	default: // json.Number, bool: their text as sent
		return p.add(prefix, fmt.Sprint(x))
	}
	return nil
}

func (p *params) flattenYAML(prefix string, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return apierr.BadRequest("bad_yaml", "the YAML body nests too deeply")
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return apierr.BadRequest("bad_yaml", "line %d: keys must be plain text", k.Line)
			}
			if err := p.flattenYAML(join(prefix, normKey(k.Value)), n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := p.flattenYAML(prefix, c, depth+1); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return p.add(prefix, n.Value)
	default:
		// Aliases could multiply a small body into a huge one: refuse them.
		return apierr.BadRequest("bad_yaml", "line %d: YAML anchors and aliases are not accepted", n.Line)
	}
	return nil
}

var accountKeys = map[string]bool{"address": true, "key": true, "pgp": true, "bitmessage": true, "email": true,
	"password": true, "url": true, "date": true, "code": true, "sign": true, "flags": true}

func knownAccountYAML(m *yaml.Node) bool {
	if len(m.Content) == 2 && m.Content[0].Value == "account" {
		return true
	}
	for i := 0; i < len(m.Content); i += 2 {
		if !accountKeys[normKey(m.Content[i].Value)] {
			return false
		}
	}
	return true
}
