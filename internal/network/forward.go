package network

// Any node answers for any file. A node that holds no copy finds the file's
// record by asking live members in the file's rendezvous order, and forwards
// the request over the signed node-to-node API to a node that can answer it
// (a holder for a read, the housekeeper for a change, the quote's issuer for
// a payment), acting as the same principal: the caller's token is checked
// where the request arrives, and the forwarded request names the principal
// and its role in its signed URI (/internal/v1/as/{principal}/{role}/...):
// the member vouches for it, as it does for the account events it relays,
// so a principal created a moment ago elsewhere is served at once. Admins
// are per node and never forwarded. The answer is relayed
// verbatim and streamed, never buffered.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/route"
	"github.com/prometheus-dds/dds/internal/store"
)

// Found is a record as a member answers it.
type Found struct {
	Record files.File `json:"record"`
	Quote  bool       `json:"quote"` // the member has an open quote for the file
}

// serveRecord answers a member looking for a file (GET /internal/v1/records/{id}).
func (n *Network) serveRecord(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	f, err := n.files.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return apierr.NotFound("this node has no record of file %q", id)
	}
	if err != nil {
		return err
	}
	found := Found{Record: f, Quote: n.hasQuote(r.Context(), id)}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(found)
}

// serveOwned answers up to limit records of an owner's files this node has,
// after the cursor (after_created, after_id), newest first.
func (n *Network) serveOwned(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > maxOwnedPage {
		return apierr.BadRequest("bad_limit", "limit must be a whole number from 1 to %d", maxOwnedPage)
	}
	var after files.Cursor
	if id := q.Get("after_id"); id != "" {
		created, err := time.Parse(time.RFC3339Nano, q.Get("after_created"))
		if err != nil {
			return apierr.BadRequest("bad_cursor", "after_created must be an RFC 3339 time")
		}
		after = files.Cursor{Created: created, ID: id}
	}
	list, err := n.files.Owned(r.Context(), r.PathValue("principal"), after, limit)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(list)
}

// maxOwnedPage bounds the records one member answers for a listing.
const maxOwnedPage = 1000

// Owned gathers up to limit records of an owner's files after the cursor,
// newest first, from every live member, this node included, one per file:
// the most advanced state any node knows (stored over pending, a node that
// keeps a copy over one that only keeps the record), merged. Each member
// answers its own first limit after the cursor, so the first limit of the
// merge are the network's. A member that does not answer within a few
// seconds is left out, and its id returned in missing.
func (n *Network) Owned(ctx context.Context, owner string, after files.Cursor, limit int) (list []files.File, missing []string, err error) {
	mine, err := n.files.Owned(ctx, owner, after, limit)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]files.File{}
	add := func(fs []files.File) {
		for _, f := range fs {
			if !after.After(f) {
				continue // an older member answering everything
			}
			if cur, ok := byID[f.ID]; ok {
				state := cur.State
				if stateRank[f.State] > stateRank[state] {
					state = f.State
				}
				f = files.Merge(cur, f)
				f.State = state
			}
			byID[f.ID] = f
		}
	}
	add(mine)
	path := Prefix + "owners/" + url.PathEscape(owner) + "/records?" + url.Values{"limit": {strconv.Itoa(limit)}}.Encode()
	if after.ID != "" {
		path += "&" + url.Values{"after_id": {after.ID}, "after_created": {after.Created.Format(time.RFC3339Nano)}}.Encode()
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range n.Alive() {
		if m.Self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var theirs []files.File
			err := n.call(ctx, m, http.MethodGet, path, nil, &theirs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				missing = append(missing, m.ID)
				return
			}
			add(theirs)
		}()
	}
	wg.Wait()
	for _, f := range byID {
		list = append(list, f)
	}
	slices.SortFunc(list, files.Compare)
	return list[:min(len(list), limit)], missing, nil
}

// stateRank orders a file's states as seen by different nodes: the one
// furthest along wins in a listing.
var stateRank = map[string]int{files.StateReleased: 0, files.StatePending: 1, files.StateAbandoned: 2, files.StateCancelled: 2,
	files.StateStored: 3, files.StateExpired: 4}

