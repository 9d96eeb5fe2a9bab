// Package lease lets several processes that serve one node (sharing its
// metadata database) run each piece of background work exactly once between
// them: sweeps, replication and repair, the compute queue, the deal watcher.
// A lease is a row naming its holder and when it lapses; the holder renews it
// well before then, and anyone may take a lapsed one. A process that cannot
// renew in time stops the work before its lease can lapse, so two processes
// never hold one lease at once (as long as their clocks agree within the
// margin between renewal and lapse).
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/metrics"
)

// Config is how long a lease lasts and how often it is renewed.
type Config struct {
	TTL   time.Duration // a lease not renewed for this long may be taken
	Renew time.Duration // the holder renews this often (and others try to take)
}

// DefaultConfig lapses a dead holder's leases within 10 s.
func DefaultConfig() Config {
	return Config{TTL: 10 * time.Second, Renew: 2 * time.Second}
}

// Deps are the leases' dependencies.
type Deps struct {
	Store Store
	Log   *slog.Logger
}

// Leases holds leases on behalf of this process.
type Leases struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	holder string // this process: unique per start

	mu   sync.Mutex
	held map[string]bool
}

// New prepares the lease table; holder names this process in logs and rows.
func New(ctx context.Context, cfg Config, deps Deps) (*Leases, error) {
	def := DefaultConfig()
	if cfg.TTL <= 0 {
		cfg.TTL = def.TTL
	}
	if cfg.Renew <= 0 || cfg.Renew >= cfg.TTL/2 {
		cfg.Renew = cfg.TTL / 5
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Leases{cfg: cfg, store: deps.Store, log: deps.Log, holder: hex.EncodeToString(b[:]), held: map[string]bool{}}, nil
}

// Held reports the leases this process holds now, for metrics and tests.
func (l *Leases) Held() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n, ok := range l.held {
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// acquire takes or renews the lease name; it reports whether this process
// holds it until the returned time.
func (l *Leases) acquire(ctx context.Context, name string) (bool, time.Time, error) {
	now := time.Now()
	until := now.Add(l.cfg.TTL)
	ok, err := l.store.Acquire(ctx, name, l.holder, now, until)
	return ok, until, err
}

// release gives the lease up at once, so another process need not wait for
// it to lapse.
func (l *Leases) release(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.store.Release(ctx, name, l.holder); err != nil {
		l.log.Warn("could not release lease; it lapses on its own", "lease", name, "err", err)
	}
}

// Hold runs work while this process holds the lease name, until ctx ends:
// it waits for the lease, runs work with a context that ends when the lease
// is lost, and tries again. work must return when its context ends.
func (l *Leases) Hold(ctx context.Context, name string, work func(ctx context.Context)) {
	l.mu.Lock()
	if _, ok := l.held[name]; !ok {
		l.held[name] = false
	}
	l.mu.Unlock()
	for ctx.Err() == nil {
		ok, until, err := l.acquire(ctx, name)
		if err != nil && ctx.Err() == nil {
			l.log.Warn("cannot take lease", "lease", name, "err", err)
		}
		if ok {
			l.run(ctx, name, until, work)
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(l.cfg.Renew):
		}
	}
}

// run runs work under the lease, renewing it, and returns once work has
// returned: when ctx ends (releasing the lease) or when the lease could not
// be renewed before the margin that keeps two holders apart. Work that ends
// on its own keeps the lease, so no other process starts it again.
func (l *Leases) run(ctx context.Context, name string, until time.Time, work func(ctx context.Context)) {
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	l.setHeld(name, true)
	l.log.Info("lease taken: this process runs the work", "lease", name, "holder", l.holder)
	go func() {
		defer close(done)
		work(wctx)
	}()
	finish := func() {
		stop()
		<-done
		l.setHeld(name, false)
	}
	tick := time.NewTicker(l.cfg.Renew)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			finish()
			l.release(name)
			return
		case <-tick.C:
		}
		ok, next, err := l.acquire(ctx, name)
		switch {
		case ok:
			until = next
			continue
		case err != nil && ctx.Err() != nil:
			continue // ending: the next select releases
		case err != nil && time.Until(until) > l.cfg.Renew:
			l.log.Warn("cannot renew lease; retrying", "lease", name, "err", err)
			continue
		}
		// Someone else holds it (our renewal came too late), or it lapses
		// before the next try: stop before two processes run the work.
		l.log.Warn("lease lost: stopping the work", "lease", name, "err", err)
		finish()
		return
	}
}

// Gauges reports, per lease this process takes part in, whether it holds it:
// summed over a node's processes, each lease is held once.
func (l *Leases) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_lease_held", "Background work this process runs under its lease (1) or leaves to another process of the node (0).", "lease",
		func(context.Context) (map[string]int64, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			out := map[string]int64{}
			for n, held := range l.held {
				out[n] = 0
				if held {
					out[n] = 1
				}
			}
			return out, nil
		})
}

func (l *Leases) setHeld(name string, held bool) {
	l.mu.Lock()
	l.held[name] = held
	l.mu.Unlock()
}
