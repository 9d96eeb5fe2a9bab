package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/identity"
)

// The Ocean face: provider and compute-to-data calls. Requests a consumer
// must sign are signed here, given a Signer, the way ocean.js signs them:
// EIP-191 over keccak256 of the request's message and a nonce.

// Signer is an Ethereum account that signs requests (identity.Key is one).
type Signer interface {
	Address() string
	SignHash(hash []byte) ([]byte, error)
}

// Sign signs message+nonce as an Ocean provider request: the signature
// (0x-hex r||s||v) of the EIP-191 hash of keccak256(message+nonce).
func Sign(s Signer, message, nonce string) (string, error) {
	sig, err := s.SignHash(identity.EthMessageHash(identity.Keccak256([]byte(message + nonce))))
	if err != nil {
		return "", err
	}
	return "0x" + hex.EncodeToString(sig), nil
}

var nonces struct {
	sync.Mutex
	last int64
}

// NextNonce is a fresh nonce: the time in milliseconds, as ocean.js sends,
// and greater than every nonce this process picked before.
func NextNonce() string {
	nonces.Lock()
	defer nonces.Unlock()
	nonces.last = max(nonces.last+1, time.Now().UnixMilli())
	return strconv.FormatInt(nonces.last, 10)
}

// oceanCall sends a request with an optional JSON body (nil: none) and
// decodes a 200 answer into out (nil: none).
func (c *Client) oceanCall(ctx context.Context, method, path string, q url.Values, body, out any) error {
	if q != nil {
		path += "?" + q.Encode()
	}
	return c.call(ctx, method, path, body, "", out, http.StatusOK)
}

// OceanDiscovery returns who the provider is and its endpoints.
func (c *Client) OceanDiscovery(ctx context.Context) (*api.OceanDiscovery, error) {
	var d api.OceanDiscovery
	return &d, c.oceanCall(ctx, http.MethodGet, "/", nil, nil, &d)
}

// OceanNonce returns the last nonce address used ("0" for none).
func (c *Client) OceanNonce(ctx context.Context, address string) (string, error) {
	var n api.OceanNonce
	err := c.oceanCall(ctx, http.MethodGet, "/api/services/nonce", url.Values{"userAddress": {address}}, nil, &n)
	return n.Nonce, err
}

// OceanEncrypt encrypts a document (a DDO's file list) for the provider and
// returns the 0x-hex ciphertext.
func (c *Client) OceanEncrypt(ctx context.Context, chainID int64, plain []byte) (string, error) {
	req, err := c.NewRequest(ctx, http.MethodPost, "/api/services/encrypt?chainId="+strconv.FormatInt(chainID, 10), bytes.NewReader(plain))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// OceanFileInfo reports on the files of a published service or on one file
// object.
func (c *Client) OceanFileInfo(ctx context.Context, q api.FileInfoRequest) ([]api.FileInfo, error) {
	var out []api.FileInfo
	return out, c.oceanCall(ctx, http.MethodPost, "/api/services/fileinfo", nil, q, &out)
}

// PublishDDO publishes an asset document (an api.DDO, or any JSON object
// for fields it does not name) with the client's token, and returns the
// document as the node stored it (its id filled in).
func (c *Client) PublishDDO(ctx context.Context, doc any) (*api.DDO, json.RawMessage, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	req, err := c.NewRequest(ctx, http.MethodPost, "/api/aquarius/assets/ddo", bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req, http.StatusCreated)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, nil, err
	}
	var d api.DDO
	return &d, raw, json.Unmarshal(raw, &d)
}

// DDO returns a published document as it was published.
func (c *Client) DDO(ctx context.Context, did string) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.oceanCall(ctx, http.MethodGet, "/api/aquarius/assets/ddo/"+url.PathEscape(did), nil, nil, &raw)
}

// DDOMetadata returns a published document's metadata.
func (c *Client) DDOMetadata(ctx context.Context, did string) (map[string]any, error) {
	var m map[string]any
	return m, c.oceanCall(ctx, http.MethodGet, "/api/aquarius/assets/metadata/"+url.PathEscape(did), nil, nil, &m)
}

