package ocean

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// mustBeClientError fails unless err is nil or a 4xx: bad input never
// becomes a 5xx.
func mustBeClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e, ok := apierr.As(err)
	if !ok || e.Status < 400 || e.Status >= 500 {
		t.Fatalf("error %v is not a 4xx", err)
	}
}

func FuzzParseStart(f *testing.F) {
	const addr = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
	f.Add(addr, `{"documentId":"did:op:1","serviceId":"compute-1","transferTxId":"tx"}`, `{"documentId":"did:op:2"}`, "", "")
	f.Add(addr, `{"documentId":"did:op:1","transferTxId":"tx"}`, `{"meta":{"rawcode":"AGFzbQEAAAA="},"algocustomdata":{"column":"x"}}`,
		`[{"documentId":"did:op:3","transferTxId":"t3"}]`, "")
	f.Add(addr, `{"documentId":"did:op:1","transferTxId":"tx"}`, `{"meta":{"url":"https://example.com/a.wasm"}}`, `[]`, `{"a":[1,2]}`)
	f.Add("0x12", `[]`, `null`, `{}`, `{`)
	f.Add(addr, `{"documentId":"d","transferTxId":"t"} x`, `{"meta":{"rawcode":"!!"}}`, `[{"documentId":"d","transferTxId":"t"}]`, `"x"`)
	f.Fuzz(func(t *testing.T, consumer, dataset, algorithm, additional, custom string) {
		p := startParams{ConsumerAddress: consumer, Dataset: dataset, Algorithm: algorithm,
			AdditionalDatasets: additional, AlgoCustomData: custom, signed: signed{Nonce: "1", Signature: "0x00"}}
		req, err := p.parse()
		mustBeClientError(t, err)
		if err != nil {
			return
		}
		// What is accepted is what a job can be made of.
		if len(req.Datasets) == 0 || len(req.Datasets) > maxAdditionalDatasets+1 {
			t.Fatalf("datasets: %d", len(req.Datasets))
		}
		seen := map[string]bool{}
		for _, d := range req.Datasets {
			if d.DocumentID == "" || d.TransferTxID == "" || seen[d.DocumentID] {
				t.Fatalf("dataset accepted: %+v", d)
			}
			seen[d.DocumentID] = true
		}
		if req.Algorithm.Meta == nil && req.Algorithm.DocumentID == "" {
			t.Fatal("no algorithm accepted")
		}
		if req.CustomData != nil && !json.Valid(req.CustomData) {
			t.Fatalf("custom data %q is not JSON", req.CustomData)
		}
	})
}

func FuzzParseJobQuery(f *testing.F) {
	f.Add("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "a675e2fbd5dbd320a6b9348a612c90c8", "did:op:1")
	f.Add("", "", "")
	f.Add("0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "", "")
	f.Add("0xZZ", "'; DROP TABLE compute_jobs; --", "\x00")
	f.Fuzz(func(t *testing.T, owner, jobID, did string) {
		p := jobParams{ConsumerAddress: owner, JobID: jobID, DocumentID: did}
		q, err := p.query()
		mustBeClientError(t, err)
		if err == nil && (q.Owner != owner || q.JobID != jobID || q.DocumentID != did) {
			t.Fatalf("query %+v from %q %q %q", q, owner, jobID, did)
		}
	})
}

func FuzzParseEnvironment(f *testing.F) {
	f.Add("id=wasm")
	f.Add("id=big,memory=1024,max-jobs=4,max-duration=1h,max-input=10GiB,max-output=1GiB,price-min=0.01,desc=Large, slow jobs")
	f.Add("id=x,memory=0,max-jobs=-1")
	f.Add("id=x,max-output=9223372036854775807TiB")
	f.Add("desc=first")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEnvironment(s)
		if err != nil {
			return
		}
		if e.validate() != nil || e.MaxJobs < 1 || e.MaxJobDuration < time.Second || e.MemoryMiB < 1 || e.Fee(time.Hour) < 0 {
			t.Fatalf("accepted %+v", e)
		}
	})
}

func TestEnvironmentFee(t *testing.T) {
	e := Environment{ID: "x", PriceMin: 3, MaxJobDuration: 10 * time.Minute}
	for d, want := range map[time.Duration]int64{0: 0, time.Second: 3, time.Minute: 3, 61 * time.Second: 6, time.Hour: 30} {
		if got := e.Fee(d); int64(got) != want {
			t.Errorf("fee(%s) = %d, want %d", d, got, want)
		}
	}
}
