package auth

import (
	"sync"
	"time"
)

// tokenCache remembers for a moment which principal a token belongs to.
// Every request authenticates, and a lookup in the database cost a tenth
// of the CPU of creating a small asset (bench/vsminio).
//
// A revocation made by this process, or applied from a peer's log, forgets
// every entry once its transaction has committed. A revocation
// made by another process sharing the node's database takes effect here
// within tokenCacheFor. That bound is real time, not the node's clock: it
// limits how stale an answer may be, it is no expiry of the domain's.
type tokenCache struct {
	mu      sync.Mutex
	gen     uint64 // bumped by forget: a lookup begun before it is not kept
	entries map[string]cachedPrincipal
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

const (
	tokenCacheFor = time.Second
	tokenCacheMax = 10_000 // entries; beyond, the cache starts afresh
)

// get returns the principal of a token hash if it was looked up less than
// tokenCacheFor ago, and the generation to hand put after a lookup.
func (c *tokenCache) get(hash string) (p Principal, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if ok && time.Now().Before(e.until) {
		return e.p, true, c.gen
	}
	return Principal{}, false, c.gen
}

// put keeps what a lookup begun at generation gen found, unless a
// revocation came meanwhile.
func (c *tokenCache) put(hash string, p Principal, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= tokenCacheMax {
		c.entries = map[string]cachedPrincipal{}
	}
	c.entries[hash] = cachedPrincipal{p: p, until: time.Now().Add(tokenCacheFor)}
}

// forget drops every entry and every lookup under way.
func (c *tokenCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
}
