package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/prometheus-dds/dds/api"
)

// The storlets controller (admin token). Storlets and dependencies have the
// same endpoints below their roots.
const (
	storletsRoot     = "/storlets"
	dependenciesRoot = "/storlets/dependencies"
)

// Storlets lists every storlet.
func (c *Client) Storlets(ctx context.Context) ([]api.Storlet, error) {
	return storletsCall[[]api.Storlet](ctx, c, http.MethodGet, storletsRoot, nil, http.StatusOK)
}

// Storlet reads one storlet.
func (c *Client) Storlet(ctx context.Context, id int64) (api.Storlet, error) {
	return storletsCall[api.Storlet](ctx, c, http.MethodGet, recordPath(storletsRoot, id), nil, http.StatusOK)
}

// CreateStorlet registers a storlet; its module is uploaded next
// (UploadStorlet).
func (c *Client) CreateStorlet(ctx context.Context, meta api.StorletMeta) (api.Storlet, error) {
	return storletsCall[api.Storlet](ctx, c, http.MethodPost, storletsRoot, meta, http.StatusCreated)
}

// UpdateStorlet changes the fields meta sets.
func (c *Client) UpdateStorlet(ctx context.Context, id int64, meta api.StorletMeta) (api.Storlet, error) {
	return storletsCall[api.Storlet](ctx, c, http.MethodPut, recordPath(storletsRoot, id), meta, http.StatusOK)
}

// UploadStorlet uploads a storlet's module (a WASI preview 1 command).
func (c *Client) UploadStorlet(ctx context.Context, id int64, module io.Reader) (api.Storlet, error) {
	return storletsCall[api.Storlet](ctx, c, http.MethodPut, recordPath(storletsRoot, id)+"/data", module, http.StatusCreated)
}

// DeleteStorlet deletes a storlet that is not deployed.
func (c *Client) DeleteStorlet(ctx context.Context, id int64) error {
	_, err := storletsCall[struct{}](ctx, c, http.MethodDelete, recordPath(storletsRoot, id), nil, http.StatusNoContent)
	return err
}

// DeployStorlet deploys a storlet to an account (a principal id), or sets
// the parameters (a query string, "select=user_id&x=1") of its deployment.
func (c *Client) DeployStorlet(ctx context.Context, account string, id int64, params string) (api.StorletDeployment, error) {
	return storletsCall[api.StorletDeployment](ctx, c, http.MethodPut, deployPath(storletsRoot, account, "deploy", id),
		api.StorletDeploy{Params: params}, http.StatusCreated)
}

// UndeployStorlet undeploys a storlet from an account.
func (c *Client) UndeployStorlet(ctx context.Context, account string, id int64) error {
	_, err := storletsCall[struct{}](ctx, c, http.MethodPut, deployPath(storletsRoot, account, "undeploy", id), nil, http.StatusNoContent)
	return err
}

// DeployedStorlets lists the storlets deployed to an account, in the order
// they run, with their parameters.
func (c *Client) DeployedStorlets(ctx context.Context, account string) ([]api.Storlet, error) {
	return storletsCall[[]api.Storlet](ctx, c, http.MethodGet, storletsRoot+"/"+url.PathEscape(account)+"/deploy", nil, http.StatusOK)
}

// Dependencies lists every dependency.
func (c *Client) Dependencies(ctx context.Context) ([]api.StorletDependency, error) {
	return storletsCall[[]api.StorletDependency](ctx, c, http.MethodGet, dependenciesRoot, nil, http.StatusOK)
}

// Dependency reads one dependency.
func (c *Client) Dependency(ctx context.Context, id int64) (api.StorletDependency, error) {
	return storletsCall[api.StorletDependency](ctx, c, http.MethodGet, recordPath(dependenciesRoot, id), nil, http.StatusOK)
}

