package ocean

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/limits"
)

// maxParams bounds a JSON request body of parameters.
const maxParams = 1 << 20

// params are a request's parameters: the query string, overlaid by the
// fields of a JSON body (ocean.js sends some requests one way, some the
// other).
type params map[string]string

func readParams(w http.ResponseWriter, r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
	if r.Method != http.MethodPost && r.Method != http.MethodDelete && r.Method != http.MethodPut {
		return p, nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxParams))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err := limits.Classify(err, "a request body"); err != nil {
			return nil, err
		}
		return nil, apierr.BadRequest("invalid_json", "request body is not a JSON object: %v", err)
	}
	for k, v := range body {
		switch v := v.(type) {
		case string:
			p[k] = v
		case json.Number:
			p[k] = v.String()
		case bool:
			p[k] = strconv.FormatBool(v)
		case nil:
		default:
			b, _ := json.Marshal(v)
			p[k] = string(b)
		}
	}
	return p, nil
}

// decode fills req, a pointer to a request struct, from the request's
// parameters: each string field takes the parameter its `param` tag names,
// and embedded structs (signed) are filled the same way. The handler then
// validates the struct, in the order its checks have always run.
func decode(w http.ResponseWriter, r *http.Request, req any) error {
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	p.fill(reflect.ValueOf(req).Elem())
	return nil
}

func (p params) fill(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			p.fill(v.Field(i))
		case f.Tag.Get("param") != "":
			v.Field(i).SetString(p[f.Tag.Get("param")])
		}
	}
}

// signed are the parameters of a request its sender signed: EIP-191 over
// the request's message and the nonce (or, without a signature, an auth
// token in a header).
type signed struct {
	Nonce     string `param:"nonce"`
	Signature string `param:"signature"`
}

// first returns the first failed check: checks are evaluated in order of
// the arguments, and report in that order.
func first(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// required checks that a parameter is given.
func required(name, v string) error {
	if v == "" {
		return apierr.BadRequest("missing_parameter", "%s is required", name)
	}
	return nil
}

// address checks that a required parameter is a 0x address.
func address(name, v string) error {
	if err := required(name, v); err != nil {
		return err
	}
	if !identity.ValidAddress(v) {
		return badAddress(name, v)
	}
	return nil
}

func badAddress(name, v string) error {
	return apierr.BadRequest("invalid_parameter", "%s %q is not a 0x-prefixed Ethereum address", name, v)
}

// chainID checks that a chainId parameter names the chain this node serves.
func (s *Service) chainID(v string) error {
	if err := required("chainId", v); err != nil {
		return err
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return apierr.BadRequest("invalid_parameter", "chainId %q is not an integer", v)
	}
	if id != s.cfg.ChainID {
		return apierr.BadRequest("unsupported_chain", "Unsupported chain ID %d: this provider serves chain %d", id, s.cfg.ChainID)
	}
	return nil
}
