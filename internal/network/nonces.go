package network

import (
	"sync"
	"time"
)

// recentNonces remembers, in this process, the nonces of the signed requests
// whose replay does no harm (replaySafe): a confirmation, an audit proof or a
// read answered again. Recording them in the database cost every confirming
// peer a write for every quote; refusing a replay of such a request is only
// hygiene, so the one process that answered it is enough to remember it.
//
// Two generations of at least span each: a nonce is remembered for at least
// span after it was used, and memory holds at most two spans' worth.
type recentNonces struct {
	span time.Duration

	mu        sync.Mutex
	cur, prev map[string]struct{}
	rotated   time.Time
}

func newRecentNonces(span time.Duration) *recentNonces {
	return &recentNonces{span: span, cur: map[string]struct{}{}, prev: map[string]struct{}{}}
}

// use records key at now; false if it was recorded already.
func (r *recentNonces) use(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := now.Sub(r.rotated); d >= r.span || d < 0 {
		if d >= 2*r.span || d < 0 {
			clear(r.cur) // used more than span ago too
		}
		r.prev, r.cur = r.cur, r.prev
		clear(r.cur)
		r.rotated = now
	}
	if _, ok := r.cur[key]; ok {
		return false
	}
	if _, ok := r.prev[key]; ok {
		return false
	}
	r.cur[key] = struct{}{}
	return true
}
