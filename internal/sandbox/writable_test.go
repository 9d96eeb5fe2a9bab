package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus-dds/dds/internal/sandbox/wasmtest"
)

// modCreate creates out.txt in the first preopened directory (fd 3) with
// "hello" in it, and exits with path_open's errno when that fails.
var modCreate = func() []byte {
	i32t, i64t := byte(0x7f), byte(0x7e)
	types := wasmtest.Section(1, wasmtest.Vec(
		[]byte{0x60, 9, i32t, i32t, i32t, i32t, i32t, i64t, i64t, i32t, i32t, 1, i32t}, // path_open
		[]byte{0x60, 4, i32t, i32t, i32t, i32t, 1, i32t},                               // fd_write
		[]byte{0x60, 1, i32t, 0}, // proc_exit
		[]byte{0x60, 0, 0},       // _start
	))
	imports := wasmtest.Section(2, wasmtest.Vec(
		wasmtest.Concat(wasmtest.Name("wasi_snapshot_preview1"), wasmtest.Name("path_open"), []byte{0, 0}),
		wasmtest.Concat(wasmtest.Name("wasi_snapshot_preview1"), wasmtest.Name("fd_write"), []byte{0, 1}),
		wasmtest.Concat(wasmtest.Name("wasi_snapshot_preview1"), wasmtest.Name("proc_exit"), []byte{0, 2}),
	))
	const fnPathOpen, fnWrite, fnExit = 0, 1, 2
	i64 := func(v int64) []byte { return append([]byte{0x42}, wasmtest.SLEB(v)...) }
	body := wasmtest.Concat(
		// errno := path_open(3, 0, "out.txt", O_CREAT|O_TRUNC, all rights, all rights, 0, &fd@200)
		wasmtest.I32(3), wasmtest.I32(0), wasmtest.I32(100), wasmtest.I32(7), wasmtest.I32(1|8), i64(-1), i64(-1), wasmtest.I32(0), wasmtest.I32(200), wasmtest.Call(fnPathOpen),
		[]byte{0x21, 0, 0x20, 0, wasmtest.OpIf, wasmtest.BlockVoid, 0x20, 0}, wasmtest.Call(fnExit), []byte{wasmtest.OpEnd}, // local 0 = errno; exit with it if set
		wasmtest.Store(0, wasmtest.I32(120)), wasmtest.Store(4, wasmtest.I32(5)),
		wasmtest.Load(200), wasmtest.I32(0), wasmtest.I32(1), wasmtest.I32(8), wasmtest.Call(fnWrite), []byte{wasmtest.OpDrop},
	)
	funcs := wasmtest.Section(3, wasmtest.Vec([]byte{3}))
	mem := wasmtest.Section(5, wasmtest.Vec(wasmtest.Concat([]byte{0}, wasmtest.ULEB(1))))
	exports := wasmtest.Section(7, wasmtest.Vec(wasmtest.Concat(wasmtest.Name("memory"), []byte{2, 0}), wasmtest.Concat(wasmtest.Name("_start"), []byte{0, 3})))
	code := wasmtest.Concat([]byte{1, 1, i32t}, body, []byte{wasmtest.OpEnd}) // one i32 local
	codes := wasmtest.Section(10, wasmtest.Vec(wasmtest.Concat(wasmtest.ULEB(uint64(len(code))), code)))
	data := wasmtest.Section(11, wasmtest.Vec(
		wasmtest.Concat([]byte{0}, wasmtest.I32(100), []byte{wasmtest.OpEnd}, wasmtest.Name("out.txt")),
		wasmtest.Concat([]byte{0}, wasmtest.I32(120), []byte{wasmtest.OpEnd}, wasmtest.Name("hello")),
	))
	return wasmtest.Concat([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, types, imports, funcs, mem, exports, codes, data)
}()

func TestWritableMount(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, modCreate)
	dir := t.TempDir()
	if _, err := r.Run(context.Background(), m, Run{Mounts: []Mount{{Guest: "/out", Dir: dir, Writable: true}}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("written file: %q %v", b, err)
	}
	// The default stays read-only.
	ro := t.TempDir()
	_, err := r.Run(context.Background(), m, Run{Mounts: []Mount{{Guest: "/in", Dir: ro}}})
	if !errors.Is(err, ErrExit) {
		t.Fatalf("creating a file in a read-only mount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ro, "out.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only mount was written: %v", err)
	}
}
