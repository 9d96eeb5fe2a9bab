package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/sandbox/wasmtest"
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

// compile compiles a test module: a command's entry is _start, a
// reactor's run.
func compile(t testing.TB, r *Runtime, wasm []byte) *Module {
	t.Helper()
	entry := ""
	if bytes.Contains(wasm, []byte("_initialize")) {
		entry = "run"
	}
	m, err := r.Compile(context.Background(), wasm, entry)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCatStreams(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, wasmtest.Cat)
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
		{"truncated", "", "invalid module", wasmtest.Cat[:len(wasmtest.Cat)-3]},
		{"foreign import", "", "imports env.proc_exit", wasmtest.Command([]byte{}, 1, "env")},
		{"no entry", "main", "exports no function \"main\"", wasmtest.Cat},
		{"too much memory", "", "over limit of 16 pages", wasmtest.Command([]byte{}, 17, "")},
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
		{"loop", wasmtest.Loop, ErrTimeout},
		{"spew", wasmtest.Spew, ErrOutputLimit},
		{"grow", wasmtest.Grow, ErrMemoryLimit},
		{"exit", wasmtest.Exit3, ErrExit},
		{"trap", wasmtest.Trap, ErrTrap},
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
	_, err := r.Run(context.Background(), compile(t, r, wasmtest.Exit3), Run{})
	if !errors.As(err, &re) || re.Code != 3 || err.Error() != "exited with code 3" {
		t.Fatalf("exit: %v", err)
	}
}

