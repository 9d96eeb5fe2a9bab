// Package jsonapi reads and writes JSON:API 1.0 documents: single-resource
// documents for the faces that speak JSON:API, error objects, and a streaming
// reader that hands one large string attribute (an upload's base64 data) to a
// consumer as it arrives instead of holding it in memory.
package jsonapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// MediaType is the JSON:API media type.
const MediaType = "application/vnd.api+json"

// Resource is one resource object.
type Resource struct {
	Type          string                     `json:"type"`
	ID            string                     `json:"id,omitempty"`
	Attributes    map[string]json.RawMessage `json:"attributes,omitempty"`
	Relationships json.RawMessage            `json:"relationships,omitempty"`
	Links         map[string]string          `json:"links,omitempty"`
	Meta          json.RawMessage            `json:"meta,omitempty"`
}

// Out is a resource object to render.
type Out struct {
	Type       string            `json:"type"`
	ID         string            `json:"id,omitempty"`
	Attributes any               `json:"attributes,omitempty"`
	Links      map[string]string `json:"links,omitempty"`
	Meta       any               `json:"meta,omitempty"`
}

// Document is a top-level document with one primary resource.
type Document struct {
	Data    Out               `json:"data"`
	Links   map[string]string `json:"links,omitempty"`
	Meta    any               `json:"meta,omitempty"`
	JSONAPI map[string]string `json:"jsonapi,omitempty"`
}

// ErrorObject is a JSON:API error object.
type ErrorObject struct {
	Status string       `json:"status"`
	Code   string       `json:"code,omitempty"`
	Title  string       `json:"title,omitempty"`
	Detail string       `json:"detail,omitempty"`
	Source *ErrorSource `json:"source,omitempty"`
}

// ErrorSource points at the input that caused an error.
type ErrorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// ErrorDocument is the top-level document of an error answer.
type ErrorDocument struct {
	Errors []ErrorObject `json:"errors"`
}

// Write renders a document with the JSON:API media type.
func Write(w http.ResponseWriter, status int, doc any) {
	w.Header().Set("Content-Type", MediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

// WriteError renders err as a JSON:API error document. A body over its
// http.MaxBytesReader limit is a 413, wherever the handler met it. Other
// errors that are not *apierr.Error are logged and answered as a 500 that
// hides the details.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the request body is over %d bytes", tooBig.Limit)
	}
	if errors.Is(err, context.Canceled) {
		// The client went away mid-request: nobody reads an answer, and
		// nothing failed on this side.
		if log != nil {
			log.Debug("request abandoned by the client", "err", err)
		}
		return
	}
	e, ok := apierr.As(err)
	if (!ok || apierr.DiskFull(err)) && log != nil {
		log.Error("request failed", "err", err)
	}
	apierr.RetryAfter(w, e)
	obj := ErrorObject{Status: itoa(e.Status), Code: e.Code, Title: http.StatusText(e.Status), Detail: e.Detail}
	if e.Pointer != "" || e.Param != "" {
		obj.Source = &ErrorSource{Pointer: e.Pointer, Parameter: e.Param}
	}
	Write(w, e.Status, ErrorDocument{Errors: []ErrorObject{obj}})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// CheckContentType refuses request bodies that are neither JSON:API nor plain
// JSON, JSON:API media types with parameters (as the spec requires: 415), and
// bodies that do not say what they are: JSON:API clients must send the media
// type, and a body without one is more likely a form or a mistake.
// A request with a body gets a JSON:API answer, so its Accept header is
// checked too (CheckAccept).
func CheckContentType(r *http.Request) error {
	if err := CheckAccept(r); err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "the request has no Content-Type; send Content-Type: %s", MediaType)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q cannot be parsed; send %s", ct, MediaType)
	}
	switch {
	case mt == MediaType && len(params) == 0, mt == "application/json":
		return nil
	case mt == MediaType:
		return apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "the JSON:API media type takes no parameters")
	}
	return apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %s is not supported; send %s", mt, MediaType)
}

// CheckAccept applies JSON:API 1.0's content negotiation to a request's
// Accept header: when the header names the JSON:API media type and every
// instance of it carries media type parameters, the answer is 406. The
// quality weight q (and the accept-extensions after it) is not a media type
// parameter (RFC 9110, 12.5.1), so "application/vnd.api+json;q=0.5" is fine;
// an Accept without the JSON:API media type (*/*, application/json) is fine.
func CheckAccept(r *http.Request) error {
	seen, bare := false, false
	for _, field := range r.Header.Values("Accept") {
		for _, item := range strings.Split(field, ",") {
			mt, params, _ := strings.Cut(item, ";")
			if !strings.EqualFold(strings.TrimSpace(mt), MediaType) {
				continue
			}
			seen = true
			if !hasMediaParams(params) {
				bare = true
			}
		}
	}
	if seen && !bare {
		return apierr.New(http.StatusNotAcceptable, "not_acceptable",
			"every %s in Accept carries media type parameters, which JSON:API 1.0 does not support; accept %s without parameters", MediaType, MediaType)
	}
	return nil
}

// hasMediaParams reports whether an Accept item's parameters (the text after
// its first ';') hold a media type parameter before the weight q.
func hasMediaParams(params string) bool {
	for _, p := range strings.Split(params, ";") {
		name, _, _ := strings.Cut(p, "=")
		switch name = strings.ToLower(strings.TrimSpace(name)); name {
		case "":
			continue
		case "q":
			return false // what follows q are accept-extensions
		}
		return true
	}
	return false
}

// Attr decodes attribute name into v. It returns false when the attribute is
// absent (or null); a value of the wrong type is a 400 pointing at it.
func (r *Resource) Attr(name string, v any) (bool, error) {
	raw, ok := r.Attributes[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		what := "has the wrong type"
		if errors.As(err, &te) {
			what = "must be " + kind(te.Type.Kind().String()) + ", not " + te.Value
		}
		return true, apierr.BadRequest("invalid_attribute", "attribute %q %s", name, what).At("/data/attributes/" + name)
	}
	return true, nil
}

func kind(k string) string {
	switch k {
	case "int64", "int", "int32", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return k
}

// BaseURL is the scheme and host the client used to reach the node, for the
// absolute links JSON:API documents carry.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
