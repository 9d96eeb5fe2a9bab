package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func newRuntime(t testing.TB, lim Limits) *Runtime {
	t.Helper()
	r, err := New(context.Background(), lim, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func compile(t testing.TB, r *Runtime, wasm []byte) *Module {
	t.Helper()
	m, err := r.Compile(context.Background(), wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCatStreams(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, modCat)
	in := make([]byte, 1<<20+13)
	rand.Read(in)
	var out bytes.Buffer
	res, err := r.Run(context.Background(), m, Run{Stdin: bytes.NewReader(in), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), in) || res.Output != int64(len(in)) {
		t.Fatalf("cat: got %d bytes, want %d", out.Len(), len(in))
	}
}

func TestCompileRefuses(t *testing.T) {
	r := newRuntime(t, Limits{MemoryPages: 16})
	for _, tc := range []struct {
		name, entry, want string
		wasm              []byte
	}{
		{"not wasm", "", "no \\0asm header", []byte("#!/bin/sh\necho hi\n")},
		{"truncated", "", "invalid module", modCat[:len(modCat)-3]},
		{"foreign import", "", "imports env.proc_exit", command([]byte{}, 1, "env")},
		{"no entry", "main", "exports no function \"main\"", modCat},
		{"too much memory", "", "over limit of 16 pages", command([]byte{}, 17, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Compile(context.Background(), tc.wasm, tc.entry)
			var ie *InvalidModuleError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an InvalidModuleError with %q", err, tc.want)
			}
		})
	}
}

func TestLimitsStopRuns(t *testing.T) {
	r := newRuntime(t, Limits{MemoryPages: 256, Timeout: time.Second, MaxOutput: 100 << 10})
	for _, tc := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"loop", modLoop, ErrTimeout},
		{"spew", modSpew, ErrOutputLimit},
		{"grow", modGrow, ErrMemoryLimit},
		{"exit", modExit3, ErrExit},
		{"trap", modTrap, ErrTrap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := compile(t, r, tc.wasm)
			start := time.Now()
			var out bytes.Buffer
			_, err := r.Run(context.Background(), m, Run{Stdout: &out})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s to stop", time.Since(start))
			}
			if out.Len() > 100<<10 {
				t.Fatalf("wrote %d bytes past the limit", out.Len())
			}
		})
	}
	var re *RunError
	_, err := r.Run(context.Background(), compile(t, r, modExit3), Run{})
	if !errors.As(err, &re) || re.Code != 3 || err.Error() != "exited with code 3" {
		t.Fatalf("exit: %v", err)
	}
}

func TestClientGoneEndsRun(t *testing.T) {
	r := newRuntime(t, Limits{Timeout: time.Minute})
	m := compile(t, r, modLoop)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Run(ctx, m, Run{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	r := newRuntime(t, Limits{Concurrency: 1, Timeout: 400 * time.Millisecond, QueueWait: 50 * time.Millisecond})
	loop, cat := compile(t, r, modLoop), compile(t, r, modCat)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.Run(context.Background(), loop, Run{})
	}()
	time.Sleep(50 * time.Millisecond) // let the loop take the slot
	if _, err := r.Run(context.Background(), cat, Run{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("with the only slot taken: %v", err)
	}
	wg.Wait()
	if _, err := r.Run(context.Background(), cat, Run{Stdin: strings.NewReader("x"), Stdout: io.Discard}); err != nil {
		t.Fatalf("after the slot freed: %v", err)
	}
}

func TestManyConcurrentRuns(t *testing.T) {
	r := newRuntime(t, Limits{Concurrency: 4})
	m := compile(t, r, modCat)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := strings.Repeat("abc", 10000)
			var out bytes.Buffer
			if _, err := r.Run(context.Background(), m, Run{Stdin: strings.NewReader(in), Stdout: &out}); err != nil || out.String() != in {
				t.Errorf("run: %v, %d bytes", err, out.Len())
			}
		}()
	}
	wg.Wait()
}

// BenchmarkTrivialRun is the fixed cost of one run: instantiate, run, close.
func BenchmarkTrivialRun(b *testing.B) {
	r := newRuntime(b, Limits{})
	m := compile(b, r, modCat)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Run(context.Background(), m, Run{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatThroughput streams 16 MiB through an identity module.
func BenchmarkCatThroughput(b *testing.B) {
	r := newRuntime(b, Limits{})
	m := compile(b, r, modCat)
	in := make([]byte, 16<<20)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := r.Run(context.Background(), m, Run{Stdin: bytes.NewReader(in), Stdout: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}
