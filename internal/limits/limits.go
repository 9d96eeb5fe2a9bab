// Package limits keeps request bodies from holding the node: a body must keep
// up a minimum transfer rate and may not stall longer than an idle timeout,
// and the uploads in flight are capped per principal, per remote address and
// in all. The node wraps every face's handler in one Guard.
//
// The guard answers through the face: its refusals are *apierr.Error values
// returned by the body's Read, which every face already renders in its own
// error format (with the Retry-After header the guard set). It also maps a
// body over its http.MaxBytesReader limit to 413 for the faces (Classify,
// ReadAll).
package limits

import (
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/flagval"
)

// Config is the guard's settings; a zero value turns its check off.
type Config struct {
	// MinRate is the bytes per second a body must average over each Window
	// of time the node spends waiting for it (time the handler spends
	// working between reads does not count).
	MinRate int64
	Window  time.Duration
	// Idle is the longest the node waits for the next byte of a body.
	Idle time.Duration
	// Uploads in flight (requests whose body is being read): per principal
	// (per credential presented), per remote IP address, and in all.
	PerPrincipal, PerAddress, Total int
	// RetryAfter is what a refused client is told to wait.
	RetryAfter time.Duration
}

// DefaultConfig never cuts an honest slow upload: it takes 1 KiB/s (8 kbit/s,
// below any mobile uplink) over 30 s and a 60 s stall, while a client
// trickling a few bytes a second is cut after 30 s.
func DefaultConfig() Config {
	return Config{MinRate: 1 << 10, Window: 30 * time.Second, Idle: 60 * time.Second,
		PerPrincipal: 16, PerAddress: 32, Total: 512, RetryAfter: 10 * time.Second}
}

// RegisterFlags registers the guard's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(flagval.Bytes(&c.MinRate), "body-min-rate", "bytes per second a request body must average over --body-rate-window (or with a unit: 1KiB; 0: no minimum)")
	fs.DurationVar(&c.Window, "body-rate-window", c.Window, "window over which a request body's transfer rate is measured")
	fs.DurationVar(&c.Idle, "body-idle-timeout", c.Idle, "longest wait for the next byte of a request body (0: none)")
	fs.IntVar(&c.PerPrincipal, "max-uploads-per-principal", c.PerPrincipal, "request bodies one credential may send at once (0: no cap)")
	fs.IntVar(&c.PerAddress, "max-uploads-per-address", c.PerAddress, "request bodies one remote IP address may send at once (0: no cap)")
	fs.IntVar(&c.Total, "max-uploads", c.Total, "request bodies the node reads at once (0: no cap)")
	fs.DurationVar(&c.RetryAfter, "upload-retry-after", c.RetryAfter, "Retry-After told to a client refused for too many uploads")
}

// Guard applies a Config to request bodies.
type Guard struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	total  int
	flight map[string]int // "p"+credential hash or "a"+IP → bodies in flight
}

// New returns a guard; log may be nil.
func New(cfg Config, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	return &Guard{cfg: cfg, log: log, flight: map[string]int{}}
}

// Wrap guards the bodies of the requests next serves.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		b := &body{g: g, rc: r.Body, w: w, keys: g.keys(r)}
		// A copy: the server keeps its own r.Body, whose type tells it what
		// is left to discard.
		r2 := *r
		r2.Body = b
		next.ServeHTTP(w, &r2)
		if !b.finish() {
			// Left unread, the rest would be read by the server before the
			// answer goes out, unguarded: close the connection instead.
			w.Header().Set("Connection", "close")
		}
	})
}