// DDOs lists published documents, oldest first (limit 0: the node's default).
func (c *Client) DDOs(ctx context.Context, offset, limit int) (*api.DDOList, error) {
	q := url.Values{"offset": {strconv.Itoa(offset)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l api.DDOList
	return &l, c.oceanCall(ctx, http.MethodGet, "/api/aquarius/assets/ddo", q, nil, &l)
}

// DeleteDDO unpublishes a document (its publisher or an admin).
func (c *Client) DeleteDDO(ctx context.Context, did string) error {
	req, err := c.NewRequest(ctx, http.MethodDelete, "/api/aquarius/assets/ddo/"+url.PathEscape(did), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req, http.StatusNoContent)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func accessQuery(a api.OceanAccess) url.Values {
	return url.Values{"documentId": {a.DocumentID}, "serviceId": {a.ServiceID}, "consumerAddress": {a.ConsumerAddress},
		"fileIndex": {strconv.Itoa(a.FileIndex)}}
}

// OceanInitialize asks for the provider fee and the price of a service.
func (c *Client) OceanInitialize(ctx context.Context, a api.OceanAccess) (*api.OceanInitialized, error) {
	q := accessQuery(a)
	if a.ValidUntil != 0 {
		q.Set("validUntil", strconv.FormatInt(a.ValidUntil, 10))
	}
	var out api.OceanInitialized
	return &out, c.oceanCall(ctx, http.MethodGet, "/api/services/initialize", q, nil, &out)
}

// OceanInitializeReuse asks initialize whether order a.TransferTxID (a
// transaction on a chain) can still be used: it answers the order's hash if
// so, else a new quote to order with.
func (c *Client) OceanInitializeReuse(ctx context.Context, a api.OceanAccess) (string, *api.OceanInitialized, error) {
	q := accessQuery(a)
	q.Set("transferTxId", a.TransferTxID)
	var out struct {
		api.OceanInitialized
		api.OceanValidOrder
	}
	if err := c.oceanCall(ctx, http.MethodGet, "/api/services/initialize", q, nil, &out); err != nil {
		return "", nil, err
	}
	if out.ValidOrder != "" {
		return out.ValidOrder, nil, nil
	}
	return "", &out.OceanInitialized, nil
}

// OceanDownload downloads a file of a paid service, signed by the consumer
// (a.ConsumerAddress is the signer's). Without a signer, the client's token
// is an auth token of a.ConsumerAddress. The caller closes the answer's
// body.
func (c *Client) OceanDownload(ctx context.Context, s Signer, a api.OceanAccess) (*http.Response, error) {
	q := url.Values{}
	if s != nil {
		a.ConsumerAddress = s.Address()
		if a.Nonce == "" {
			a.Nonce = NextNonce()
		}
		sig, err := Sign(s, a.DocumentID, a.Nonce)
		if err != nil {
			return nil, err
		}
		q.Set("nonce", a.Nonce)
		q.Set("signature", sig)
	}
	for k, v := range accessQuery(a) {
		q[k] = v
	}
	q.Set("transferTxId", a.TransferTxID)
	req, err := c.NewRequest(ctx, http.MethodGet, "/api/services/download?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req, http.StatusOK)
}

// OceanAuthToken creates an auth token for the signer's address, valid
// until expires (zero: the node's default of an hour).
func (c *Client) OceanAuthToken(ctx context.Context, s Signer, expires time.Time) (string, error) {
	q, err := signedQuery(s, s.Address())
	if err != nil {
		return "", err
	}
	q.Set("address", s.Address())
	if !expires.IsZero() {
		q.Set("expiration", strconv.FormatInt(expires.Unix(), 10))
	}
	var t api.OceanAuthToken
	return t.Token, c.oceanCall(ctx, http.MethodGet, "/api/services/createAuthToken", q, nil, &t)
}

// OceanDeleteAuthToken revokes an auth token of the signer's address.
func (c *Client) OceanDeleteAuthToken(ctx context.Context, s Signer, token string) error {
	q, err := signedQuery(s, s.Address())
	if err != nil {
		return err
	}
	q.Set("address", s.Address())
	q.Set("token", token)
	return c.oceanCall(ctx, http.MethodDelete, "/api/services/deleteAuthToken", q, nil, nil)
}

// signedQuery is a fresh nonce and the signer's signature of message+nonce.
func signedQuery(s Signer, message string) (url.Values, error) {
	nonce := NextNonce()
	sig, err := Sign(s, message, nonce)
	if err != nil {
		return nil, err
	}
	return url.Values{"nonce": {nonce}, "signature": {sig}}, nil
}

// ComputeEnvironments lists the node's compute environments.
func (c *Client) ComputeEnvironments(ctx context.Context) ([]api.ComputeEnvironment, error) {
	var out []api.ComputeEnvironment
	return out, c.oceanCall(ctx, http.MethodGet, "/api/services/computeEnvironments", nil, nil, &out)
}

// InitializeCompute asks for the provider fees of a compute job and whether
// its orders are valid.
func (c *Client) InitializeCompute(ctx context.Context, q api.ComputeInitialize) (*api.ComputeInitialized, error) {
	var out api.ComputeInitialized
	return &out, c.oceanCall(ctx, http.MethodPost, "/api/services/initializeCompute", nil, q, &out)
}

// ComputeStart starts a job, signed by the consumer (start's
// ConsumerAddress and Signature are filled in; Nonce when empty).
func (c *Client) ComputeStart(ctx context.Context, s Signer, start api.ComputeStart) ([]api.ComputeJob, error) {
	start.ConsumerAddress = s.Address()
	if start.Nonce == "" {
		start.Nonce = NextNonce()
	}
	var err error
	if start.Signature, err = Sign(s, start.ConsumerAddress+start.Dataset.DocumentID, start.Nonce); err != nil {
		return nil, err
	}
	var out []api.ComputeJob
	return out, c.oceanCall(ctx, http.MethodPost, "/api/services/compute", nil, start, &out)
}

// ComputeStatus returns a consumer's job jobID (none, or one on dataset did
// when did is not empty). It is not signed: the job id is the secret.
func (c *Client) ComputeStatus(ctx context.Context, consumer, jobID, did string) ([]api.ComputeJob, error) {
	q := url.Values{"consumerAddress": {consumer}, "jobId": {jobID}}
	if did != "" {
		q.Set("documentId", did)
	}
	var out []api.ComputeJob
	return out, c.oceanCall(ctx, http.MethodGet, "/api/services/compute", q, nil, &out)
}

// ComputeJobs lists the signer's jobs: those on dataset did, or all when
// did is empty. The list is signed (consumerAddress + documentId + nonce).
func (c *Client) ComputeJobs(ctx context.Context, s Signer, did string) ([]api.ComputeJob, error) {
	owner := s.Address()
	q, err := signedQuery(s, owner+did)
	if err != nil {
		return nil, err
	}
	q.Set("consumerAddress", owner)
	if did != "" {
		q.Set("documentId", did)
	}
	var out []api.ComputeJob
	return out, c.oceanCall(ctx, http.MethodGet, "/api/services/compute", q, nil, &out)
}

// ComputeStop stops the signer's job (or its jobs on did).
func (c *Client) ComputeStop(ctx context.Context, s Signer, jobID, did string) ([]api.ComputeJob, error) {
	return c.signedJobs(ctx, http.MethodPut, s, jobID, did)
}

// ComputeDelete deletes the signer's job (or its jobs on did) with its
// results.
func (c *Client) ComputeDelete(ctx context.Context, s Signer, jobID, did string) ([]api.ComputeJob, error) {
	return c.signedJobs(ctx, http.MethodDelete, s, jobID, did)
}

func (c *Client) signedJobs(ctx context.Context, method string, s Signer, jobID, did string) ([]api.ComputeJob, error) {
	owner := s.Address()
	q, err := signedQuery(s, owner+jobID+did)
	if err != nil {
		return nil, err
	}
	body := map[string]string{"consumerAddress": owner, "jobId": jobID, "documentId": did, "nonce": q.Get("nonce"), "signature": q.Get("signature")}
	var out []api.ComputeJob
	return out, c.oceanCall(ctx, method, "/api/services/compute", nil, body, &out)
}

// ComputeResult opens result index of the signer's job. The caller closes it.
func (c *Client) ComputeResult(ctx context.Context, s Signer, jobID string, index int) (io.ReadCloser, error) {
	idx := strconv.Itoa(index)
	q, err := signedQuery(s, s.Address()+jobID+idx)
	if err != nil {
		return nil, err
	}
	q.Set("consumerAddress", s.Address())
	q.Set("jobId", jobID)
	q.Set("index", idx)
	req, err := c.NewRequest(ctx, http.MethodGet, "/api/services/computeResult?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
