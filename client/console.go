package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/prometheus-dds/dds/api"
)

// ConsoleStorage is the node's storage as the console shows it (admin).
func (c *Client) ConsoleStorage(ctx context.Context) (*api.ConsoleStorage, error) {
	var doc struct {
		Data struct {
			Attributes api.ConsoleStorage `json:"attributes"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/console/api/storage", nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	return &doc.Data.Attributes, nil
}

// ConsoleMoney is the money of the last days days, oldest first (admin).
func (c *Client) ConsoleMoney(ctx context.Context, days int) ([]api.ConsoleDay, error) {
	return consoleList[api.ConsoleDay](ctx, c, "/console/api/money?days="+strconv.Itoa(days))
}

// ConsoleFiles lists up to limit of the files the node holds, in id order
// after the file after ("" for the first page), with their copies (admin).
// next is the after of the next page, "" on the last.
func (c *Client) ConsoleFiles(ctx context.Context, after string, limit int) (page map[string]api.ConsoleFile, next string, err error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var doc struct {
		Data []struct {
			ID         string          `json:"id"`
			Attributes api.ConsoleFile `json:"attributes"`
		} `json:"data"`
		Links struct {
			Next string `json:"next"`
		} `json:"links"`
	}
	if err := c.call(ctx, http.MethodGet, "/console/api/files?"+q.Encode(), nil, "", &doc, http.StatusOK); err != nil {
		return nil, "", err
	}
	page = make(map[string]api.ConsoleFile, len(doc.Data))
	for _, d := range doc.Data {
		page[d.ID] = d.Attributes
	}
	if doc.Links.Next != "" && len(doc.Data) > 0 {
		next = doc.Data[len(doc.Data)-1].ID
	}
	return page, next, nil
}

// ConsoleJobs lists the newest compute jobs, at most limit (admin).
func (c *Client) ConsoleJobs(ctx context.Context, limit int) ([]api.ConsoleJob, error) {
	return consoleList[api.ConsoleJob](ctx, c, "/console/api/jobs?limit="+strconv.Itoa(limit))
}

// ConsoleDeals lists the newest deals, at most limit (admin).
func (c *Client) ConsoleDeals(ctx context.Context, limit int) ([]api.ConsoleDeal, error) {
	return consoleList[api.ConsoleDeal](ctx, c, "/console/api/deals?limit="+strconv.Itoa(limit))
}

func consoleList[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var doc struct {
		Data []struct {
			Attributes T `json:"attributes"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, path, nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	out := make([]T, len(doc.Data))
	for i, d := range doc.Data {
		out[i] = d.Attributes
	}
	return out, nil
}
