package api

import "encoding/json"

// The Ocean face: an Ocean Protocol provider (discovery, nonces, encryption,
// file info, initialize, download, auth tokens), the Aquarius-style paths of
// the asset documents (DDOs) it serves, and compute-to-data. Field names are
// the ones ocean.js reads and sends.

// OceanDiscovery is the answer of GET /: who the provider is and where its
// endpoints are.
type OceanDiscovery struct {
	Software          string               `json:"software"`
	Version           string               `json:"version"`
	Implementation    string               `json:"implementation"`
	ChainIDs          []int64              `json:"chainIds"`
	ProviderAddress   string               `json:"providerAddress"`
	ProviderAddresses map[string]string    `json:"providerAddresses"` // chain id → address
	ProviderFeeToken  string               `json:"providerFeeToken"`
	ServiceEndpoints  map[string][2]string `json:"serviceEndpoints"` // name → method, path
}

// OceanNonce is the last nonce an address used ("0" for a new address).
type OceanNonce struct {
	Nonce string `json:"nonce"`
}

// OceanAuthToken is a created auth token.
type OceanAuthToken struct {
	Token string `json:"token"`
}

// OceanTokenDeleted answers a deleted auth token.
type OceanTokenDeleted struct {
	Success string `json:"success"`
}

// FileObject is one entry of a file list: a URL, an IPFS or Arweave object
// (fetched through the node's gateways) or content stored on the node (a
// native type, such as "dds" with the DDS file id).
type FileObject struct {
	Type          string            `json:"type"`
	URL           string            `json:"url,omitempty"`
	Method        string            `json:"method,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Hash          string            `json:"hash,omitempty"`          // ipfs
	TransactionID string            `json:"transactionId,omitempty"` // arweave
	ID            string            `json:"id,omitempty"`            // native types
}

// FileList is the plaintext of a service's encrypted files field.
type FileList struct {
	NFTAddress       string       `json:"nftAddress,omitempty"`
	DatatokenAddress string       `json:"datatokenAddress,omitempty"`
	Files            []FileObject `json:"files"`
}

// FileInfoRequest asks fileinfo about the files of a published service (DID,
// ServiceID, FileIndex) or about one file object.
type FileInfoRequest struct {
	FileObject
	DID       string `json:"did,omitempty"`
	ServiceID string `json:"serviceId,omitempty"`
	FileIndex *int   `json:"fileIndex,omitempty"`
	Checksum  bool   `json:"checksum,omitempty"`
}

// FileInfo is what fileinfo reports of one file.
type FileInfo struct {
	Index         int    `json:"index"`
	Valid         bool   `json:"valid"`
	Type          string `json:"type"`
	ContentLength string `json:"contentLength,omitempty"`
	ContentType   string `json:"contentType,omitempty"`
	Filename      string `json:"filename,omitempty"`
	Checksum      string `json:"checksum,omitempty"`
	ChecksumType  string `json:"checksumType,omitempty"`
	Error         string `json:"error,omitempty"`
}

// DDO is the part of an asset document (DDO v4) the provider reads. The node
// keeps a document as published, unknown fields included.
type DDO struct {
	ID         string         `json:"id,omitempty"`
	Version    string         `json:"version"`
	ChainID    int64          `json:"chainId"`
	NFTAddress string         `json:"nftAddress,omitempty"`
	Metadata   map[string]any `json:"metadata"`
	Services   []DDOService   `json:"services"`
}

// DDOService is one service of a DDO.
type DDOService struct {
	ID               string `json:"id"`
	Type             string `json:"type"` // access | compute
	Files            string `json:"files"`
	DatatokenAddress string `json:"datatokenAddress"`
	ServiceEndpoint  string `json:"serviceEndpoint"`
	Timeout          int64  `json:"timeout"` // seconds an order stays valid; 0 = forever
	// Price is this node's extension: what an order of the service costs,
	// in the node's token (decimal); absent means free.
	Price string `json:"price,omitempty"`
	// Compute holds a compute service's options (ComputeOptions), kept as
	// published.
	Compute json.RawMessage `json:"compute,omitempty"`
}

// Service returns the service with the given id.
func (d *DDO) Service(id string) (DDOService, bool) {
	for _, s := range d.Services {
		if s.ID == id {
			return s, true
		}
	}
	return DDOService{}, false
}

// ComputeOptions are the compute settings of a dataset's compute service.
type ComputeOptions struct {
	AllowRawAlgorithm          bool               `json:"allowRawAlgorithm"`
	PublisherTrustedAlgorithms []TrustedAlgorithm `json:"publisherTrustedAlgorithms"`
}

// TrustedAlgorithm names an algorithm document a dataset allows ("*": any).
type TrustedAlgorithm struct {
	DID string `json:"did"`
}

// DDOList is a page of published documents, oldest first.
type DDOList struct {
	Total   int               `json:"total"`
	Offset  int               `json:"offset"`
	Limit   int               `json:"limit"`
	Results []json.RawMessage `json:"results"`
}

// ProviderFee is the fee an initialize answer carries, signed by the node.
type ProviderFee struct {
	ProviderFeeAddress string `json:"providerFeeAddress"`
	ProviderFeeToken   string `json:"providerFeeToken"`
	ProviderFeeAmount  string `json:"providerFeeAmount"`
	ProviderData       string `json:"providerData"`
	V                  int    `json:"v"`
	R                  string `json:"r"`
	S                  string `json:"s"`
	ValidUntil         int64  `json:"validUntil"`
}

// OceanAccess names a document's service for a consumer: the parameters of
// initialize and download.
type OceanAccess struct {
	DocumentID      string `json:"documentId"`
	ServiceID       string `json:"serviceId"`
	ConsumerAddress string `json:"consumerAddress"`
	FileIndex       int    `json:"fileIndex"`
	TransferTxID    string `json:"transferTxId,omitempty"` // download: the order (the payment id, or the transaction hash on a chain)
	ValidUntil      int64  `json:"validUntil,omitempty"`   // initialize: when the fee ends (0: the service's timeout)
	// Nonce is a download's nonce, greater than the consumer's last; the
	// client picks one when it is empty.
	Nonce string `json:"nonce,omitempty"`
}

// OceanInitialized answers initialize: the datatoken, the consumer's nonce,
// a signed provider fee, and the price to pay through the Billing face.
type OceanInitialized struct {
	Datatoken   string            `json:"datatoken"`
	Nonce       string            `json:"nonce"`
	ProviderFee ProviderFee       `json:"providerFee"`
	Price       string            `json:"price"`
	Payment     map[string]string `json:"payment"` // how to pay: the payment's attributes
}

// OceanValidOrder answers initialize when the transferTxId it names is an
// order on chain that can still be used: no new order or fee is needed.
// ValidOrder is the hash of the startOrder transaction.
type OceanValidOrder struct {
	ValidOrder string `json:"validOrder"`
}

// ComputeEnvironment is an environment as ocean.js (ComputeEnvironment) and
// the provider's API document read it: both spellings of the CPU and GPU
// counts.
type ComputeEnvironment struct {
	ID              string  `json:"id"`
	Desc            string  `json:"desc"`
	CPUType         string  `json:"cpuType"`
	NCPU            int     `json:"nCPU"`
	CPUNumber       int     `json:"cpuNumber"`
	GPUType         string  `json:"gpuType"`
	NGPU            int     `json:"nGPU"`
	GPUNumber       int     `json:"gpuNumber"`
	RAMGB           float64 `json:"ramGB"`
	DiskGB          float64 `json:"diskGB"`
	MaxJobs         int     `json:"maxJobs"`
	CurrentJobs     int     `json:"currentJobs"`
	QueuedJobs      int     `json:"queuedJobs"`
	PriceMin        float64 `json:"priceMin"`
	PricePerMinute  string  `json:"pricePerMinute"` // exact, in tokens
	MaxJobDuration  int64   `json:"maxJobDuration"` // seconds
	MaxOutputBytes  int64   `json:"maxOutputBytes"`
	FeeToken        string  `json:"feeToken"`
	ConsumerAddress string  `json:"consumerAddress"`
	StorageExpiry   int64   `json:"storageExpiry"` // seconds results are kept
	LastSeen        int64   `json:"lastSeen"`
	Free            bool    `json:"free"`
}

// ComputeDataset names a dataset of a job: a document's compute service and
// the order that paid for it.
type ComputeDataset struct {
	DocumentID   string          `json:"documentId"`
	ServiceID    string          `json:"serviceId"`
	TransferTxID string          `json:"transferTxId"`
	Userdata     json.RawMessage `json:"userdata,omitempty"`
}

// ComputeAlgorithmMeta is a raw algorithm (when the dataset allows them):
// the module's bytes in RawCode (base64) or a URL to fetch it from.
type ComputeAlgorithmMeta struct {
	RawCode string `json:"rawcode,omitempty"`
	URL     string `json:"url,omitempty"`
}

// ComputeAlgorithm is a job's algorithm: a published algorithm document or
// a raw one (Meta).
type ComputeAlgorithm struct {
	DocumentID     string                `json:"documentId,omitempty"`
	ServiceID      string                `json:"serviceId,omitempty"`
	TransferTxID   string                `json:"transferTxId,omitempty"`
	Meta           *ComputeAlgorithmMeta `json:"meta,omitempty"`
	AlgoCustomData json.RawMessage       `json:"algocustomdata,omitempty"`
}

// ComputeInitialize is the body of initializeCompute.
type ComputeInitialize struct {
	ConsumerAddress string            `json:"consumerAddress"`
	Datasets        []ComputeDataset  `json:"datasets"`
	Algorithm       *ComputeAlgorithm `json:"algorithm,omitempty"`
	Environment     string            `json:"environment,omitempty"`
	// Compute names the environment and the fee's end the way the
	// provider's API document does (ocean.js names them at the top and in
	// payment).
	Compute *ComputeInitializeEnv `json:"compute,omitempty"`
	// Payment is ocean.js's form: the job's duration.
	Payment *ComputeInitializePayment `json:"payment,omitempty"`
}

// ComputeInitializePayment is initializeCompute's payment object.
type ComputeInitializePayment struct {
	ChainID        int64   `json:"chainId,omitempty"`
	MaxJobDuration float64 `json:"maxJobDuration,omitempty"` // seconds
}

// ComputeInitializeEnv is initializeCompute's compute object.
type ComputeInitializeEnv struct {
	Env        string `json:"env,omitempty"`
	ValidUntil int64  `json:"validUntil,omitempty"`
}

// ComputeQuote is initializeCompute's answer for one asset.
type ComputeQuote struct {
	Datatoken   string            `json:"datatoken"`
	ProviderFee ProviderFee       `json:"providerFee"`
	ValidOrder  any               `json:"validOrder"` // the order id when it is valid, else false
	Price       string            `json:"price"`      // what the orders must cover: the service's price and the fee
	Payment     map[string]string `json:"payment"`
}

// ComputeInitialized answers initializeCompute.
type ComputeInitialized struct {
	Datasets  []ComputeQuote `json:"datasets"`
	Algorithm *ComputeQuote  `json:"algorithm,omitempty"`
}

// ComputeStart is the body of a compute start, signed by the consumer over
// consumerAddress + the main dataset's documentId + nonce.
type ComputeStart struct {
	ConsumerAddress    string           `json:"consumerAddress"`
	Nonce              string           `json:"nonce"`
	Signature          string           `json:"signature"`
	Environment        string           `json:"environment,omitempty"`
	Dataset            ComputeDataset   `json:"dataset"`
	AdditionalDatasets []ComputeDataset `json:"additionalDatasets,omitempty"`
	Algorithm          ComputeAlgorithm `json:"algorithm"`
}

// ComputeResult is one result of a job.
type ComputeResult struct {
	Index    int    `json:"index"`
	Filename string `json:"filename"`
	Filesize int64  `json:"filesize"`
	Type     string `json:"type"` // output | algorithmLog
}

// ComputeJob is a job's status object, with the fields of the provider's
// API document and those ocean.js's ComputeJob reads.
type ComputeJob struct {
	Owner           string          `json:"owner"`
	DocumentID      string          `json:"documentId"`
	DID             string          `json:"did"`
	JobID           string          `json:"jobId"`
	Environment     string          `json:"environment"`
	DateCreated     string          `json:"dateCreated"`
	DateFinished    *string         `json:"dateFinished"`
	Status          int             `json:"status"`
	StatusText      string          `json:"statusText"`
	Error           string          `json:"error,omitempty"`
	Results         []ComputeResult `json:"results"`
	InputDID        []string        `json:"inputDID"`
	AlgoDID         string          `json:"algoDID"`
	AlgorithmLogURL string          `json:"algorithmLogUrl"`
	ResultsURLs     []string        `json:"resultsUrls"`
	ResultsDID      string          `json:"resultsDid"`
	ExpireTimestamp *int64          `json:"expireTimestamp"`
}