func (n *Network) hasQuote(ctx context.Context, fileID string) bool {
	q, err := n.ledger.OpenQuote(ctx, fileID)
	return err == nil && q.Expires.After(n.clock.Now())
}

// Locate finds a file's record on another live member, asked in the file's
// rendezvous order; it prefers a member that keeps the file (not one that
// only kept its record) and, with quote, the member that has an open quote
// for it. It returns the record and the member that answered, or
// store.ErrNotFound.
func (n *Network) Locate(ctx context.Context, id string, quote bool) (files.File, string, error) {
	var first *Found
	var from string
	for _, m := range n.Peers(id) {
		var f Found
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.call(cctx, m, http.MethodGet, Prefix+"records/"+url.PathEscape(id), nil, &f)
		cancel()
		if err != nil || f.Record.ID != id {
			continue
		}
		keeps := f.Record.State == files.StateStored || f.Record.State == files.StatePending
		if (!quote && keeps) || f.Quote {
			return f.Record, m.ID, nil
		}
		if first == nil || (keeps && first.Record.State == files.StateReleased) {
			first, from = &f, m.ID
		}
	}
	if first != nil {
		return first.Record, from, nil
	}
	return files.File{}, "", store.ErrNotFound
}

// PaymentNode names the node a payment for a file is to be made on: the
// one with an open quote for it, else the file's housekeeper (so that a
// payment repeated with its Idempotency-Key through any node meets the first
// one); "" for this node.
func (n *Network) PaymentNode(ctx context.Context, fileID string) (string, error) {
	if n.hasQuote(ctx, fileID) {
		return "", nil
	}
	rec, node, err := n.Locate(ctx, fileID, true)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if n.remoteQuote(ctx, node, fileID) {
		return node, nil
	}
	if local, err := n.files.Get(ctx, fileID); err == nil {
		rec = files.Merge(local, rec)
	}
	switch k := n.Keeper(rec); k {
	case n.ID():
		return "", nil
	case "":
		return node, nil
	default:
		return k, nil
	}
}

// remoteQuote asks a member whether it has an open quote for a file.
func (n *Network) remoteQuote(ctx context.Context, node, id string) bool {
	m, ok := n.live(node)
	if !ok {
		return false
	}
	var f Found
	return n.call(ctx, m, http.MethodGet, Prefix+"records/"+url.PathEscape(id), nil, &f) == nil && f.Quote
}

type forwardedKey struct{}

// Forwarded returns the principal a forwarded request acts as.
func (n *Network) Forwarded(r *http.Request) (auth.Principal, bool) {
	p, ok := r.Context().Value(forwardedKey{}).(auth.Principal)
	return p, ok
}

// serveAs serves a request forwarded by a member on behalf of a principal:
// the face behind the path answers it as that principal.
func (n *Network) serveAs(mux route.Mux, w http.ResponseWriter, r *http.Request) error {
	principal, rest := r.PathValue("principal"), "/"+r.PathValue("rest")
	role, err := auth.ParseRole(r.PathValue("role"))
	if principal == "" || err != nil || role == auth.RoleAdmin {
		return apierr.BadRequest("bad_principal", "a forwarded request names the principal it acts as and its role, user or payment")
	}
	// Reads, info and PATCH of a file, and payments: what another node may
	// have to ask this one to answer.
	if !(strings.HasPrefix(rest, "/files/") && r.Method != http.MethodPost) && !(rest == "/payments" && r.Method == http.MethodPost) &&
		!(strings.HasPrefix(rest, "/payments/") && r.Method == http.MethodGet) {
		return apierr.NotFound("%s %s cannot be forwarded", r.Method, rest)
	}
	r2 := r.Clone(context.WithValue(r.Context(), forwardedKey{}, auth.Principal{ID: principal, Name: principal, Role: role}))
	r2.URL.Path, r2.URL.RawPath = rest, ""
	r2.RequestURI = r2.URL.RequestURI()
	_, pattern := mux.Handler(r2)
	if pattern == "" || strings.HasPrefix(pattern, Prefix) || strings.Contains(pattern, " "+Prefix) {
		return apierr.NotFound("%s cannot be forwarded", rest)
	}
	mux.ServeHTTP(w, r2)
	return nil
}

