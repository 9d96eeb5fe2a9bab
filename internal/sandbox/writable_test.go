package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// modCreate creates out.txt in the first preopened directory (fd 3) with
// "hello" in it, and exits with path_open's errno when that fails.
var modCreate = func() []byte {
	i32t, i64t := byte(0x7f), byte(0x7e)
	types := section(1, vec(
		[]byte{0x60, 9, i32t, i32t, i32t, i32t, i32t, i64t, i64t, i32t, i32t, 1, i32t}, // path_open
		[]byte{0x60, 4, i32t, i32t, i32t, i32t, 1, i32t},                               // fd_write
		[]byte{0x60, 1, i32t, 0}, // proc_exit
		[]byte{0x60, 0, 0},       // _start
	))
	imports := section(2, vec(
		cat(name("wasi_snapshot_preview1"), name("path_open"), []byte{0, 0}),
		cat(name("wasi_snapshot_preview1"), name("fd_write"), []byte{0, 1}),
		cat(name("wasi_snapshot_preview1"), name("proc_exit"), []byte{0, 2}),
	))
	const fnPathOpen, fnWrite, fnExit = 0, 1, 2
	i64 := func(v int64) []byte { return append([]byte{0x42}, sleb(v)...) }
	body := cat(
		// errno := path_open(3, 0, "out.txt", O_CREAT|O_TRUNC, all rights, all rights, 0, &fd@200)
		i32(3), i32(0), i32(100), i32(7), i32(1|8), i64(-1), i64(-1), i32(0), i32(200), call(fnPathOpen),
		[]byte{0x21, 0, 0x20, 0, opIf, blockVoid, 0x20, 0}, call(fnExit), []byte{opEnd}, // local 0 = errno; exit with it if set
		store(0, i32(120)), store(4, i32(5)),
		load(200), i32(0), i32(1), i32(8), call(fnWrite), []byte{opDrop},
	)
	funcs := section(3, vec([]byte{3}))
	mem := section(5, vec(cat([]byte{0}, uleb(1))))
	exports := section(7, vec(cat(name("memory"), []byte{2, 0}), cat(name("_start"), []byte{0, 3})))
	code := cat([]byte{1, 1, i32t}, body, []byte{opEnd}) // one i32 local
	codes := section(10, vec(cat(uleb(uint64(len(code))), code)))
	data := section(11, vec(
		cat([]byte{0}, i32(100), []byte{opEnd}, name("out.txt")),
		cat([]byte{0}, i32(120), []byte{opEnd}, name("hello")),
	))
	return cat([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, types, imports, funcs, mem, exports, codes, data)
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
