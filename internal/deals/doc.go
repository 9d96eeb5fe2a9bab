package deals

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"html"
	"net/http"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
)

// doc is an ordered document: the payload of an answer, rendered as YAML
// (what is signed), HTML, JSON or XML. Values are string, doc or []string.
type doc []field

type field struct {
	K string
	V any
}

func (d doc) yamlNode() *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range d {
		var v *yaml.Node
		switch x := f.V.(type) {
		case doc:
			v = x.yamlNode()
		case []string:
			v = &yaml.Node{Kind: yaml.SequenceNode}
			for _, s := range x {
				v.Content = append(v.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
			}
		default:
			s := x.(string)
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
			if strings.Contains(s, "\n") {
				v.Style = yaml.LiteralStyle
			}
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.K}, v)
	}
	return m
}

// YAML renders the document as YAML with two-space indents.
func (d doc) YAML() []byte {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d.yamlNode()); err != nil {
		panic(err) // string-only nodes always encode
	}
	enc.Close()
	return buf.Bytes()
}

// MarshalJSON keeps the document's order.
func (d doc) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range d {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.K)
		v, err := json.Marshal(f.V)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (d doc) writeXML(buf *bytes.Buffer) {
	for _, f := range d {
		name := xmlName(f.K)
		buf.WriteString("<" + name + ">")
		switch x := f.V.(type) {
		case doc:
			x.writeXML(buf)
		case []string:
			for _, s := range x {
				buf.WriteString("<item>")
				_ = xml.EscapeText(buf, []byte(s))
				buf.WriteString("</item>")
			}
		default:
			_ = xml.EscapeText(buf, []byte(x.(string)))
		}
		buf.WriteString("</" + name + ">")
	}
}

// xmlName keeps a key usable as an element name (our keys are all plain
// words, but the check costs nothing).
func xmlName(k string) string {
	var b strings.Builder
	for i, r := range k {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9')
		if !ok {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// XML renders the document inside a <payload> element.
func (d doc) XML() []byte {
	var buf bytes.Buffer
	buf.WriteString(xml.Header + "<payload>")
	d.writeXML(&buf)
	buf.WriteString("</payload>\n")
	return buf.Bytes()
}

func htmlPage(text []byte) []byte {
	return []byte("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n    <meta charset=\"UTF-8\">\n" +
		"    <meta name=\"author\" content=\"Prometheus DDS deal module\">\n</head>\n<body>\n<pre>" +
		html.EscapeString(string(text)) + "</pre>\n</body>\n</html>\n")
}

// answer is what a handler produces: the envelope's action and message and
// the payload document.
type answer struct {
	Action  string
	Message string
	Payload doc
	Text    []byte // a payload that is text already (help), instead of Payload
	Failed  int    // the 4xx status of an action the module could not carry out
}

func (s *Service) writeAnswer(w http.ResponseWriter, r *http.Request, reqID string, a answer) {
	q := r.URL.Query()
	sign := true
	switch strings.ToLower(q.Get("pgp")) {
	case "off", "false", "0", "no":
		sign = false
	}
	format := strings.ToLower(q.Get("payload"))
	status := http.StatusOK
	if a.Failed != 0 {
		status = a.Failed
	}
	header := func(contentType string) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
	}
	text := a.Text
	if text == nil {
		text = a.Payload.YAML()
	}
	switch format {
	case "json":
		header("application/json")
		if a.Payload == nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"text": string(text)})
			return
		}
		_ = json.NewEncoder(w).Encode(a.Payload)
		return
	case "xml":
		header("application/xml; charset=utf-8")
		if a.Payload == nil {
			a.Payload = doc{{"text", string(text)}}
		}
		_, _ = w.Write(a.Payload.XML())
		return
	}
	if sign {
		signed, err := s.pgp.ClearSign(text, s.clock.Now())
		if err != nil {
			s.writeError(w, err)
			return
		}
		text = signed
	}
	switch format {
	case "text":
		header("text/plain; charset=utf-8")
		_, _ = w.Write(text)
	case "html":
		header("text/html; charset=utf-8")
		_, _ = w.Write(htmlPage(text))
	default:
		header("application/json")
		_ = json.NewEncoder(w).Encode(api.DealEnvelope{ID: reqID, Action: a.Action, Result: api.DealResult{Success: a.Failed == 0, Message: a.Message},
			Payload: base64.StdEncoding.EncodeToString(text)})
	}
}

// writeError answers in the module's error convention:
// {"error": {"code": 404, "message": "..."}}.
func (s *Service) writeError(w http.ResponseWriter, err error) {
	e, ok := apierr.As(err)
	if !ok || e.Status >= 500 {
		s.log.Error("deal module request failed", "err", err)
	}
	apierr.RetryAfter(w, e)
	w.Header().Set("Content-Type", "application/json")
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dds"`)
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(api.DealError{Error: api.DealErrorDetail{Code: e.Status, Message: e.Detail}})
}
