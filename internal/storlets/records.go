package storlets

import (
	"regexp"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// Language is the one language storlets are written in here: WebAssembly
// (WASI preview 1 command modules), whatever the source language.
const Language = "wasm"

// InterfaceVersion is the filter contract's version.
const InterfaceVersion = "1.0"

// DepsDir is where a storlet finds its dependencies (read-only).
const DepsDir = "/deps"

// Storlet is a registered storlet.
type Storlet struct {
	ID               int64
	Name             string
	Language         string
	InterfaceVersion string
	Dependency       string // comma-separated dependency names
	ObjectMetadata   string
	Main             string // the exported function to run
	DataHash         string // empty until uploaded
	DataSize         int64
	Created          time.Time
	Deployed         bool // to at least one account
}

// Dependency is a registered dependency: a file storlets read.
type Dependency struct {
	ID          int64
	Name        string
	Version     string
	Permissions string
	DataHash    string
	DataSize    int64
	Created     time.Time
	Deployed    bool
}

// Deps returns the dependency names a storlet lists.
func (s Storlet) Deps() []string {
	var out []string
	for part := range strings.SplitSeq(s.Dependency, ",") {
		// The spec's own example writes "no dependencies" as quotes.
		if n := strings.Trim(part, " \t'\"\u2018\u2019"); n != "" {
			out = append(out, n)
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return apierr.BadRequest("invalid_name", "%s name %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name).At("/name")
	}
	return nil
}
