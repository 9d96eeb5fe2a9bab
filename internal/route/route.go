// Package route is what the parts add their HTTP routes to: a
// *http.ServeMux, or a Recorder around one that remembers every pattern, so
// that a test can hold the OpenAPI document to the routes the node serves.
package route

import (
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Mux is a part's view of the node's mux (*http.ServeMux has these).
type Mux interface {
	http.Handler
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Table is a handler mounted at a subtree that routes below it with patterns
// of its own ("METHOD /rel"), for paths one pattern table cannot hold.
type Table interface {
	http.Handler
	Patterns() []string
}

// Recorder is a ServeMux that remembers the patterns registered on it, with
// a mounted Table's patterns joined to its root.
type Recorder struct {
	*http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern.
func (m *Recorder) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.record(pattern, h)
}

// HandleFunc registers h for pattern.
func (m *Recorder) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.ServeMux.HandleFunc(pattern, h)
	m.record(pattern, nil)
}

func (m *Recorder) record(pattern string, h http.Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.patterns = append(m.patterns, pattern)
	if t, ok := h.(Table); ok {
		root := pattern[strings.Index(pattern, "/"):] // without the method
		for _, p := range t.Patterns() {
			method, rel, _ := strings.Cut(p, " ")
			m.patterns = append(m.patterns, method+" "+strings.TrimSuffix(root, "/")+rel)
		}
	}
}

// Patterns returns every pattern registered, sorted, each once.
func (m *Recorder) Patterns() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.patterns)
	slices.Sort(out)
	return slices.Compact(out)
}
