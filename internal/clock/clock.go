// Package clock lets time be injected, so that terms, quotes and statements
// are testable without sleeping.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns the current UTC time.
func (Real) Now() time.Time { return time.Now().UTC() }

// Fake is a clock that only moves when told to. It is safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t.UTC()} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t.UTC()
	f.mu.Unlock()
}

// Every runs f every interval of real time (counted from the end of its last
// run), and whenever wake delivers (nil: never), until ctx ends. Background
// loops share it, so each says only what it does, not how it waits.
func Every(ctx context.Context, interval time.Duration, wake <-chan struct{}, f func(ctx context.Context)) {
	Paced(ctx, interval, 0, wake, f, f)
}

// Paced is Every with two functions: every runs periodically, woken when
// wake delivers (without moving the next periodic run). The period is
// interval, or share times every's last run if that is longer, so that a
// pass whose cost grows with what the node holds keeps to about 1/share of
// the time rather than running back to back.
func Paced(ctx context.Context, interval time.Duration, share int, wake <-chan struct{}, every, woken func(ctx context.Context)) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			every(ctx)
			t.Reset(max(interval, time.Duration(share)*time.Since(start)))
		case <-wake:
			woken(ctx)
		}
	}
}
