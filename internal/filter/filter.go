// Package filter is the contract between the faces that serve objects and
// whatever transforms objects on their way (storlets): a face asks the
// filter to apply to an object of an account and streams what comes out. It
// keeps the faces independent of the filter's implementation.
package filter

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// Filter transforms objects.
type Filter interface {
	// Apply starts transforming in for an object of account. If nothing
	// applies it returns applied=false and the face serves in as it is.
	// Otherwise the face streams out (and closes it) instead: out's length
	// is unknown in advance, so no Content-Length, ETag or Range. Apply
	// waits for the first output bytes, so a filter that fails early is an
	// error here, before the face answers; a failure later is a read error
	// of out, and the face must abort its response. Errors are
	// *apierr.Error for what a client can act on.
	Apply(ctx context.Context, account string, req Request, in io.Reader) (out io.ReadCloser, applied bool, err error)
}

// Request is what a client asked of the filter.
type Request struct {
	Storlet string  // X-Run-Storlet: run this one explicitly; empty: the account's deployed ones
	Params  []Param // parameters of an explicit run, in the order given
	Upload  bool    // the object is being uploaded (only an explicit storlet runs)
	Ranged  bool    // the client asked for a byte range: if any storlet applies, Apply fails with ErrRange without running it
}

// Param is one key=value parameter.
type Param struct{ Key, Value string }

// Explicit tells whether the client named a storlet.
func (r Request) Explicit() bool { return r.Storlet != "" }

// Header names.
const (
	RunHeader   = "X-Run-Storlet"
	ParamHeader = "X-Storlet-Parameter-" // followed by 1, 2, ...: "key:value"
)

// Limits on what a request may carry.
const (
	MaxParams     = 64
	MaxParamBytes = 4 << 10
)

// FromHTTP reads a filter request from r. Parameters come from the
// X-Storlet-Parameter-N headers (in order of N) and from the query string
// (keys sorted, for a stable order), except the query keys in skip (which the
// face uses itself, such as access_token). Query parameters count only when
// a storlet is named: a plain GET with a query string runs the deployed
// storlets with their deployed parameters.
func FromHTTP(r *http.Request, upload bool, skip ...string) (Request, error) {
	req := Request{Storlet: strings.TrimSpace(r.Header.Get(RunHeader)), Upload: upload, Ranged: !upload && r.Header.Get("Range") != ""}
	if req.Storlet == "" {
		for k := range r.Header {
			if strings.HasPrefix(http.CanonicalHeaderKey(k), ParamHeader) {
				return Request{}, apierr.BadRequest("storlet_parameter_without_storlet", "%s needs %s naming the storlet to run", k, RunHeader)
			}
		}
		return req, nil
	}
	if err := CheckName(req.Storlet); err != nil {
		return Request{}, err
	}
	type numbered struct {
		n int
		p Param
	}
	var hdr []numbered
	for k, vs := range r.Header {
		k = http.CanonicalHeaderKey(k)
		if !strings.HasPrefix(k, ParamHeader) {
			continue
		}
		n, err := strconv.Atoi(k[len(ParamHeader):])
		if err != nil || n < 1 || n > MaxParams {
			return Request{}, apierr.BadRequest("invalid_storlet_parameter", "header %s: the suffix must be a number from 1 to %d", k, MaxParams)
		}
		if len(vs) != 1 {
			return Request{}, apierr.BadRequest("invalid_storlet_parameter", "header %s appears more than once", k)
		}
		key, value, ok := strings.Cut(vs[0], ":")
		if !ok {
			return Request{}, apierr.BadRequest("invalid_storlet_parameter", "header %s must be \"key:value\"", k)
		}
		p := Param{Key: strings.TrimSpace(key), Value: strings.TrimSpace(value)}
		if err := CheckParam(p); err != nil {
			return Request{}, err
		}
		hdr = append(hdr, numbered{n, p})
	}
	sort.Slice(hdr, func(i, j int) bool { return hdr[i].n < hdr[j].n })
	for _, h := range hdr {
		req.Params = append(req.Params, h.p)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Request{}, apierr.BadRequest("invalid_query", "the query string is malformed: %v", err)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		if !contains(skip, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			p := Param{Key: k, Value: v}
			if err := CheckParam(p); err != nil {
				return Request{}, err
			}
			req.Params = append(req.Params, p)
		}
	}
	if len(req.Params) > MaxParams {
		return Request{}, apierr.BadRequest("too_many_storlet_parameters", "at most %d storlet parameters", MaxParams)
	}
	return req, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckName checks a storlet name as a client sends it.
func CheckName(name string) error {
	if len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return apierr.BadRequest("invalid_storlet_name", "%s must be a storlet name of at most 128 printable characters", RunHeader)
	}
	return nil
}

// CheckParam refuses parameters a module could not receive: keys must be
// letters, digits, '_', '-' or '.', so that they make environment variable
// names; values may not hold NUL.
func CheckParam(p Param) error {
	if p.Key == "" || len(p.Key) > 64 {
		return apierr.BadRequest("invalid_storlet_parameter", "a storlet parameter needs a key of 1 to 64 characters")
	}
	for _, c := range p.Key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return apierr.BadRequest("invalid_storlet_parameter", "storlet parameter key %q: use letters, digits, '_', '-' or '.'", p.Key)
		}
	}
	if len(p.Value) > MaxParamBytes || strings.ContainsRune(p.Value, 0) {
		return apierr.BadRequest("invalid_storlet_parameter", "storlet parameter %q: the value must be at most %d bytes without NUL", p.Key, MaxParamBytes)
	}
	return nil
}

// ParseParams reads parameters in query-string form ("a=1&b=2"), keeping
// their order; this is how a deployment stores them.
func ParseParams(s string) ([]Param, error) {
	var out []Param
	for part := range strings.SplitSeq(s, "&") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(strings.TrimSpace(k))
		if err != nil {
			return nil, apierr.BadRequest("invalid_params", "params %q: %v", part, err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, apierr.BadRequest("invalid_params", "params %q: %v", part, err)
		}
		p := Param{Key: key, Value: val}
		if err := CheckParam(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) > MaxParams {
		return nil, apierr.BadRequest("invalid_params", "at most %d parameters", MaxParams)
	}
	return out, nil
}

// FormatParams writes parameters back in query-string form.
func FormatParams(ps []Param) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.Key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.Value))
	}
	return b.String()
}
