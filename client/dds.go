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
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/segmentio/asm/base64" // encoding/base64's API, with AVX2 on amd64
)

// File is a file as the node answers it: its id, attributes and meta.
type File struct {
	ID string
	api.File
	Quote           *api.Quote // the open quote, if any
	Meta            json.RawMessage
	PaymentRequired bool // the node answered 402: the quote must be paid
}

// PaymentRequest is kept here for the callers that name it so.
type PaymentRequest = api.PaymentRequest

func decodeFile(resp *http.Response) (*File, error) {
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			ID         string          `json:"id"`
			Attributes api.File        `json:"attributes"`
			Meta       json.RawMessage `json:"meta"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode file document: %w", err)
	}
	f := File{ID: doc.Data.ID, File: doc.Data.Attributes, Meta: doc.Data.Meta, PaymentRequired: resp.StatusCode == http.StatusPaymentRequired}
	var meta struct {
		Quote *api.Quote `json:"quote"`
	}
	if len(f.Meta) > 0 && json.Unmarshal(f.Meta, &meta) == nil {
		f.Quote = meta.Quote
	}
	return &f, nil
}

// UploadOptions are the optional attributes of an upload.
type UploadOptions struct {
	Duration   time.Duration // 0: the node's default (one month)
	Additional map[string]any
}

// Upload streams content to the node as base64 inside the JSON:API document.
// The node answers 402 with the price: the returned File has
// PaymentRequired set and its Quote.
func (c *Client) Upload(ctx context.Context, name string, content io.Reader, opt UploadOptions) (*File, error) {
	attrs := map[string]any{"name": name}
	if opt.Duration > 0 {
		attrs["duration"] = int64(opt.Duration / time.Second)
	}
	if opt.Additional != nil {
		attrs["additional"] = opt.Additional
	}
	head, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	// {"data":{"type":"file","attributes":{...,"data":"<base64>"}}}
	doc := &base64Doc{head: []byte(`{"data":{"type":"file","attributes":` + string(head[:len(head)-1]) + `,"data":"`),
		tail: []byte(`"}}}`), src: content}
	req, err := c.NewRequest(ctx, http.MethodPost, "/files", doc)
	if err != nil {
		return nil, err
	}
	if n := knownLength(content); n >= 0 {
		req.ContentLength = int64(len(doc.head)+len(doc.tail)) + int64(base64.StdEncoding.EncodedLen(int(n)))
	}
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := c.Do(req, http.StatusPaymentRequired, http.StatusCreated, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return decodeFile(resp)
}

// base64Doc is an upload document with the content base64-encoded as it is
// read, in large blocks: no goroutine, and each block is one write to the
// connection (one HTTP chunk when the length is not known).
type base64Doc struct {
	head, tail []byte
	src        io.Reader
	in, out    []byte
	pending    []byte // encoded, not yet read
	state      int    // 0: head next, 1: content, 2: tail next, 3: done
	err        error
}

// base64Block is the raw bytes encoded at a time (a multiple of 3).
const base64Block = 192 << 10

// next sets pending to the next piece of the document.
func (d *base64Doc) next() error {
	switch d.state {
	case 0:
		d.pending, d.state = d.head, 1
	case 1:
		if d.in == nil {
			// A block, or less for content known to be smaller: more than
			// its length (ReadFull then sees its end in one call), and a
			// multiple of 3 (no padding inside if it were longer).
			size := base64Block
			if n := knownLength(d.src); n >= 0 && n < base64Block {
				size = (int(n) + 3) / 3 * 3
			}
			d.in = make([]byte, size)
			d.out = make([]byte, base64.StdEncoding.EncodedLen(size))
		}
		n, err := io.ReadFull(d.src, d.in)
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			d.state = 2
		default:
			return err
		}
		d.pending = d.out[:base64.StdEncoding.EncodedLen(n)]
		base64.StdEncoding.Encode(d.pending, d.in[:n])
	case 2:
		d.pending, d.state = d.tail, 3
	default:
		return io.EOF
	}
	return nil
}

func (d *base64Doc) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.err = d.next()
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// WriteTo hands each encoded block to w whole (io.Copy, and so net/http,
// use it).
func (d *base64Doc) WriteTo(w io.Writer) (total int64, err error) {
	for {
		if len(d.pending) > 0 {
			n, err := w.Write(d.pending)
			total += int64(n)
			d.pending = d.pending[n:]
			if err != nil {
				return total, err
			}
		}
		if d.err != nil {
			if d.err == io.EOF {
				return total, nil
			}
			return total, d.err
		}
		d.err = d.next()
	}
}

// Info returns a file's info.
func (c *Client) Info(ctx context.Context, id string) (*File, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/files/"+url.PathEscape(id)+"/info", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return decodeFile(resp)
}

// FilePage is one page of the caller's files.
type FilePage struct {
	Files []File
	Next  string // the cursor of the next page ("": this is the last)
	// Unreachable lists the nodes that did not answer: their files may be
	// missing from the list.
	Unreachable []string
}

// Files lists the caller's files, newest first, size at a time (0: the
// node's default), after the file whose id is after ("": from the first).
func (c *Client) Files(ctx context.Context, size int, after string) (*FilePage, error) {
	q := url.Values{}
	if size > 0 {
		q.Set("page[size]", strconv.Itoa(size))
	}
	if after != "" {
		q.Set("page[after]", after)
	}
	var doc struct {
		Data []struct {
			ID         string   `json:"id"`
			Attributes api.File `json:"attributes"`
		} `json:"data"`
		Links struct {
			Next string `json:"next"`
		} `json:"links"`
		Meta struct {
			Unreachable []string `json:"unreachable_nodes"`
		} `json:"meta"`
	}
	if err := c.call(ctx, http.MethodGet, "/files?"+q.Encode(), nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	page := &FilePage{Unreachable: doc.Meta.Unreachable}
	for _, d := range doc.Data {
		page.Files = append(page.Files, File{ID: d.ID, File: d.Attributes})
	}
	if doc.Links.Next != "" {
		if u, err := url.Parse(doc.Links.Next); err == nil {
			page.Next = u.Query().Get("page[after]")
		}
	}
	return page, nil
}

// Cancel deletes an upload that was never paid.
func (c *Client) Cancel(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/files/"+url.PathEscape(id), nil, "", nil, http.StatusNoContent)
}

// Open starts a download. The caller reads and closes the body; size is the
// Content-Length. A pending file is a *Error with Status 402.
func (c *Client) Open(ctx context.Context, id string, header http.Header) (body io.ReadCloser, size int64, err error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/files/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req, http.StatusOK, http.StatusPartialContent)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// Download writes a file's content to w.
func (c *Client) Download(ctx context.Context, id string, w io.Writer) (int64, error) {
	body, _, err := c.Open(ctx, id, nil)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	return copyBody(w, body)
}

// Extend asks for a new total term (and merges additional attributes). A
// longer term answers 402 with the price of the extension.
func (c *Client) Extend(ctx context.Context, id string, total time.Duration, additional map[string]any) (*File, error) {
	attrs := map[string]any{}
	if total > 0 {
		attrs["duration"] = int64(total / time.Second)
	}
	if additional != nil {
		attrs["additional"] = additional
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "file", "id": id, "attributes": attrs}})
	req, err := c.NewRequest(ctx, http.MethodPatch, "/files/"+url.PathEscape(id), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := c.Do(req, http.StatusOK, http.StatusPaymentRequired)
	if err != nil {
		return nil, err
	}
	return decodeFile(resp)
}

// Payment is a recorded payment.
type Payment struct {
	ID       string
	Location string // where the node keeps it
	api.Payment
	Quote *api.PaymentQuote // where its quote stands now, if it was applied to one
}

// Pay reports a payment (role payment).
func (c *Client) Pay(ctx context.Context, p api.PaymentRequest) (*Payment, error) {
	if _, err := strconv.ParseFloat(p.Amount, 64); err != nil {
		return nil, fmt.Errorf("amount %q is not a decimal number", p.Amount)
	}
	attrs := map[string]any{"file_id": p.FileID, "status": p.Status, "amount": json.Number(p.Amount)}
	for k, v := range p.Extra {
		attrs[k] = v
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "payment", "attributes": attrs}})
	req, err := c.NewRequest(ctx, http.MethodPost, "/payments", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/vnd.api+json")
	if p.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", p.IdempotencyKey)
	}
	resp, err := c.Do(req, http.StatusCreated, http.StatusOK)
	if err != nil {
		return nil, err
	}
	pay, err := decodePayment(resp)
	if pay != nil {
		pay.Location = resp.Header.Get("Location")
	}
	return pay, err
}

// Payment reads a recorded payment.
func (c *Client) Payment(ctx context.Context, id string) (*Payment, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, "/payments/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return decodePayment(resp)
}

func decodePayment(resp *http.Response) (*Payment, error) {
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			ID         string      `json:"id"`
			Attributes api.Payment `json:"attributes"`
		} `json:"data"`
		Meta struct {
			Quote *api.PaymentQuote `json:"quote"`
		} `json:"meta"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	return &Payment{ID: doc.Data.ID, Payment: doc.Data.Attributes, Quote: doc.Meta.Quote}, nil
}

// Statement reads the node's statement for the days from..to (yyyymmdd,
// inclusive). Admin only.
func (c *Client) Statement(ctx context.Context, from, to string) (*api.Statement, error) {
	q := url.Values{"from": {from}, "to": {to}}
	var doc struct {
		Data struct {
			Attributes api.Statement `json:"attributes"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/payments/local?"+q.Encode(), nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	return &doc.Data.Attributes, nil
}
