// Package httpjson writes the plain JSON answers of the faces that do not
// speak JSON:API (DEP-7, storlets, the Ocean provider): one writer, so every
// face sends the same headers and the same bytes for the same value.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers v as JSON with status. It sends Content-Type
// application/json unless the caller set another, never lets a browser
// sniff another type, and leaves <, > and & as they are (the values are
// data, not HTML).
func Write(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
