package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/prometheus-dds/dds/api"
)

// The calls of the DEP-7 universal storage face (with the Meta API, the Auth
// API and discovery). They authenticate with the client's token, except
// the token calls, which take a principal's name and password (HTTP Basic)
// when given one. Errors are *Error with the face's machine code.

// RegisterAsset registers metadata, sent byte for byte as starfish does
// (text/plain), and returns the asset id: the SHA3-256 of those bytes.
func (c *Client) RegisterAsset(ctx context.Context, metadata []byte) (string, error) {
	var id string
	err := c.call(ctx, http.MethodPost, "/api/v1/meta/data", bytes.NewReader(metadata), "text/plain", &id, http.StatusOK)
	return id, err
}

// PutAssetMetadata registers metadata under the id the caller computed; it
// tells whether the asset is new (201) or was registered already (200).
func (c *Client) PutAssetMetadata(ctx context.Context, id string, metadata []byte) (created bool, err error) {
	req, err := c.NewRequest(ctx, http.MethodPut, "/api/v1/meta/data/"+url.PathEscape(id), bytes.NewReader(metadata))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req, http.StatusOK, http.StatusCreated)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusCreated, decodeJSON(resp, new(string))
}

// AssetMetadata returns an asset's metadata exactly as it was registered.
func (c *Client) AssetMetadata(ctx context.Context, id string) ([]byte, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/api/v1/meta/data/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// AssetIDs lists the registered assets' ids, oldest first.
func (c *Client) AssetIDs(ctx context.Context) ([]string, error) {
	var ids []string
	return ids, c.call(ctx, http.MethodGet, "/api/v1/meta/data", nil, "", &ids, http.StatusOK)
}

// AssetIndex maps every registered asset's id to its metadata.
func (c *Client) AssetIndex(ctx context.Context) (map[string]json.RawMessage, error) {
	var index map[string]json.RawMessage
	return index, c.call(ctx, http.MethodGet, "/api/v1/meta/index", nil, "", &index, http.StatusOK)
}

// DeleteAsset unregisters an asset and drops its content (owner or admin).
func (c *Client) DeleteAsset(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/meta/data/"+url.PathEscape(id), nil, "", nil, http.StatusNoContent)
}

// UploadAsset stores body as an asset's content with a raw PUT, streaming it.
// It returns the content's location.
func (c *Client) UploadAsset(ctx context.Context, id string, body io.Reader) (location string, err error) {
	return c.upload(ctx, http.MethodPut, id, body, "application/octet-stream")
}

// UploadAssetForm stores body as an asset's content with a multipart POST
// (the field "file", as browsers and starfish-py send), streaming it.
func (c *Client) UploadAssetForm(ctx context.Context, id, fileName string, body io.Reader) (location string, err error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("file", fileName)
		if err == nil {
			_, err = io.Copy(fw, body)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close() // ends the writer if the request fails early
	return c.upload(ctx, http.MethodPost, id, pr, mw.FormDataContentType())
}

// CreateAsset registers metadata and stores body as the asset's content in
// one request (POST /api/v1/assets, a multipart form with the fields
// "metadata" then "file") and returns the asset id. The node registers and
// stores both in one transaction, or neither.
func (c *Client) CreateAsset(ctx context.Context, metadata []byte, body io.Reader) (id string, err error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if err := mw.WriteField("metadata", string(metadata)); err != nil {
		return "", err
	}
	if _, err := mw.CreateFormFile("file", "content"); err != nil {
		return "", err
	}
	split := head.Len()
	if err := mw.Close(); err != nil {
		return "", err
	}
	tail := bytes.Clone(head.Bytes()[split:])
	head.Truncate(split)
	// No goroutine and, for content of a known length, no chunked encoding.
	form := io.MultiReader(&head, body, bytes.NewReader(tail))
	req, err := c.NewRequest(ctx, http.MethodPost, "/api/v1/assets", form)
	if err != nil {
		return "", err
	}
	if n := knownLength(body); n >= 0 {
		req.ContentLength = int64(head.Len()+len(tail)) + n
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return id, decodeJSON(resp, &id)
}

// knownLength is how many bytes are left in r when it tells, else -1.
func knownLength(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return -1
}

func (c *Client) upload(ctx context.Context, method, id string, body io.Reader, contentType string) (string, error) {
	req, err := c.NewRequest(ctx, method, "/api/v1/assets/"+url.PathEscape(id), body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return resp.Header.Get("Location"), decodeJSON(resp, new(string))
}

// AssetRead are the optional headers of a download.
type AssetRead struct {
	Range       string // e.g. "bytes=0-99"
	IfNoneMatch string // an ETag the caller holds
}

// AssetContent is what a download answered besides the bytes.
type AssetContent struct {
	Status      int // 200, 206 (a range) or 304 (not modified: nothing written)
	ContentType string
	FileName    string // from Content-Disposition
	ETag        string // the content's SHA3-256, quoted; "" when a storlet transformed it
	Size        int64  // bytes written to w
}

// DownloadAsset streams an asset's content to w.
func (c *Client) DownloadAsset(ctx context.Context, id string, w io.Writer, o AssetRead) (AssetContent, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/api/v1/assets/"+url.PathEscape(id), nil)
	if err != nil {
		return AssetContent{}, err
	}
	if o.Range != "" {
		req.Header.Set("Range", o.Range)
	}
	if o.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", o.IfNoneMatch)
	}
	resp, err := c.Do(req, http.StatusOK, http.StatusPartialContent, http.StatusNotModified)
	if err != nil {
		return AssetContent{}, err
	}
	defer resp.Body.Close()
	ac := AssetContent{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), ETag: resp.Header.Get("ETag")}
	if _, p, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		ac.FileName = p["filename"]
	}
	ac.Size, err = copyBody(w, resp.Body)
	return ac, err
}

// DeleteAssetContent drops an asset's content and keeps its registration.
func (c *Client) DeleteAssetContent(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/assets/"+url.PathEscape(id), nil, "", nil, http.StatusNoContent)
}

// AssetTokens lists the caller's tokens, oldest first (a principal with none
// gets one). With a name, the caller logs in with its password.
func (c *Client) AssetTokens(ctx context.Context, name, password string) ([]string, error) {
	var toks []string
	return toks, c.tokenCall(ctx, http.MethodGet, "/api/v1/auth/token", name, password, &toks)
}

// CreateAssetToken issues a token to the caller (by password when a name is
// given).
func (c *Client) CreateAssetToken(ctx context.Context, name, password string) (string, error) {
	var tok string
	return tok, c.tokenCall(ctx, http.MethodPost, "/api/v1/auth/token", name, password, &tok)
}

// RevokeAssetToken revokes one of the caller's tokens (an admin: anyone's).
func (c *Client) RevokeAssetToken(ctx context.Context, token string) error {
	var ok bool
	if err := c.tokenCall(ctx, http.MethodDelete, "/api/v1/auth/revoke/"+url.PathEscape(token), "", "", &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("revoke: the node answered false")
	}
	return nil
}

func (c *Client) tokenCall(ctx context.Context, method, path, name, password string, out any) error {
	req, err := c.NewRequest(ctx, method, path, nil)
	if err != nil {
		return err
	}
	if name != "" {
		req.SetBasicAuth(name, password)
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeJSON(resp, out)
}

// AssetStatus is the node's DEP-11 status (no authentication).
func (c *Client) AssetStatus(ctx context.Context) (*api.AssetStatus, error) {
	var st api.AssetStatus
	return &st, c.call(ctx, http.MethodGet, "/api/status", nil, "", &st, http.StatusOK)
}

// AssetDDO is the node's DID document (no authentication).
func (c *Client) AssetDDO(ctx context.Context) (*api.AssetDDO, error) {
	var ddo api.AssetDDO
	return &ddo, c.call(ctx, http.MethodGet, "/api/ddo", nil, "", &ddo, http.StatusOK)
}

// AssetAccess returns who may read an asset (the owner only asks).
func (c *Client) AssetAccess(ctx context.Context, id string) (api.AssetAccess, error) {
	var a api.AssetAccess
	return a, c.call(ctx, http.MethodGet, "/api/v1/meta/access/"+url.PathEscape(id), nil, "", &a, http.StatusOK)
}

// SetAssetAccess sets who may read an asset (the owner only) and returns
// what the node keeps.
func (c *Client) SetAssetAccess(ctx context.Context, id string, a api.AssetAccess) (api.AssetAccess, error) {
	var out api.AssetAccess
	return out, c.call(ctx, http.MethodPut, "/api/v1/meta/access/"+url.PathEscape(id), a, "", &out, http.StatusOK)
}
