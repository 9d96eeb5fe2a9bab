package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/prometheus-dds/dds/api"
)

// Controller is the storlets controller's calls (admin token) on one kind
// of record: storlets (R api.Storlet, M api.StorletMeta) or dependencies
// (R api.StorletDependency, M api.StorletDependencyMeta). Both kinds have
// the same endpoints below their roots.
type Controller[R, M any] struct {
	c    *Client
	root string
}

// Storlets are the calls on storlets.
func (c *Client) Storlets() Controller[api.Storlet, api.StorletMeta] {
	return Controller[api.Storlet, api.StorletMeta]{c, "/storlets"}
}

// Dependencies are the calls on storlet dependencies (files storlets read).
func (c *Client) Dependencies() Controller[api.StorletDependency, api.StorletDependencyMeta] {
	return Controller[api.StorletDependency, api.StorletDependencyMeta]{c, "/storlets/dependencies"}
}

// List lists every record.
func (k Controller[R, M]) List(ctx context.Context) ([]R, error) {
	return storletsCall[[]R](ctx, k.c, http.MethodGet, k.root, nil, http.StatusOK)
}

// Get reads one record.
func (k Controller[R, M]) Get(ctx context.Context, id int64) (R, error) {
	return storletsCall[R](ctx, k.c, http.MethodGet, k.path(id), nil, http.StatusOK)
}

// Create registers a record; its data is uploaded next (Upload).
func (k Controller[R, M]) Create(ctx context.Context, meta M) (R, error) {
	return storletsCall[R](ctx, k.c, http.MethodPost, k.root, meta, http.StatusCreated)
}

// Update changes the fields meta sets.
func (k Controller[R, M]) Update(ctx context.Context, id int64, meta M) (R, error) {
	return storletsCall[R](ctx, k.c, http.MethodPut, k.path(id), meta, http.StatusOK)
}

// Upload uploads a record's data: a storlet's module (a WASI preview 1
// command), a dependency's file.
func (k Controller[R, M]) Upload(ctx context.Context, id int64, data io.Reader) (R, error) {
	return storletsCall[R](ctx, k.c, http.MethodPut, k.path(id)+"/data", data, http.StatusCreated)
}

// Delete deletes a record that is not deployed.
func (k Controller[R, M]) Delete(ctx context.Context, id int64) error {
	_, err := storletsCall[struct{}](ctx, k.c, http.MethodDelete, k.path(id), nil, http.StatusNoContent)
	return err
}

// Deploy deploys a record to an account (a principal id). A storlet's
// params are a query string ("select=user_id&x=1"); deploying it again sets
// them. Dependencies take no params; deploying one again changes nothing.
func (k Controller[R, M]) Deploy(ctx context.Context, account string, id int64, params string) (api.StorletDeployment, error) {
	return storletsCall[api.StorletDeployment](ctx, k.c, http.MethodPut, k.deployPath(account, "deploy", id),
		api.StorletDeploy{Params: params}, http.StatusCreated)
}

// Undeploy undeploys a record from an account.
func (k Controller[R, M]) Undeploy(ctx context.Context, account string, id int64) error {
	_, err := storletsCall[struct{}](ctx, k.c, http.MethodPut, k.deployPath(account, "undeploy", id), nil, http.StatusNoContent)
	return err
}

// Deployed lists the records deployed to an account; storlets in the order
// they run, with their params.
func (k Controller[R, M]) Deployed(ctx context.Context, account string) ([]R, error) {
	return storletsCall[[]R](ctx, k.c, http.MethodGet, k.root+"/"+url.PathEscape(account)+"/deploy", nil, http.StatusOK)
}

func (k Controller[R, M]) path(id int64) string { return k.root + "/" + strconv.FormatInt(id, 10) }

func (k Controller[R, M]) deployPath(account, verb string, id int64) string {
	return k.root + "/" + url.PathEscape(account) + "/" + verb + "/" + strconv.FormatInt(id, 10)
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
		return out, err
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
