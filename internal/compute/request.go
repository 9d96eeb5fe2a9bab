package compute

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/provider"
)

// Bounds on what a start request may carry.
const (
	maxAdditionalDatasets = 16
	maxCustomData         = 64 << 10
	maxIDLength           = 256
)

// datasetRef names a dataset of a job: a document's compute service and
// the order that paid for it.
type datasetRef struct {
	DocumentID   string          `json:"documentId"`
	ServiceID    string          `json:"serviceId"`
	TransferTxID string          `json:"transferTxId"`
	Userdata     json.RawMessage `json:"userdata,omitempty"`
}

// algorithmMeta is a raw algorithm (when the dataset allows them): the
// module's bytes in rawcode (base64) or a URL to fetch it from.
type algorithmMeta struct {
	RawCode string `json:"rawcode,omitempty"`
	URL     string `json:"url,omitempty"`
}

type algorithmRef struct {
	DocumentID     string          `json:"documentId,omitempty"`
	ServiceID      string          `json:"serviceId,omitempty"`
	TransferTxID   string          `json:"transferTxId,omitempty"`
	Meta           *algorithmMeta  `json:"meta,omitempty"`
	AlgoCustomData json.RawMessage `json:"algocustomdata,omitempty"`
}

// startRequest is a validated compute start request.
type startRequest struct {
	Consumer    string
	Signature   string
	Nonce       string
	Environment string
	Datasets    []datasetRef // the main dataset first
	Algorithm   algorithmRef
	RawCode     []byte // decoded Algorithm.Meta.RawCode
	CustomData  json.RawMessage
}

func bad(format string, args ...any) error {
	return apierr.BadRequest("invalid_parameter", format, args...)
}

// decodeObject reads a parameter that holds a JSON object.
func decodeObject(p map[string]string, name string, v any) error {
	dec := json.NewDecoder(strings.NewReader(p[name]))
	if err := dec.Decode(v); err != nil {
		return bad("%s is not a JSON object: %v", name, err)
	}
	if dec.More() {
		return bad("%s: trailing data after the JSON value", name)
	}
	return nil
}

func (d *datasetRef) check(name string) error {
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

// parseStart reads the parameters of POST /api/services/compute.
func parseStart(p map[string]string) (*startRequest, error) {
	req := &startRequest{Consumer: p["consumerAddress"], Signature: p["signature"], Nonce: p["nonce"], Environment: p["environment"]}
	if req.Consumer == "" {
		return nil, apierr.BadRequest("missing_parameter", "consumerAddress is required")
	}
	if !identity.ValidAddress(req.Consumer) {
		return nil, bad("consumerAddress %q is not a 0x-prefixed Ethereum address", req.Consumer)
	}
	if len(req.Environment) > maxIDLength {
		return nil, bad("environment is longer than %d characters", maxIDLength)
	}
	if p["dataset"] == "" {
		return nil, apierr.BadRequest("missing_parameter", "dataset is required")
	}
	var main datasetRef
	if err := decodeObject(p, "dataset", &main); err != nil {
		return nil, err
	}
	if err := main.check("dataset"); err != nil {
		return nil, err
	}
	req.Datasets = append(req.Datasets, main)
	if p["additionalDatasets"] != "" {
		var more []datasetRef
		if err := decodeObject(p, "additionalDatasets", &more); err != nil {
			return nil, err
		}
		if len(more) > maxAdditionalDatasets {
			return nil, bad("at most %d additional datasets", maxAdditionalDatasets)
		}
		for i := range more {
			if err := more[i].check("additionalDatasets[" + strconv.Itoa(i) + "]"); err != nil {
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
	if p["algorithm"] == "" {
		return nil, apierr.BadRequest("missing_parameter", "algorithm is required")
	}
	a := &req.Algorithm
	if err := decodeObject(p, "algorithm", a); err != nil {
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
	for _, k := range []string{"algoCustomData", "algocustomdata"} {
		if len(custom) == 0 && p[k] != "" {
			custom = json.RawMessage(p[k])
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

// parseJobQuery reads the parameters that select jobs (status, stop,
// delete). consumerAddress is required: a caller only ever sees its own
// jobs.
func parseJobQuery(p map[string]string) (jobQuery, error) {
	q := jobQuery{Owner: p["consumerAddress"], JobID: p["jobId"], DocumentID: p["documentId"]}
	if q.Owner == "" {
		q.Owner = p["owner"]
	}
	if q.Owner == "" {
		return q, apierr.BadRequest("missing_parameter", "consumerAddress is required: only a job's owner sees it")
	}
	if !identity.ValidAddress(q.Owner) {
		return q, bad("consumerAddress %q is not a 0x-prefixed Ethereum address", q.Owner)
	}
	if len(q.JobID) > maxIDLength || len(q.DocumentID) > maxIDLength {
		return q, bad("jobId and documentId may be at most %d characters", maxIDLength)
	}
	return q, nil
}

// computeOptions are the compute settings of a dataset's service (DDO v4
// services[].compute).
type computeOptions struct {
	AllowRawAlgorithm          bool `json:"allowRawAlgorithm"`
	PublisherTrustedAlgorithms []struct {
		DID string `json:"did"`
	} `json:"publisherTrustedAlgorithms"`
}

// serviceOptions reads services[id].compute from a raw DDO.
func serviceOptions(raw []byte, serviceID string) computeOptions {
	var doc struct {
		Services []struct {
			ID      string         `json:"id"`
			Compute computeOptions `json:"compute"`
		} `json:"services"`
	}
	_ = json.Unmarshal(raw, &doc) // the DDO was validated when published
	for _, s := range doc.Services {
		if s.ID == serviceID {
			return s.Compute
		}
	}
	return computeOptions{}
}

// trusts tells whether the options allow algorithm document did: any
// published algorithm when the list is empty, else only those listed ("*"
// allows any).
func (o computeOptions) trusts(did string) bool {
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
func computeService(d *provider.DDO, serviceID string) (provider.DDOService, error) {
	if serviceID == "" {
		for _, s := range d.Services {
			if s.Type == "compute" {
				return s, nil
			}
		}
		return provider.DDOService{}, bad("asset %s has no compute service", d.ID)
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