// passed are the request headers a forwarded request carries.
var passed = []string{"Range", "If-Range", "If-None-Match", "If-Match", "If-Modified-Since", "If-Unmodified-Since",
	"Content-Type", "Accept", "Idempotency-Key"}

// hopByHop are the answer headers that belong to one connection, or to the
// node-to-node hop (the answering node's public key).
var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Content-Length": true,
	"Proxy-Connection": true, "Trailer": true, "Upgrade": true, hPublicKey: true}

func (n *Network) forwardRequest(ctx context.Context, node string, p auth.Principal, r *http.Request, body []byte) (*http.Response, error) {
	m, ok := n.live(node)
	if !ok || m.Self {
		return nil, apierr.New(http.StatusServiceUnavailable, "node_unavailable", "node %s, which answers for this, is not reachable; retry later", node)
	}
	if p.IsAdmin() {
		return nil, apierr.Forbidden("an admin token opens only its own node")
	}
	path := Prefix + "as/" + url.PathEscape(p.ID) + "/" + url.PathEscape(string(p.Role)) + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	req, err := n.NewSigned(ctx, m, r.Method, path, body)
	if err != nil {
		return nil, err
	}
	for _, h := range passed {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	// A node that does not start answering in time is given up on; the
	// body, once it flows, may take as long as it needs.
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(forwardWait, cancel)
	resp, err := n.client.Do(req.WithContext(ctx))
	timer.Stop()
	if err != nil {
		cancel()
		return nil, apierr.New(http.StatusBadGateway, "node_unreachable", "node %s, which answers for this, did not answer: %v", node, err)
	}
	n.touch(m.ID)
	n.learn(m.ID, resp.Header.Get(hPublicKey))
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// forwardWait bounds the wait for a forwarded request's answer to start (a
// PATCH may wait for peers to confirm a price).
const forwardWait = time.Minute

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// ForwardAny asks the live members, in the rendezvous order of key, to
// answer r as principal, and relays the first answer that is not a 404 (for
// what one node recorded, such as a payment). An error means none had it,
// and nothing was written.
func (n *Network) ForwardAny(w http.ResponseWriter, r *http.Request, key string, p auth.Principal) error {
	for _, m := range n.Peers(key) {
		resp, err := n.forwardRequest(r.Context(), m.ID, p, r, nil)
		if err != nil {
			continue
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			continue
		}
		relay(w, r, resp)
		return nil
	}
	return apierr.NotFound("no node of the network has %s", r.URL.Path)
}

// Forward sends a request to node acting as principal (body: the request's
// body, read already) and relays the answer to w: status, headers and body,
// streamed. An error means nothing was written yet.
func (n *Network) Forward(w http.ResponseWriter, r *http.Request, node string, p auth.Principal, body []byte) error {
	resp, err := n.forwardRequest(r.Context(), node, p, r, body)
	if err != nil {
		return err
	}
	relay(w, r, resp)
	return nil
}

// Open reads a file's whole content from a holder, acting as principal (for
// storlets that run on the node the reader asked).
func (n *Network) Open(ctx context.Context, node string, p auth.Principal, fileID string) (io.ReadCloser, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/files/"+url.PathEscape(fileID), nil)
	if err != nil {
		return nil, err
	}
	resp, err := n.forwardRequest(ctx, node, p, r, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, apierr.New(http.StatusBadGateway, "node_refused", "node %s answered %s for file %s", node, resp.Status, fileID)
	}
	return resp.Body, nil
}

// writerOnly hides a ResponseWriter's ReadFrom, which would copy through a
// small buffer of its own.
type writerOnly struct{ io.Writer }

// relay writes a forwarded request's answer: status, headers and body,
// streamed; it closes the answer.
func relay(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	defer resp.Body.Close()
	for k, v := range resp.Header {
		if !hopByHop[k] {
			w.Header()[k] = v
		}
	}
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		// Large reads and writes: the default 32 KiB copy costs a third of
		// a proxied GET's throughput in system calls.
		io.CopyBuffer(writerOnly{w}, resp.Body, make([]byte, 256<<10))
	}
}
