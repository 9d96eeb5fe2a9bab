// Package apierr is the error type every part of the node returns to a face:
// an HTTP status, a machine code and a human detail. Each face renders it in
// its own convention.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
)

// Error is an error a client caused or can act on.
type Error struct {
	Status  int    // HTTP status
	Code    string // machine-readable, snake_case
	Detail  string // what is wrong and, where possible, what to do
	Pointer string // JSON pointer to the offending input, if any
	Param   string // query parameter at fault, if any
}

func (e *Error) Error() string { return e.Detail }

// New returns an error with the given status, code and detail.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// At returns a copy of e that points at a JSON pointer in the input.
func (e *Error) At(pointer string) *Error {
	c := *e
	c.Pointer = pointer
	return &c
}

// AtParam returns a copy of e that names a query parameter.
func (e *Error) AtParam(p string) *Error {
	c := *e
	c.Param = p
	return &c
}

// Shorthands for the common cases.
func BadRequest(code, format string, args ...any) *Error {
	return New(http.StatusBadRequest, code, format, args...)
}
func NotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, "not_found", format, args...)
}
func Unauthorized(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, "unauthorized", format, args...)
}
func Forbidden(format string, args ...any) *Error {
	return New(http.StatusForbidden, "forbidden", format, args...)
}
func Conflict(code, format string, args ...any) *Error {
	return New(http.StatusConflict, code, format, args...)
}

// As extracts an *Error from err. An unreachable database becomes a 503 and
// any other error a 500, whose detail hides the internals (they are logged by
// the caller instead: ok is false).
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	if Unavailable(err) {
		// Not ok: the caller logs the cause, which the operator must fix.
		return New(http.StatusServiceUnavailable, "unavailable", "the node's metadata database is out of reach; retry shortly"), false
	}
	if DiskFull(err) {
		// Not the client's fault, but not a bug either, and nothing was
		// kept half-done: say so in the status that means it.
		return New(http.StatusInsufficientStorage, "no_space", "the node is out of disk space; retry later or use another node"), true
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Detail: "internal error; the node logged the cause"}, false
}

// DiskFull tells whether err comes from a full disk: ENOSPC from a file, or
// SQLite's SQLITE_FULL ("database or disk is full"), whose driver error
// carries no errno.
func DiskFull(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "database or disk is full"))
}

// Unavailable tells whether err comes from a backend that is out of reach
// for now (store.Unavailable): the request may be retried.
func Unavailable(err error) bool {
	var u interface{ Unavailable() bool }
	return errors.As(err, &u) && u.Unavailable()
}

// RetryAfter tells a client refused with 503 to retry after a second,
// unless the handler said otherwise.
func RetryAfter(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
}
