package ocean

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
)

// Bounds on what a start request may carry.
const (
	maxAdditionalDatasets = 16
	maxCustomData         = 64 << 10
	maxIDLength           = 256
)

// startParams are the parameters of POST /api/services/compute; the
// JSON-valued ones are decoded by parse, in the order of its checks.
type startParams struct {
	ConsumerAddress    string `param:"consumerAddress"`
	Environment        string `param:"environment"`
	Dataset            string `param:"dataset"`
	AdditionalDatasets string `param:"additionalDatasets"`
	Algorithm          string `param:"algorithm"`
	// Custom data may also come at the top, in either spelling.
	AlgoCustomData      string `param:"algoCustomData"`
	AlgoCustomDataLower string `param:"algocustomdata"`
	signed
}

// startRequest is a validated compute start request.
type startRequest struct {
	Consumer string
	signed
	Environment string
	Datasets    []api.ComputeDataset // the main dataset first
	Algorithm   api.ComputeAlgorithm
	RawCode     []byte // decoded Algorithm.Meta.RawCode
	CustomData  json.RawMessage
}

func bad(format string, args ...any) error {
	return apierr.BadRequest("invalid_parameter", format, args...)
}

// decodeObject reads a parameter that holds a JSON value.
func decodeObject(name, text string, v any) error {
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(v); err != nil {
		return bad("%s is not a JSON object: %v", name, err)
	}
	if dec.More() {
		return bad("%s: trailing data after the JSON value", name)
	}
	return nil
}

func checkDataset(d *api.ComputeDataset, name string) error {
	switch {
	case d.DocumentID == "" || len(d.DocumentID) > maxIDLength:
		return bad("%s.documentId is required (at most %d characters)", name, maxIDLength)
	case len(d.ServiceID) > maxIDLength:
		return bad("%s.serviceId is longer than %d characters", name, maxIDLength)
	case d.TransferTxID == "" || len(d.TransferTxID) > maxIDLength:
		return bad("%s.transferTxId is required: the id of the order (payment) for the dataset's compute service", name)
	}
	return nil
}

