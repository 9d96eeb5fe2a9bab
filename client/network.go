package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/prometheus-dds/dds/api"
)

// Members lists the nodes the node knows, itself included (admin).
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/network", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Data []struct {
			Attributes api.Member `json:"attributes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	out := make([]api.Member, len(doc.Data))
	for i, d := range doc.Data {
		out[i] = d.Attributes
	}
	return out, nil
}
