package network

import (
	"testing"
	"time"
)

// A nonce is refused for at least span after its first use, and forgotten
// once two spans have passed; a clock set back forgets everything rather
// than keeping entries that would never rotate out.
func TestRecentNonces(t *testing.T) {
	const span = time.Minute
	t0 := time.Unix(1_000_000, 0)
	r := newRecentNonces(span)
	use := func(key string, at time.Duration, want bool) {
		t.Helper()
		if got := r.use(key, t0.Add(at)); got != want {
			t.Fatalf("%s at +%s: fresh=%v, want %v", key, at, got, want)
		}
	}
	use("a", 0, true)
	use("a", 0, false)
	use("b", span-time.Second, true) // the last moment of the first generation
	use("a", span, false)            // rotated: a is in the previous one
	use("b", 2*span-time.Second, false)
	use("a", 2*span, true)             // used 2 spans ago: forgotten
	use("b", 2*span+time.Second, true) // used more than a span ago: may be, and is, forgotten
	use("c", 2*span+time.Second, true)
	use("c", 5*span, true) // long idle: both generations dropped
	use("c", 5*span, false)
	use("c", 4*span, true) // the clock went back
	for i := range 10_000 {
		r.use(string(rune(i)), t0.Add(10*span+time.Duration(i)*time.Millisecond))
	}
	if n := len(r.cur) + len(r.prev); n > 10_000 {
		t.Fatalf("%d nonces held", n)
	}
}
