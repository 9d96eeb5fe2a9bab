package sandbox

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/prometheus-dds/dds/internal/sandbox/wasmtest"
)

// FuzzPrepare feeds the module rewriter (prepare: data image, loop checks)
// any bytes, as uploaded storlets and compute algorithms are: it never
// panics, and a module wazero accepts as it is stays one wazero accepts
// once rewritten, or is refused as one the sandbox cannot stop.
func FuzzPrepare(f *testing.F) {
	for _, m := range [][]byte{
		wasmtest.Cat,
		wasmtest.Command(nil, 1, "wasi_snapshot_preview1"),
		wasmtest.Reactor(nil, 1),
		wasmtest.ReactorCode(nil, 1),
		[]byte("\x00asm\x01\x00\x00\x00"),
	} {
		f.Add(m)
	}
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigInterpreter()
	f.Fuzz(func(t *testing.T, wasm []byte) {
		p := prepare(wasm)
		rt := wazero.NewRuntimeWithConfig(ctx, cfg)
		defer rt.Close(ctx)
		orig, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		orig.Close(ctx)
		if p.stop == "" {
			return // the sandbox refuses it: instrument could not read it
		}
		cm, err := rt.CompileModule(ctx, p.code)
		if err != nil {
			t.Fatalf("a valid module is invalid once prepared: %v", err)
		}
		cm.Close(ctx)
	})
}