// keys are the counters an upload from r takes a slot in.
func (g *Guard) keys(r *http.Request) []string {
	var keys []string
	if cred := credential(r); cred != "" {
		sum := sha256.Sum256([]byte(cred)) // never keep a token itself
		keys = append(keys, "p"+string(sum[:16]))
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return append(keys, "a"+ip)
}

// credential is whatever identifies the caller in any face: a token, a
// session, an auth token. Signed Ocean requests carry theirs in the body,
// so only the address counts for them.
func credential(r *http.Request) string {
	for _, h := range []string{"Authorization", "X-Auth-Token", "AuthToken", "Session"} {
		if v := r.Header.Get(h); v != "" {
			return h + " " + v
		}
	}
	if v := r.URL.Query().Get("access_token"); v != "" {
		return "token " + v
	}
	return ""
}

func (g *Guard) admit(w http.ResponseWriter, keys []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	refuse := func(status int, code, format string, args ...any) error {
		w.Header().Set("Retry-After", strconv.Itoa(int((g.cfg.RetryAfter+time.Second-1)/time.Second)))
		return apierr.New(status, code, format, args...)
	}
	if g.cfg.Total > 0 && g.total >= g.cfg.Total {
		return refuse(http.StatusServiceUnavailable, "busy", "the node is reading %d uploads, its most; retry later", g.cfg.Total)
	}
	for _, k := range keys {
		limit, who := g.cfg.PerAddress, "address"
		if k[0] == 'p' {
			limit, who = g.cfg.PerPrincipal, "credential"
		}
		if limit > 0 && g.flight[k] >= limit {
			return refuse(http.StatusTooManyRequests, "too_many_uploads", "this %s already has %d uploads in flight, its most; retry when one ends", who, limit)
		}
	}
	g.total++
	for _, k := range keys {
		g.flight[k]++
	}
	return nil
}

func (g *Guard) release(keys []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	for _, k := range keys {
		if g.flight[k]--; g.flight[k] <= 0 {
			delete(g.flight, k)
		}
	}
}

// body is a guarded request body. Its state is shared by the handler's
// reads and the timer that watches a read that does not return.
type body struct {
	g    *Guard
	rc   io.ReadCloser
	w    http.ResponseWriter
	keys []string

	mu        sync.Mutex
	admitted  bool
	released  bool
	timer     *time.Timer
	reading   bool
	readSince time.Time     // start of the read in progress
	acctSince time.Time     // start of what the window has not counted yet
	waited    time.Duration // waiting counted in the current window
	got       int64         // bytes in the current window
	err       error         // sticky: why the body was cut
	eof       bool          // read to its end
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.err != nil {
		defer b.mu.Unlock()
		return 0, b.err
	}
	if !b.admitted {
		if err := b.g.admit(b.w, b.keys); err != nil {
			b.err = err
			b.mu.Unlock()
			return 0, err
		}
		b.admitted = true
		if b.g.cfg.Idle > 0 || (b.g.cfg.MinRate > 0 && b.g.cfg.Window > 0) {
			b.timer = time.AfterFunc(b.tick(), b.watch)
		}
	}
	now := time.Now()
	b.reading, b.readSince, b.acctSince = true, now, now
	b.mu.Unlock()

	n, err := b.rc.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = false
	b.waited += time.Since(b.acctSince)
	b.got += int64(n)
	if b.err != nil { // the watcher cut the body during this read
		return n, b.answer()
	}
	if err != nil {
		b.eof = err == io.EOF
		b.releaseLocked() // the body is over (or broken): its slot is free
		return n, err
	}
	if cut := b.checkRate(); cut != nil {
		return n, b.answer()
	}
	return n, nil
}

// tick is how often a body is watched: often enough to cut it within a few
// percent of its limits.
func (b *body) tick() time.Duration {
	t := b.g.cfg.Idle
	if w := b.g.cfg.Window; b.g.cfg.MinRate > 0 && w > 0 && (t <= 0 || w < t) {
		t = w
	}
	return max(t/16, 5*time.Millisecond)
}

// checkRate closes a window of waiting once it is full: too few bytes in it
// cut the body, enough start the next. b.mu is held.
func (b *body) checkRate() error {
	cfg := b.g.cfg
	if cfg.MinRate <= 0 || cfg.Window <= 0 {
		return nil
	}
	waited := b.waited
	if b.reading {
		waited += time.Since(b.acctSince)
	}
	if waited < cfg.Window {
		return nil
	}
	if need := int64(float64(cfg.MinRate) * waited.Seconds()); b.got < need {
		return b.cut("request_timeout", "the request body arrived at %d bytes in %s, under this node's minimum of %d bytes/s; send it faster",
			b.got, waited.Round(10*time.Millisecond), cfg.MinRate)
	}
	b.waited, b.got, b.acctSince = 0, 0, time.Now()
	return nil
}

// watch runs on the timer: it cuts a read that stalls or trickles.
func (b *body) watch() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released || b.err != nil {
		return
	}
	if b.reading {
		if idle := b.g.cfg.Idle; idle > 0 && time.Since(b.readSince) >= idle {
			b.cut("request_timeout", "no byte of the request body came for %s; send the request again", idle)
		} else {
			b.checkRate()
		}
		if b.err != nil {
			// Unblock the handler's read; the connection is done for.
			_ = http.NewResponseController(b.w).SetReadDeadline(time.Now())
			return
		}
	}
	b.timer.Reset(b.tick())
}

// cut ends the body with a 408. b.mu is held. The headers that go with it
// are set by the reading goroutine (answer), never by the watcher's, which
// would race with the handler.
func (b *body) cut(code, format string, args ...any) error {
	b.err = apierr.New(http.StatusRequestTimeout, code, format, args...)
	b.g.log.Warn("request body cut", "reason", b.err)
	b.releaseLocked()
	return b.err
}

// answer sets the headers of the 408 and returns it. b.mu is held.
func (b *body) answer() error {
	h := b.w.Header()
	h.Set("Connection", "close")
	h.Set("Retry-After", strconv.Itoa(int((b.g.cfg.RetryAfter+time.Second-1)/time.Second)))
	return b.err
}

func (b *body) releaseLocked() {
	if b.admitted && !b.released {
		b.released = true
		if b.timer != nil {
			b.timer.Stop()
		}
		b.g.release(b.keys)
	}
}

// finish frees the body's slot; it reports whether the body was read to
// its end.
func (b *body) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked()
	return b.eof
}

func (b *body) Close() error {
	b.finish()
	return b.rc.Close()
}

// Classify is the answer to an error met reading a request body, or nil if
// it is neither of: a body over its http.MaxBytesReader limit is a 413 that
// names what was sent; an *apierr.Error (the guard's 408, 429, 503) is
// itself.
func Classify(err error, what string) error {
	var tooBig *http.MaxBytesError
	var e *apierr.Error
	switch {
	case errors.As(err, &tooBig):
		return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "%s may not exceed %d bytes", what, tooBig.Limit)
	case errors.As(err, &e):
		return e
	}
	return nil
}

// ReadAll reads a whole request body of at most max bytes: over max is a
// 413, the guard's refusals are themselves, any other failure is a 400.
func ReadAll(w http.ResponseWriter, r *http.Request, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err == nil {
		return b, nil
	}
	if c := Classify(err, what); c != nil {
		return nil, c
	}
	return nil, apierr.BadRequest("bad_body", "could not read the request body: %v", err)
}
