package ocean

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

func (s *Service) environments(w http.ResponseWriter, r *http.Request) error {
	counts := map[string][2]int{}
	rows, err := s.db.QueryContext(r.Context(), `SELECT environment, status=1, COUNT(*) FROM compute_jobs WHERE status IN `+activeSQL+` GROUP BY 1, 2`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var env string
		var queued bool
		var n int
		if err := rows.Scan(&env, &queued, &n); err != nil {
			return err
		}
		c := counts[env]
		if queued {
			c[1] = n
		} else {
			c[0] = n
		}
		counts[env] = c
	}
	if err := rows.Err(); err != nil {
		return err
	}
	out := []api.ComputeEnvironment{}
	for _, e := range s.envOrder {
		out = append(out, api.ComputeEnvironment{
			ID: e.ID, Desc: e.Description, CPUType: "wasm32 (WASI preview 1, wazero)", NCPU: 1, CPUNumber: 1,
			RAMGB: float64(e.MemoryMiB) / 1024, DiskGB: float64(e.MaxInput+e.MaxOutput) / (1 << 30),
			MaxJobs: e.MaxJobs, CurrentJobs: counts[e.ID][0], QueuedJobs: counts[e.ID][1],
			PriceMin: e.PriceMin.Float64(), PricePerMinute: e.PriceMin.String(),
			MaxJobDuration: int64(e.MaxJobDuration / time.Second), MaxOutputBytes: e.MaxOutput,
			FeeToken: s.cfg.FeeToken, ConsumerAddress: s.key.Address(),
			StorageExpiry: int64(s.cfg.Compute.Retention / time.Second), LastSeen: s.clock.Now().Unix(), Free: e.PriceMin == 0,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// environment returns the environment a request names (the first when it
// names none).
func (s *Service) environment(id string) (*environment, error) {
	if id == "" {
		return s.envOrder[0], nil
	}
	e, ok := s.envs[id]
	if !ok {
		ids := make([]string, 0, len(s.envOrder))
		for _, e := range s.envOrder {
			ids = append(ids, e.ID)
		}
		return nil, bad("Compute environment %q does not exist on this provider (it has %s)", id, strings.Join(ids, ", "))
	}
	return e, nil
}

// initializeCompute answers initializeCompute: for each dataset its datatoken, a
// signed provider fee (the environment's fee for the requested duration on
// the main dataset) and whether the order it names is valid.
func (s *Service) initializeCompute(w http.ResponseWriter, r *http.Request) error {
	var p initializeComputeParams
	if err := decode(w, r, &p); err != nil {
		return err
	}
	consumer := p.ConsumerAddress
	if !identity.ValidAddress(consumer) {
		return badAddress("consumerAddress", consumer)
	}
	var datasets []api.ComputeDataset
	if err := required("datasets", p.Datasets); err != nil {
		return err
	}
	if err := decodeObject("datasets", p.Datasets, &datasets); err != nil {
		return err
	}
	if len(datasets) == 0 || len(datasets) > maxAdditionalDatasets+1 {
		return bad("datasets must list 1 to %d datasets", maxAdditionalDatasets+1)
	}
	var cenv struct {
		Env        string `json:"env"`
		ValidUntil int64  `json:"validUntil"`
	}
	if p.Compute != "" {
		if err := decodeObject("compute", p.Compute, &cenv); err != nil {
			return err
		}
	}
	// ocean.js's initializeComputeV1 names the environment at the top and
	// the duration in payment.maxJobDuration (seconds).
	var payment struct {
		MaxJobDuration float64 `json:"maxJobDuration"`
	}
	if p.Payment != "" {
		if err := decodeObject("payment", p.Payment, &payment); err != nil {
			return err
		}
	}
	if cenv.Env == "" {
		cenv.Env = p.Environment
	}
	env, err := s.environment(cenv.Env)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	duration := env.MaxJobDuration
	if d := payment.MaxJobDuration; d > 0 && d < duration.Seconds() {
		duration = time.Duration(d * float64(time.Second))
	}
	if cenv.ValidUntil != 0 {
		if cenv.ValidUntil <= now.Unix() || cenv.ValidUntil > now.Unix()+10*365*24*3600 {
			return bad("compute.validUntil %d is not a future UTC timestamp", cenv.ValidUntil)
		}
		duration = time.Duration(cenv.ValidUntil-now.Unix()) * time.Second
	}
	var out api.ComputeInitialized
	for i, ref := range datasets {
		if ref.DocumentID == "" || len(ref.DocumentID) > maxIDLength {
			return bad("datasets[%d].documentId is required", i)
		}
		_, d, _, err := s.loadDDO(r.Context(), ref.DocumentID)
		if err != nil {
			return err
		}
		svc, err := computeService(d, ref.ServiceID)
		if err != nil {
			return err
		}
		fee := money.Amount(0)
		if i == 0 {
			fee = env.Fee(duration)
		}
		a, err := s.quote(r, env, d, svc, consumer, ref.TransferTxID, fee, now)
		if err != nil {
			return err
		}
		out.Datasets = append(out.Datasets, a)
	}
	if p.Algorithm != "" {
		var alg api.ComputeAlgorithm
		if err := decodeObject("algorithm", p.Algorithm, &alg); err != nil {
			return err
		}
		if alg.Meta == nil && alg.DocumentID != "" {
			_, d, _, err := s.loadDDO(r.Context(), alg.DocumentID)
			if err != nil {
				return err
			}
			svc, err := algorithmService(d, alg.ServiceID)
			if err != nil {
				return err
			}
			a, err := s.quote(r, env, d, svc, consumer, alg.TransferTxID, 0, now)
			if err != nil {
				return err
			}
			out.Algorithm = &a
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) quote(r *http.Request, env *environment, d *api.DDO, svc api.DDOService, consumer, txID string, fee money.Amount, now time.Time) (a api.ComputeQuote, err error) {
	dt := svc.DatatokenAddress
	if dt == "" {
		dt = ZeroAddress
	}
	data, err := json.Marshal(providerData{Environment: env.ID, Timestamp: now.Unix(), DT: dt, ID: svc.ID})
	if err != nil {
		return a, err
	}
	validUntil := int64(0)
	if svc.Timeout > 0 {
		validUntil = now.Unix() + svc.Timeout
	}
	a.ProviderFee, err = SignFee(s.key, data, s.cfg.FeeToken, big.NewInt(int64(fee)), validUntil)
	if err != nil {
		return a, err
	}
	a.Datatoken = dt
	a.ValidOrder = false
	if txID != "" && s.checkOrder(r, txID, d.ID, svc, consumer) == nil {
		a.ValidOrder = txID
	}
	total := price(svc) + fee
	a.Price = total.String()
	a.Payment = map[string]string{
		"how":         "POST /payments with attributes document_id, service_id, consumer_address, amount; the payment id is the transferTxId",
		"document_id": d.ID, "service_id": svc.ID, "consumer_address": consumer, "amount": total.String(),
	}
	return a, nil
}

// algorithmService is the service of an algorithm document whose files are
// the algorithm: serviceID, or its first service.
func algorithmService(d *api.DDO, serviceID string) (api.DDOService, error) {
	if t, _ := d.Metadata["type"].(string); t != "algorithm" {
		return api.DDOService{}, apierr.BadRequest("invalid_algorithm", "asset %s is not an algorithm (metadata.type is %q)", d.ID, t)
	}
	if serviceID == "" {
		return d.Services[0], nil
	}
	svc, ok := d.Service(serviceID)
	if !ok {
		return svc, bad("Invalid serviceId %q for algorithm %s", serviceID, d.ID)
	}
	return svc, nil
}

// jobSpec is what a worker needs to run a job, stored with it.
type jobSpec struct {
	Datasets   []api.ComputeDataset `json:"datasets"`
	AlgoDID    string               `json:"algoDid,omitempty"`
	AlgoSvc    string               `json:"algoServiceId,omitempty"`
	AlgoURL    string               `json:"algoUrl,omitempty"`
	AlgoCode   []byte               `json:"algoCode,omitempty"`
	CustomData json.RawMessage      `json:"customData,omitempty"`
}

func (s *Service) start(w http.ResponseWriter, r *http.Request) error {
	var p startParams
	if err := decode(w, r, &p); err != nil {
		return err
	}
	req, err := p.parse()
	if err != nil {
		return err
	}
	main := req.Datasets[0]
	if err := s.authorize(r, req.Consumer, req.Consumer+main.DocumentID, req.signed); err != nil {
		return err
	}
	env, err := s.environment(req.Environment)
	if err != nil {
		return err
	}
	spec := jobSpec{CustomData: req.CustomData}
	var mainRaw []byte
	for i, ref := range req.Datasets {
		raw, d, _, err := s.loadDDO(r.Context(), ref.DocumentID)
		if err != nil {
			return err
		}
		svc, err := computeService(d, ref.ServiceID)
		if err != nil {
			return err
		}
		if err := s.checkOrder(r, ref.TransferTxID, d.ID, svc, req.Consumer); err != nil {
			return err
		}
		if i == 0 {
			mainRaw = raw
			if err := s.checkEnvFee(r.Context(), env, d.ID, svc, req.Consumer); err != nil {
				return err
			}
		}
		ref.ServiceID = svc.ID
		ref.Userdata = nil
		spec.Datasets = append(spec.Datasets, ref)
	}
	opts := serviceOptions(mainRaw, spec.Datasets[0].ServiceID)
	switch alg := req.Algorithm; {
	case alg.Meta != nil:
		if !opts.AllowRawAlgorithm {
			return apierr.BadRequest("raw_algorithm_not_allowed", "cannot run raw algorithm on this dataset: its compute service does not allow raw algorithms")
		}
		if alg.Meta.URL != "" {
			if err := s.validFile(api.FileObject{Type: "url", URL: alg.Meta.URL}); err != nil {
				return bad("algorithm.meta.url: %v", err)
			}
		}
		spec.AlgoURL, spec.AlgoCode = alg.Meta.URL, req.RawCode
	default:
		_, d, _, err := s.loadDDO(r.Context(), alg.DocumentID)
		if err != nil {
			return err
		}
		svc, err := algorithmService(d, alg.ServiceID)
		if err != nil {
			return err
		}
		if !trusts(opts, d.ID) {
			return apierr.BadRequest("algorithm_not_trusted", "this algorithm is not trusted by the dataset's publisher: %s is not among its publisherTrustedAlgorithms", d.ID)
		}
		if price(svc) > 0 {
			if alg.TransferTxID == "" {
				return apierr.BadRequest("missing_parameter", "algorithm.transferTxId is required: the algorithm's service %q has a price", svc.ID)
			}
			if err := s.checkOrder(r, alg.TransferTxID, d.ID, svc, req.Consumer); err != nil {
				return err
			}
		}
		spec.AlgoDID, spec.AlgoSvc = d.ID, svc.ID
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	id := newJobID()
	now := s.clock.Now()
	err = s.db.Tx(r.Context(), func(tx *store.Tx) error {
		var queued int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM compute_jobs WHERE environment=? AND status=?`, env.ID, StatusWarmingUp).Scan(&queued); err != nil {
			return err
		}
		if queued >= s.cfg.Compute.MaxQueue {
			return apierr.New(http.StatusServiceUnavailable, "queue_full", "compute environment %s has %d jobs waiting already: try again later", env.ID, queued)
		}
		_, err := tx.Exec(`INSERT INTO compute_jobs(id,owner,did,environment,spec,status,created_at) VALUES(?,?,?,?,?,?,?)`,
			id, strings.ToLower(req.Consumer), main.DocumentID, env.ID, string(specJSON), StatusWarmingUp, store.Time(now))
		return err
	})
	if err != nil {
		return err
	}
	s.notify(id, StatusWarmingUp)
	nudge(env.wake)
	s.log.Info("compute job accepted", "job", id, "owner", req.Consumer, "did", main.DocumentID, "environment", env.ID, "algorithm", spec.AlgoDID)
	jobs, err := s.jobs(r.Context(), jobQuery{Owner: req.Consumer, JobID: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobs)
	return nil
}

// checkEnvFee requires, for a priced environment, that the consumer's
// orders for the dataset's compute service also cover the environment's fee
// for a job of the maximum duration.
func (s *Service) checkEnvFee(ctx context.Context, env *environment, did string, svc api.DDOService, consumer string) error {
	fee := env.Fee(env.MaxJobDuration)
	if fee == 0 {
		return nil
	}
	var since time.Time
	if svc.Timeout > 0 {
		since = s.clock.Now().Add(-time.Duration(svc.Timeout) * time.Second)
	}
	paid, _, err := s.ledger.PaidWhere(ctx, map[string]string{
		"document_id": did, "service_id": svc.ID, "consumer_address": strings.ToLower(consumer)}, since)
	if err != nil {
		return err
	}
	if need := price(svc) + fee; paid < need {
		return apierr.New(http.StatusPaymentRequired, "underpaid",
			"the orders for %s cover %s of %s: the service's price and the %s environment's fee of %s for %s", did, paid, need, env.ID, fee, env.MaxJobDuration)
	}
	return nil
}

func newJobID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) notify(id string, status int) {
	if s.cfg.Compute.OnStatus != nil {
		s.cfg.Compute.OnStatus(id, status)
	}
}

func unixText(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// jobs lists the jobs q selects, oldest first, with their results.
func (s *Service) jobs(ctx context.Context, q jobQuery) ([]api.ComputeJob, error) {
	query := `SELECT id, owner, did, environment, spec, status, error, created_at, COALESCE(finished_at,''), COALESCE(expires_at,'')
		FROM compute_jobs WHERE owner=?`
	args := []any{strings.ToLower(q.Owner)}
	if q.JobID != "" {
		query += ` AND id=?`
		args = append(args, q.JobID)
	}
	if q.DocumentID != "" {
		query += ` AND did=?`
		args = append(args, q.DocumentID)
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY created_at, rowid LIMIT 1000`, args...)
	if err != nil {
		return nil, err
	}
	out := []api.ComputeJob{}
	for rows.Next() {
		var j api.ComputeJob
		var spec, created, finished, expires string
		if err := rows.Scan(&j.JobID, &j.Owner, &j.DocumentID, &j.Environment, &spec, &j.Status, &j.Error, &created, &finished, &expires); err != nil {
			rows.Close()
			return nil, err
		}
		j.Owner = identity.ChecksumAddress(j.Owner)
		j.DID = j.DocumentID
		j.StatusText = StatusText(j.Status)
		j.DateCreated = unixText(store.ParseTime(created))
		if finished != "" {
			f := unixText(store.ParseTime(finished))
			j.DateFinished = &f
		}
		if expires != "" {
			e := store.ParseTime(expires).Unix()
			j.ExpireTimestamp = &e
		}
		var sp jobSpec
		_ = json.Unmarshal([]byte(spec), &sp)
		for _, d := range sp.Datasets {
			j.InputDID = append(j.InputDID, d.DocumentID)
		}
		j.AlgoDID = sp.AlgoDID
		j.Results, j.ResultsURLs = []api.ComputeResult{}, []string{}
		out = append(out, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		res, err := s.results(ctx, out[i].JobID)
		if err != nil {
			return nil, err
		}
		out[i].Results = res
	}
	return out, nil
}

func (s *Service) results(ctx context.Context, jobID string) ([]api.ComputeResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, name, size, type FROM compute_results WHERE job_id=? ORDER BY idx`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.ComputeResult{}
	for rows.Next() {
		var r api.ComputeResult
		if err := rows.Scan(&r.Index, &r.Filename, &r.Filesize, &r.Type); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// status lists the caller's jobs. It is not signed (as in the real
// provider): it answers only for the consumerAddress given, so it never
// shows one consumer's jobs to a request naming another.
func (s *Service) status(w http.ResponseWriter, r *http.Request) error {
	_, q, err := decodeJobQuery(w, r)
	if err != nil {
		return err
	}
	jobs, err := s.jobs(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobs)
	return nil
}

// signedJobs reads and authorizes a stop or delete: the owner signs
// consumerAddress + jobId + documentId + nonce.
//
// ocean.js 4.x's computeStop signs consumerAddress + jobId without the
// nonce. A stop of one named job is accepted signed that way too: replaying
// it can only stop that job again.
func (s *Service) signedJobs(w http.ResponseWriter, r *http.Request) (jobQuery, []api.ComputeJob, error) {
	p, q, err := decodeJobQuery(w, r)
	if err != nil {
		return q, nil, err
	}
	if q.JobID == "" && q.DocumentID == "" {
		return q, nil, apierr.BadRequest("missing_parameter", "jobId or documentId is required")
	}
	original := q.Owner + q.JobID + q.DocumentID
	if err := s.authorize(r, q.Owner, original, p.signed); err != nil {
		if e, ok := apierr.As(err); !ok || e.Status != http.StatusUnauthorized || r.Method != http.MethodPut || q.JobID == "" ||
			VerifySignature(q.Owner, original, "", p.Signature) != nil {
			return q, nil, err
		}
	}
	jobs, err := s.jobs(r.Context(), q)
	if err != nil {
		return q, nil, err
	}
	if len(jobs) == 0 {
		return q, nil, apierr.NotFound("no such compute job of %s", q.Owner)
	}
	return q, jobs, nil
}

func (s *Service) stopJobs(w http.ResponseWriter, r *http.Request) error {
	q, jobs, err := s.signedJobs(w, r)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := s.stopJob(r.Context(), j.JobID); err != nil {
			return err
		}
	}
	if jobs, err = s.jobs(r.Context(), q); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobs)
	return nil
}

// stopJob ends a job that has not ended: it is marked stopped, then its
// run (if any) is cancelled.
func (s *Service) stopJob(ctx context.Context, id string) error {
	now := s.clock.Now()
	var stopped bool
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(`UPDATE compute_jobs SET status=?, error='', finished_at=?, expires_at=? WHERE id=? AND status IN `+activeSQL,
			StatusStopped, store.Time(now), store.Time(now.Add(s.cfg.Compute.Retention)), id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		stopped = n == 1
		return nil
	})
	if err != nil || !stopped {
		return err
	}
	s.cancel(id, errStopped)
	s.notify(id, StatusStopped)
	s.log.Info("compute job stopped", "job", id)
	return nil
}

var (
	errStopped = errors.New("stopped by its owner")
	errDeleted = errors.New("deleted by its owner")
)

func (s *Service) cancel(id string, cause error) {
	s.mu.Lock()
	c := s.running[id]
	s.mu.Unlock()
	if c != nil {
		c(cause)
	}
}

func (s *Service) deleteJobs(w http.ResponseWriter, r *http.Request) error {
	_, jobs, err := s.signedJobs(w, r)
	if err != nil {
		return err
	}
	for i, j := range jobs {
		// A run is stopped first; the delete then removes what it left.
		s.cancel(j.JobID, errDeleted)
		err := s.db.Tx(r.Context(), func(tx *store.Tx) error {
			if err := s.dropResults(tx, j.JobID); err != nil {
				return err
			}
			_, err := tx.Exec(`DELETE FROM compute_jobs WHERE id=?`, j.JobID)
			return err
		})
		if err != nil {
			return err
		}
		s.notify(j.JobID, StatusDeleted)
		s.log.Info("compute job deleted", "job", j.JobID)
		jobs[i].Status, jobs[i].StatusText, jobs[i].Results = StatusDeleted, StatusText(StatusDeleted), []api.ComputeResult{}
	}
	writeJSON(w, http.StatusOK, jobs)
	return nil
}

// result streams one result of a job to its owner, who signs
// consumerAddress + jobId + index.
func (s *Service) result(w http.ResponseWriter, r *http.Request) error {
	var p resultParams
	if err := decode(w, r, &p); err != nil {
		return err
	}
	owner, jobID, index := p.ConsumerAddress, p.JobID, p.Index
	if err := address("consumerAddress", owner); err != nil {
		return err
	}
	switch {
	case jobID == "" || len(jobID) > maxIDLength:
		return apierr.BadRequest("missing_parameter", "jobId is required")
	case index == "":
		return apierr.BadRequest("missing_parameter", "index is required")
	}
	idx, err := strconv.Atoi(index)
	if err != nil || idx < 0 {
		return bad("index %q is not a non-negative integer", index)
	}
	if err := s.authorize(r, owner, owner+jobID+index, p.signed); err != nil {
		return err
	}
	var name, hash string
	var created string
	err = s.db.QueryRowContext(r.Context(), `SELECT r.name, r.hash, j.created_at FROM compute_results r JOIN compute_jobs j ON j.id=r.job_id
		WHERE r.job_id=? AND r.idx=? AND j.owner=?`, jobID, idx, strings.ToLower(owner)).Scan(&name, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return apierr.NotFound("job %s of %s has no result %d", jobID, owner, idx)
	}
	if err != nil {
		return err
	}
	f, err := s.blobs.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", contentDisposition(strings.ReplaceAll(name, "/", "_"), " "))
	w.Header().Set("ETag", `"`+hash+`"`)
	http.ServeContent(w, r, "", store.ParseTime(created), f)
	return nil
}
