package client

import (
	"context"
	"net/http"

	"github.com/prometheus-dds/dds/api"
)

// Members lists the nodes the node knows, itself included (admin).
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	var doc struct {
		Data []struct {
			Attributes api.Member `json:"attributes"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/network", nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	out := make([]api.Member, len(doc.Data))
	for i, d := range doc.Data {
		out[i] = d.Attributes
	}
	return out, nil
}
