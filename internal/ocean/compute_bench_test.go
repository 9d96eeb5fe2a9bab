package ocean_test

import (
	"bytes"
	"testing"

	"github.com/prometheus-dds/dds/internal/ocean"
)

// BenchmarkLineCountJob runs whole jobs over HTTP: start, stage a 32 MiB
// dataset from its URL, count its lines in the sandbox, publish the
// results. Bytes are the dataset's. A first job, not timed, compiles the
// algorithm, which the node then keeps for later jobs.
func BenchmarkLineCountJob(b *testing.B) {
	e := newEnv(b, allowLoopback)
	e.dataset = bytes.Repeat([]byte("a line of a moderately long CSV file,12345,67.89\n"), 32<<20/50)
	did := e.publishDataset(nil)
	algo := published(e.publishAlgorithm("linecount"))
	tx := e.pay(did, "compute-1", e.consumer, "2")
	job := func() {
		j := e.start(e.startReq(did, tx, "wasm", algo))
		if j = e.wait(e.consumer, j.JobID, ocean.StatusFinished, ocean.StatusAlgorithmError); j.Status != ocean.StatusFinished {
			b.Fatalf("job: %+v", j)
		}
	}
	job()
	b.SetBytes(int64(len(e.dataset)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		job()
	}
}