func TestClientGoneEndsRun(t *testing.T) {
	r := newRuntime(t, Limits{Timeout: time.Minute})
	m := compile(t, r, wasmtest.Loop)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Run(ctx, m, Run{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	r := newRuntime(t, Limits{Concurrency: 1, Timeout: 400 * time.Millisecond, QueueWait: 50 * time.Millisecond})
	loop, cat := compile(t, r, wasmtest.Loop), compile(t, r, wasmtest.Cat)
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
	m := compile(t, r, wasmtest.Cat)
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
	m := compile(b, r, wasmtest.Cat)
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
	m := compile(b, r, wasmtest.Cat)
	in := make([]byte, 16<<20)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := r.Run(context.Background(), m, Run{Stdin: bytes.NewReader(in), Stdout: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReactorKeepsNothing: a reactor's instance serves the runs that share
// a Reuse key, and each finds the memory as it was before any run.
func TestReactorKeepsNothing(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, wasmtest.Remember)
	if !m.Reactor() {
		t.Fatal("not seen as a reactor")
	}
	zero := string(make([]byte, 16))
	for i, in := range []string{"secret of run 0", "run 1", ""} {
		var out bytes.Buffer
		if _, err := r.Run(context.Background(), m, Run{Stdin: strings.NewReader(in), Stdout: &out, Reuse: "alice"}); err != nil {
			t.Fatal(err)
		}
		if out.String() != zero {
			t.Fatalf("run %d saw %q", i, out.String())
		}
	}
	if n := r.made.Load(); n != 1 {
		t.Fatalf("%d instances made for 3 runs sharing one key, want 1", n)
	}
	// Other keys, other arguments and no key get instances of their own.
	for _, in := range []Run{{Reuse: "bob"}, {Reuse: "alice", Args: []string{"x=1"}}, {}, {}} {
		if _, err := r.Run(context.Background(), m, in); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.made.Load(); n != 5 {
		t.Fatalf("%d instances made, want 5", n)
	}
}

// TestReactorLimits: a reactor run over a limit is stopped like a command's,
// and its instance is not kept.
func TestReactorLimits(t *testing.T) {
	r := newRuntime(t, Limits{Timeout: 200 * time.Millisecond})
	loop, cat := compile(t, r, wasmtest.LoopReactor), compile(t, r, wasmtest.CatReactor)
	for i := 0; i < 2; i++ {
		if _, err := r.Run(context.Background(), loop, Run{Reuse: "k"}); !errors.Is(err, ErrTimeout) {
			t.Fatalf("loop: %v", err)
		}
	}
	if n := r.made.Load(); n != 2 { // the first run timed out in its warm-up; the second has none
		t.Fatalf("%d instances made, want 2", n)
	}
	var out bytes.Buffer
	if _, err := r.Run(context.Background(), cat, Run{Stdin: strings.NewReader("still runs"), Stdout: &out, Reuse: "k"}); err != nil || out.String() != "still runs" {
		t.Fatalf("cat after: %q %v", out.String(), err)
	}
	// A handler's returned code is its exit code.
	var re *RunError
	if _, err := r.Run(context.Background(), compile(t, r, wasmtest.Exit7Reactor), Run{Reuse: "k"}); !errors.As(err, &re) || re.Code != 7 {
		t.Fatalf("returned 7: %v", err)
	}
}

func TestReactorConcurrentRuns(t *testing.T) {
	r := newRuntime(t, Limits{Concurrency: 4})
	m := compile(t, r, wasmtest.CatReactor)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := strings.Repeat(string(rune('a'+i)), 10000+i)
			var out bytes.Buffer
			if _, err := r.Run(context.Background(), m, Run{Stdin: strings.NewReader(in), Stdout: &out, Reuse: "k"}); err != nil || out.String() != in {
				t.Errorf("run: %v, %d bytes", err, out.Len())
			}
		}()
	}
	wg.Wait()
	if n := r.made.Load(); n > 16 {
		t.Fatalf("%d instances for 16 runs", n)
	}
}

// BenchmarkTrivialReactorRun is the fixed cost of one run of a kept reactor
// instance: call, reset.
func BenchmarkTrivialReactorRun(b *testing.B) {
	r := newRuntime(b, Limits{})
	m := compile(b, r, wasmtest.CatReactor)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Run(context.Background(), m, Run{Reuse: "k"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatReactorThroughput streams 16 MiB through a kept reactor.
func BenchmarkCatReactorThroughput(b *testing.B) {
	r := newRuntime(b, Limits{})
	m := compile(b, r, wasmtest.CatReactor)
	in := make([]byte, 16<<20)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Run(context.Background(), m, Run{Stdin: bytes.NewReader(in), Stdout: io.Discard, Reuse: "k"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemoryPristine: instances reuse memories, and each finds its memory
// as a fresh one: its data segments, zeros elsewhere, also in what an
// earlier instance grew into.
func TestMemoryPristine(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, wasmtest.Pristine)
	want := "0123456789abcdef" + string(make([]byte, 8))
	for i, in := range []string{"secret of run 0!", "run 1", ""} {
		var out bytes.Buffer
		if _, err := r.Run(context.Background(), m, Run{Stdin: strings.NewReader(in), Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("run %d saw %q", i, out.String())
		}
	}
	if n := len(r.mems.idle); n != 1 {
		t.Fatalf("%d memories kept after 3 runs in a row, want 1", n)
	}
}

func TestMakeImage(t *testing.T) {
	img := makeImage([]imageRun{
		{off: 10, data: []byte("aaaa")},
		{off: 12, data: []byte("bb")},           // overlaps: the later one wins
		{off: 5000, data: []byte("c")},          // the next page: the same run
		{off: 3 * osPage, data: []byte{}},       // empty: nothing
		{off: 5*osPage - 1, data: []byte("dd")}, // across two pages
	})
	if len(img) != 2 || img[0].off != 0 || len(img[0].data) != 2*osPage || img[1].off != 4*osPage || len(img[1].data) != 2*osPage {
		t.Fatalf("runs: %d", len(img))
	}
	if got := string(img[0].data[10:14]); got != "aabb" || img[0].data[5000] != 'c' || string(img[1].data[osPage-1:osPage+1]) != "dd" {
		t.Fatalf("content: %q", got)
	}
}

// TestStopUnreachable: a module cannot set the global that stops it.
func TestStopUnreachable(t *testing.T) {
	r := newRuntime(t, Limits{})
	var ie *InvalidModuleError
	if _, err := r.Compile(context.Background(), wasmtest.SetsGlobal, ""); !errors.As(err, &ie) {
		t.Fatalf("got %v, want an InvalidModuleError", err)
	}
	// The global it sets would be the stop global: instrument refuses.
	secs, _ := splitSections(wasmtest.SetsGlobal)
	if _, _, err := instrument(secs); err == nil {
		t.Fatal("instrumented a module that sets the stop global")
	}
}

// TestLoopLetsGCRun: machine code cannot be preempted, so a module in a
// loop must call into Go now and then, or a collection (which stops every
// goroutine) would wait for it, and the whole process with it.
func TestLoopLetsGCRun(t *testing.T) {
	r := newRuntime(t, Limits{Timeout: time.Second})
	m := compile(t, r, wasmtest.Loop)
	done := make(chan error)
	go func() {
		_, err := r.Run(context.Background(), m, Run{})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	for range 5 {
		runtime.GC()
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("5 collections took %s while a module looped", d)
	}
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("loop: %v", err)
	}
}

// TestCommandSpares: a command's runs sharing a reuse key get instances
// made ahead of them, which have run nothing.
func TestCommandSpares(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, wasmtest.Pristine)
	want := "0123456789abcdef" + string(make([]byte, 8))
	for i, in := range []string{"secret of run 0!", "run 1", ""} {
		for n := int64(i); i > 0 && r.made.Load() == n; { // the spare the last run left
			time.Sleep(time.Millisecond)
		}
		var out bytes.Buffer
		if _, err := r.Run(context.Background(), m, Run{Stdin: strings.NewReader(in), Stdout: &out, Reuse: "alice"}); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("run %d saw %q", i, out.String())
		}
	}
	// Another key does not get alice's spare.
	for r.made.Load() < 4 { // 3 runs, the first made at once, each leaving a spare
		time.Sleep(time.Millisecond)
	}
	made := r.made.Load()
	if _, err := r.Run(context.Background(), m, Run{Reuse: "bob"}); err != nil {
		t.Fatal(err)
	}
	if r.made.Load() == made {
		t.Fatal("bob's run took alice's spare")
	}
}