// CreateDependency registers a dependency; its file is uploaded next
// (UploadDependency).
func (c *Client) CreateDependency(ctx context.Context, meta api.StorletDependencyMeta) (api.StorletDependency, error) {
	return storletsCall[api.StorletDependency](ctx, c, http.MethodPost, dependenciesRoot, meta, http.StatusCreated)
}

// UpdateDependency changes the fields meta sets.
func (c *Client) UpdateDependency(ctx context.Context, id int64, meta api.StorletDependencyMeta) (api.StorletDependency, error) {
	return storletsCall[api.StorletDependency](ctx, c, http.MethodPut, recordPath(dependenciesRoot, id), meta, http.StatusOK)
}

// UploadDependency uploads a dependency's file.
func (c *Client) UploadDependency(ctx context.Context, id int64, file io.Reader) (api.StorletDependency, error) {
	return storletsCall[api.StorletDependency](ctx, c, http.MethodPut, recordPath(dependenciesRoot, id)+"/data", file, http.StatusCreated)
}

// DeleteDependency deletes a dependency that is not deployed.
func (c *Client) DeleteDependency(ctx context.Context, id int64) error {
	_, err := storletsCall[struct{}](ctx, c, http.MethodDelete, recordPath(dependenciesRoot, id), nil, http.StatusNoContent)
	return err
}

// DeployDependency deploys a dependency to an account; again changes nothing.
func (c *Client) DeployDependency(ctx context.Context, account string, id int64) (api.StorletDeployment, error) {
	return storletsCall[api.StorletDeployment](ctx, c, http.MethodPut, deployPath(dependenciesRoot, account, "deploy", id), nil, http.StatusCreated)
}

// UndeployDependency undeploys a dependency from an account.
func (c *Client) UndeployDependency(ctx context.Context, account string, id int64) error {
	_, err := storletsCall[struct{}](ctx, c, http.MethodPut, deployPath(dependenciesRoot, account, "undeploy", id), nil, http.StatusNoContent)
	return err
}

// DeployedDependencies lists the dependencies deployed to an account.
func (c *Client) DeployedDependencies(ctx context.Context, account string) ([]api.StorletDependency, error) {
	return storletsCall[[]api.StorletDependency](ctx, c, http.MethodGet, dependenciesRoot+"/"+url.PathEscape(account)+"/deploy", nil, http.StatusOK)
}

// RunStorlet is the header of a read (Open) that runs the named storlet,
// deployed to the object's account, instead of the deployed ones. Each
// param is "key:value"; the deployed parameters fill in the rest.
func RunStorlet(name string, params ...string) http.Header {
	h := http.Header{"X-Run-Storlet": {name}}
	for i, p := range params {
		h.Set("X-Storlet-Parameter-"+strconv.Itoa(i+1), p)
	}
	return h
}

func recordPath(root string, id int64) string { return root + "/" + strconv.FormatInt(id, 10) }

func deployPath(root, account, verb string, id int64) string {
	return root + "/" + url.PathEscape(account) + "/" + verb + "/" + strconv.FormatInt(id, 10)
}

// storletsCall sends body (nil, raw bytes from an io.Reader, or else JSON)
// with the token in X-Auth-Token, as the controller's spec says, and decodes
// an answer with status ok into T.
func storletsCall[T any](ctx context.Context, c *Client, method, path string, body any, ok int) (T, error) {
	var out T
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return out, err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := c.NewRequest(ctx, method, path, rd)
	if err != nil {
		return out, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Del("Authorization")
		req.Header.Set("X-Auth-Token", c.Token)
	}
	resp, err := c.Do(req, ok)
	if err != nil {
		return out, storletsError(err)
	}
	defer resp.Body.Close()
	if ok == http.StatusNoContent {
		return out, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return out, nil
}

// storletsError reads the controller's error body ({"error","message"})
// into the *Error's Code and Detail.
func storletsError(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == "" {
		var body api.StorletsError
		if json.Unmarshal([]byte(e.Detail), &body) == nil && body.Error != "" {
			e.Code, e.Detail = body.Error, body.Message
		}
	}
	return err
}
