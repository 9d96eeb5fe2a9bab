// Package precompile compiles WebAssembly modules into a sandbox
// compilation cache. The compute tests run it once, without the race
// detector, so that their nodes (which may have it) load machine code
// instead of compiling the algorithms themselves, which takes a minute
// under -race. It is a test so that it reports the same wazero version
// as the test binaries that read the cache ("dev").
package precompile

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/sandbox"
)

func TestPrecompile(t *testing.T) {
	dir, modules := os.Getenv("PRECOMPILE_CACHE"), os.Getenv("PRECOMPILE_MODULES")
	if dir == "" || modules == "" {
		t.Skip("PRECOMPILE_CACHE and PRECOMPILE_MODULES are not set")
	}
	ctx := context.Background()
	rt, err := sandbox.New(ctx, sandbox.Limits{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	for _, path := range strings.Split(modules, string(os.PathListSeparator)) {
		wasm, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Compile(ctx, wasm, ""); err != nil {
			t.Fatal(path, err)
		}
	}
}
