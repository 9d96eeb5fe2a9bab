package sandbox

import (
	"slices"
	"sync"
	"time"
)

// idleTime is how long an unused instance or memory is kept.
const idleTime = time.Minute

// pool keeps things between runs for later ones (reset reactor instances,
// cleared linear memories): at most max, each for at most ttl, then drop.
type pool[K comparable, V any] struct {
	max  int
	ttl  time.Duration
	drop func(V)

	mu     sync.Mutex
	idle   []kept[K, V] // oldest first
	timer  *time.Timer  // the next sweep, while any is kept
	closed bool
}

type kept[K comparable, V any] struct {
	key   K
	v     V
	since time.Time
}

func newPool[K comparable, V any](max int, ttl time.Duration, drop func(V)) *pool[K, V] {
	return &pool[K, V]{max: max, ttl: ttl, drop: drop}
}

// take returns the most recently kept value for k.
func (p *pool[K, V]) take(k K) (v V, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle) - 1; n >= 0; n-- {
		if p.idle[n].key == k {
			v = p.idle[n].v
			p.idle = slices.Delete(p.idle, n, n+1)
			return v, true
		}
	}
	return v, false
}

// put keeps v, dropping the oldest beyond max.
func (p *pool[K, V]) put(k K, v V) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.drop(v)
		return
	}
	p.idle = append(p.idle, kept[K, V]{key: k, v: v, since: time.Now()})
	var old []kept[K, V]
	if n := len(p.idle) - p.max; n > 0 {
		old = slices.Clone(p.idle[:n])
		p.idle = slices.Delete(p.idle, 0, n)
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(p.ttl, p.sweep)
	}
	p.mu.Unlock()
	for _, e := range old {
		p.drop(e.v)
	}
}

// sweep drops what was kept longer than ttl.
func (p *pool[K, V]) sweep() {
	p.mu.Lock()
	cut := time.Now().Add(-p.ttl)
	var old []kept[K, V]
	for len(p.idle) > 0 && !p.idle[0].since.After(cut) {
		old = append(old, p.idle[0])
		p.idle = p.idle[1:]
	}
	p.timer = nil
	if len(p.idle) > 0 && !p.closed {
		p.timer = time.AfterFunc(p.idle[0].since.Sub(cut), p.sweep)
	}
	p.mu.Unlock()
	for _, e := range old {
		p.drop(e.v)
	}
}

// close drops what match selects (nil: everything, and the pool then keeps
// nothing more).
func (p *pool[K, V]) close(match func(K) bool) {
	p.mu.Lock()
	var old []V
	p.idle = slices.DeleteFunc(p.idle, func(e kept[K, V]) bool {
		if match == nil || match(e.key) {
			old = append(old, e.v)
			return true
		}
		return false
	})
	if match == nil {
		p.closed = true
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	p.mu.Unlock()
	for _, v := range old {
		p.drop(v)
	}
}
