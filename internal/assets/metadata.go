package assets

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// MaxMetadata bounds a metadata document: metadata describes an asset, it
// does not carry it.
const MaxMetadata = 1 << 20

// Metadata is what the node reads from an asset's metadata (DEP-8). The
// document itself is kept byte for byte: its SHA3-256 is the asset id.
type Metadata struct {
	Name        string
	Type        string // dataset (default), operation or bundle
	ContentType string // "" when not given
	ContentHash string // lowercase hex SHA3-256 of the content; "" when not given
	Size        int64  // -1 when not given
}

// AssetID is the asset id of a metadata document: the lowercase hex
// SHA3-256 of its exact bytes.
func AssetID(doc []byte) string {
	sum := sha3.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// stringFields are the DEP-8 attributes whose value must be a JSON string.
var stringFields = []string{"name", "type", "description", "dateCreated", "creator", "license",
	"copyrightHolder", "inLanguage", "contentType", "encoding", "compression", "contentHash"}

// ParseMetadata checks that doc is a DEP-8 metadata document (a JSON object
// whose known attributes have the right types) and reads what the node
// needs from it. Errors are 400s that say what is wrong.
func ParseMetadata(doc []byte) (Metadata, error) {
	md := Metadata{Type: "dataset", Size: -1}
	bad := func(format string, args ...any) (Metadata, error) {
		return Metadata{}, apierr.BadRequest("invalid_metadata", "metadata: "+format, args...)
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return bad("the body is empty; send the asset's metadata as a JSON object")
	}
	if !utf8.Valid(doc) {
		return bad("not UTF-8 text")
	}
	fields, err := topLevel(doc)
	if err != nil {
		return bad("%v", err)
	}
	str := map[string]string{}
	for _, k := range stringFields {
		raw, ok := fields[k]
		if !ok {
			continue
		}
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return bad("%q must be a string, not %s", k, kind(raw))
		}
		str[k] = s
	}
	md.Name = str["name"]
	if t, ok := str["type"]; ok {
		switch t {
		case "dataset", "operation", "bundle":
			md.Type = t
		default:
			return bad("\"type\" must be \"dataset\", \"operation\" or \"bundle\", not %q", t)
		}
	}
	if ct, ok := str["contentType"]; ok {
		if _, _, err := mime.ParseMediaType(ct); err != nil || strings.ContainsAny(ct, "\r\n") {
			return bad("\"contentType\" %q is not a media type (like \"text/csv\")", ct)
		}
		md.ContentType = ct
	}
	if h, ok := str["contentHash"]; ok {
		h = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "0X"))
		if !validID(h) {
			return bad("\"contentHash\" must be the SHA3-256 of the content as 64 hex digits")
		}
		md.ContentHash = h
	}
	if raw, ok := fields["size"]; ok {
		// DEP-8 makes size a decimal string; a plain number is accepted too.
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return bad("\"size\" must be the content's size in bytes as a decimal string, not %s", raw)
		}
		md.Size = n
	}
	for k, want := range map[string]byte{"links": '[', "tags": '[', "operation": '{'} {
		if raw, ok := fields[k]; ok && raw[0] != want {
			return bad("%q must be %s, not %s", k, map[byte]string{'[': "an array", '{': "an object"}[want], kind(raw))
		}
	}
	return md, nil
}

// topLevel splits a JSON object into its members, refusing anything else,
// duplicate keys (whose meaning parsers disagree on) and trailing data.
func topLevel(doc []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("must be a JSON object, not %s", kindOfToken(tok))
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key := tok.(string) // inside an object the decoder yields only string keys
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("attribute %q appears twice", key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonErr(err)
		}
		fields[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return fields, nil
}

func jsonErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: the document ends too early")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func kind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func kindOfToken(tok any) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case json.Number:
		return "a number"
	}
	return "that"
}

// validID tells whether s is 64 lowercase hex digits.
func validID(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// parseID reads an asset id from a path, accepting upper case and a 0x prefix
// as clients sometimes send them.
func parseID(s string) (string, error) {
	id := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if !validID(id) {
		return "", apierr.New(http.StatusBadRequest, "invalid_id", "%q is not an asset id: an asset id is the SHA3-256 of its metadata as 64 hex digits", s)
	}
	return id, nil
}
