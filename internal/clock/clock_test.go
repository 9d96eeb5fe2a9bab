package clock

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A paced pass that takes 20 ms waits 10 times that before the next one,
// rather than its 1 ms interval; a wake runs the woken function at once.
func TestPaced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{})
	var runs, wakes atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Paced(ctx, time.Millisecond, 10, wake, func(context.Context) {
			runs.Add(1)
			time.Sleep(20 * time.Millisecond)
		}, func(context.Context) { wakes.Add(1) })
	}()
	time.Sleep(300 * time.Millisecond) // unpaced: about 14 runs; paced: 2
	if n := runs.Load(); n < 1 || n > 3 {
		t.Fatalf("%d runs in 300 ms, want 1 to 3", n)
	}
	wake <- struct{}{} // taken while waiting: runs now
	time.Sleep(50 * time.Millisecond)
	if wakes.Load() != 1 {
		t.Fatalf("a wake ran %d times", wakes.Load())
	}
	cancel()
	<-done
}