// parse validates the parameters of a start.
func (p *startParams) parse() (*startRequest, error) {
	req := &startRequest{Consumer: p.ConsumerAddress, signed: p.signed, Environment: p.Environment}
	if err := address("consumerAddress", req.Consumer); err != nil {
		return nil, err
	}
	if len(req.Environment) > maxIDLength {
		return nil, bad("environment is longer than %d characters", maxIDLength)
	}
	if err := required("dataset", p.Dataset); err != nil {
		return nil, err
	}
	var main api.ComputeDataset
	if err := decodeObject("dataset", p.Dataset, &main); err != nil {
		return nil, err
	}
	if err := checkDataset(&main, "dataset"); err != nil {
		return nil, err
	}
	req.Datasets = append(req.Datasets, main)
	if p.AdditionalDatasets != "" {
		var more []api.ComputeDataset
		if err := decodeObject("additionalDatasets", p.AdditionalDatasets, &more); err != nil {
			return nil, err
		}
		if len(more) > maxAdditionalDatasets {
			return nil, bad("at most %d additional datasets", maxAdditionalDatasets)
		}
		for i := range more {
			if err := checkDataset(&more[i], "additionalDatasets["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
		}
		req.Datasets = append(req.Datasets, more...)
	}
	seen := map[string]bool{}
	for _, d := range req.Datasets {
		if seen[d.DocumentID] {
			return nil, bad("dataset %s is named twice", d.DocumentID)
		}
		seen[d.DocumentID] = true
	}
	if err := required("algorithm", p.Algorithm); err != nil {
		return nil, err
	}
	a := &req.Algorithm
	if err := decodeObject("algorithm", p.Algorithm, a); err != nil {
		return nil, err
	}
	switch {
	case a.Meta != nil:
		switch {
		case a.Meta.RawCode != "" && a.Meta.URL != "":
			return nil, bad("algorithm.meta: give rawcode or url, not both")
		case a.Meta.RawCode != "":
			code, err := base64.StdEncoding.DecodeString(a.Meta.RawCode)
			if err != nil {
				return nil, bad("algorithm.meta.rawcode must be the WebAssembly module, base64-encoded: %v", err)
			}
			req.RawCode = code
		case a.Meta.URL == "":
			return nil, bad("algorithm.meta needs rawcode (a base64 WebAssembly module) or url")
		}
		a.DocumentID, a.ServiceID, a.TransferTxID = "", "", ""
	case a.DocumentID == "":
		return nil, apierr.BadRequest("missing_parameter", "algorithm.documentId or algorithm.meta is required")
	case len(a.DocumentID) > maxIDLength || len(a.ServiceID) > maxIDLength || len(a.TransferTxID) > maxIDLength:
		return nil, bad("algorithm ids are longer than %d characters", maxIDLength)
	}
	// Custom data: algorithm.algocustomdata as the real provider reads it,
	// or a top-level algoCustomData / algocustomdata.
	custom := a.AlgoCustomData
	for _, top := range []string{p.AlgoCustomData, p.AlgoCustomDataLower} {
		if len(custom) == 0 && top != "" {
			custom = json.RawMessage(top)
		}
	}
	if len(custom) > 0 && !bytes.Equal(custom, []byte("null")) {
		if len(custom) > maxCustomData {
			return nil, bad("algocustomdata exceeds %d bytes", maxCustomData)
		}
		var v any
		if err := json.Unmarshal(custom, &v); err != nil {
			return nil, bad("algocustomdata is not JSON: %v", err)
		}
		req.CustomData, _ = json.Marshal(v)
	}
	return req, nil
}

// jobQuery selects jobs: always the owner's, by job id and/or document.
type jobQuery struct {
	Owner      string
	JobID      string
	DocumentID string
}

// jobParams select jobs (status, stop, delete); stop and delete are signed.
type jobParams struct {
	ConsumerAddress string `param:"consumerAddress"`
	Owner           string `param:"owner"`
	JobID           string `param:"jobId"`
	DocumentID      string `param:"documentId"`
	signed
}

// decodeJobQuery reads the parameters that select jobs.
func decodeJobQuery(w http.ResponseWriter, r *http.Request) (jobParams, jobQuery, error) {
	var p jobParams
	if err := decode(w, r, &p); err != nil {
		return p, jobQuery{}, err
	}
	q, err := p.query()
	return p, q, err
}

// query validates the selection. consumerAddress is required: a caller only
// ever sees its own jobs.
func (p *jobParams) query() (jobQuery, error) {
	q := jobQuery{Owner: p.ConsumerAddress, JobID: p.JobID, DocumentID: p.DocumentID}
	if q.Owner == "" {
		q.Owner = p.Owner
	}
	if q.Owner == "" {
		return q, apierr.BadRequest("missing_parameter", "consumerAddress is required: only a job's owner sees it")
	}
	if !identity.ValidAddress(q.Owner) {
		return q, badAddress("consumerAddress", q.Owner)
	}
	if len(q.JobID) > maxIDLength || len(q.DocumentID) > maxIDLength {
		return q, bad("jobId and documentId may be at most %d characters", maxIDLength)
	}
	return q, nil
}

// serviceOptions reads services[id].compute from a raw DDO.
func serviceOptions(raw []byte, serviceID string) api.ComputeOptions {
	var doc struct {
		Services []struct {
			ID      string             `json:"id"`
			Compute api.ComputeOptions `json:"compute"`
		} `json:"services"`
	}
	_ = json.Unmarshal(raw, &doc) // the DDO was validated when published
	for _, s := range doc.Services {
		if s.ID == serviceID {
			return s.Compute
		}
	}
	return api.ComputeOptions{}
}

// trusts tells whether the options allow algorithm document did: any
// published algorithm when the list is empty, else only those listed ("*"
// allows any).
func trusts(o api.ComputeOptions, did string) bool {
	if len(o.PublisherTrustedAlgorithms) == 0 {
		return true
	}
	for _, t := range o.PublisherTrustedAlgorithms {
		if t.DID == did || t.DID == "*" {
			return true
		}
	}
	return false
}

// computeService returns the service of d a job uses: serviceID, or its
// first compute service when none is named.
func computeService(d *api.DDO, serviceID string) (api.DDOService, error) {
	if serviceID == "" {
		for _, s := range d.Services {
			if s.Type == "compute" {
				return s, nil
			}
		}
		return api.DDOService{}, bad("asset %s has no compute service", d.ID)
	}
	svc, ok := d.Service(serviceID)
	if !ok {
		return svc, bad("Invalid serviceId %q for %s", serviceID, d.ID)
	}
	if svc.Type != "compute" {
		return svc, bad("service %q of %s is a %s service, not a compute service: its data cannot be computed on", serviceID, d.ID, svc.Type)
	}
	return svc, nil
}

// initializeComputeParams are the parameters of initializeCompute.
type initializeComputeParams struct {
	ConsumerAddress string `param:"consumerAddress"`
	Datasets        string `param:"datasets"`
	Algorithm       string `param:"algorithm"`
	Environment     string `param:"environment"`
	Compute         string `param:"compute"` // {env, validUntil}
	Payment         string `param:"payment"` // {maxJobDuration} (ocean.js)
}

// resultParams name a result of a job.
type resultParams struct {
	ConsumerAddress string `param:"consumerAddress"`
	JobID           string `param:"jobId"`
	Index           string `param:"index"`
	signed
}
