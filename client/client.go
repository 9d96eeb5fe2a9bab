// Package client is the Go client of a dds node, used by the dds command and
// by the tests. It streams uploads and downloads: memory use does not grow
// with the size of a file.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus-dds/dds/api"
)

// Client talks to one node.
type Client struct {
	URL   string // base URL, e.g. http://127.0.0.1:8080
	Token string // bearer token
	HTTP  *http.Client
}

// New returns a client for the node at baseURL.
func New(baseURL, token string) *Client {
	return &Client{URL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Transport: transport}}
}

// transport is the clients' connections, shared. Unlike Go's default it
// keeps enough idle connections to a node for concurrent calls (the default
// 2 made every third of 8 concurrent requests open a new connection), and
// moves bodies in 64 KiB writes and reads rather than 4 KiB.
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.WriteBufferSize = 64 << 10
	t.ReadBufferSize = 64 << 10
	return t
}()

// copyBody copies a response body to w in 256 KiB reads (io.Copy would
// take w's ReadFrom, which for io.Discard or a pipe reads 8 KiB at a time).
func copyBody(w io.Writer, body io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{w}, body, *buf)
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Error is an error answered by the node.
type Error struct {
	Status  int
	Code    string
	Title   string
	Detail  string
	Pointer string
	Param   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// NewRequest builds a request to path with the client's token.
func (c *Client) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// Do sends a request; an answer with a status outside ok is returned as *Error.
func (c *Client) Do(req *http.Request, ok ...int) (*http.Response, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError reads an error answer in whichever convention its face uses:
// JSON:API errors (DDS, Billing), DEP-7's {"error","code","status"}, the deal
// module's {"error":{"code","message"}}, the storlets controller's
// {"error","message"}, the Ocean provider's {"error"}, or plain text.
func readError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Status: resp.StatusCode}
	var doc struct {
		Errors []struct {
			Code   string `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Source struct {
				Pointer   string `json:"pointer"`
				Parameter string `json:"parameter"`
			} `json:"source"`
		} `json:"errors"`
	}
	var asset api.AssetError
	var deal api.DealError
	var storlets api.StorletsError
	var ocean struct {
		Error string `json:"error"`
	}
	switch {
	case json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0:
		x := doc.Errors[0]
		e.Code, e.Title, e.Detail, e.Pointer, e.Param = x.Code, x.Title, x.Detail, x.Source.Pointer, x.Source.Parameter
	case json.Unmarshal(body, &asset) == nil && asset.Error != "" && asset.Code != "" && asset.Status == e.Status:
		e.Code, e.Detail = asset.Code, asset.Error
	case json.Unmarshal(body, &deal) == nil && deal.Error.Code == e.Status && deal.Error.Message != "":
		e.Code, e.Detail = strconv.Itoa(deal.Error.Code), deal.Error.Message
	case json.Unmarshal(body, &storlets) == nil && storlets.Error != "" && storlets.Message != "":
		e.Code, e.Detail = storlets.Error, storlets.Message
	case json.Unmarshal(body, &ocean) == nil && ocean.Error != "":
		e.Detail = ocean.Error
	default:
		e.Detail = strings.TrimSpace(string(body))
	}
	return e
}

// call sends a request and decodes an answer whose status is in ok into out
// (nil: the body is not read). body is nil (none), an io.Reader (sent as
// is, as contentType) or a value sent as JSON.
func (c *Client) call(ctx context.Context, method, path string, body any, contentType string, out any, ok ...int) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := c.NewRequest(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req, ok...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return decodeJSON(resp, out)
}

func decodeJSON(resp *http.Response, out any) error {
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	return nil
}
