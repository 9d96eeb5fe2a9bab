package ocean

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/money"
)

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
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// quote is initializeCompute's answer for one asset: its datatoken, the
// signed provider fee (fee for a job in env) and whether order txID is valid.
func (s *Service) quote(r *http.Request, env *environment, d *api.DDO, svc api.DDOService, consumer, txID string, fee money.Amount, now time.Time) (a api.ComputeQuote, err error) {
	a.ProviderFee, err = s.signFee(svc, env.ID, fee, orderEnd(svc, now), now)
	if err != nil {
		return a, err
	}
	a.Datatoken = datatoken(svc)
	a.ValidOrder = false
	if txID != "" && s.checkOrder(r, txID, d.ID, svc, consumer) == nil {
		a.ValidOrder = txID
	}
	total := price(svc) + fee
	a.Price = total.String()
	a.Payment = orderPayment(d.ID, svc.ID, consumer, total)
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
		if err := s.checkComputeOrder(r, ref.TransferTxID, d.ID, svc, req.Consumer, env, i == 0); err != nil {
			return err
		}
		if i == 0 {
			mainRaw = raw
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
		if price(svc) > 0 || s.ordersOnChain(d, svc) {
			if alg.TransferTxID == "" {
				return apierr.BadRequest("missing_parameter", "algorithm.transferTxId is required: the algorithm's service %q has a price or a datatoken to order", svc.ID)
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
	err = s.jobStore.InTx(r.Context(), func(ctx context.Context) error {
		queued, err := s.jobStore.Waiting(ctx, env.ID)
		if err != nil {
			return err
		}
		if queued >= s.cfg.Compute.MaxQueue {
			return apierr.New(http.StatusServiceUnavailable, "queue_full", "compute environment %s has %d jobs waiting already: try again later", env.ID, queued)
		}
		if err := s.jobStore.AddJob(ctx, Job{ID: id, Owner: strings.ToLower(req.Consumer), DID: main.DocumentID, Environment: env.ID,
			Spec: specJSON, Status: StatusWarmingUp, Created: now}); err != nil {
			return err
		}
		// Told before the commit: once committed, a runner may claim the
		// job and tell its next status first.
		s.notify(id, StatusWarmingUp)
		return nil
	})
	if err != nil {
		return err
	}
	nudge(env.wake)
	s.log.Info("compute job accepted", "job", id, "owner", req.Consumer, "did", main.DocumentID, "environment", env.ID, "algorithm", spec.AlgoDID)
	jobs, err := s.jobs(r.Context(), jobQuery{Owner: req.Consumer, JobID: id})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, jobs)
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
