package network

// Replication keeps R copies of every paid file in the network: the node
// that took the upload (the origin) places copies on peers chosen by
// rendezvous hashing, carries term extensions to them, replaces copies whose
// holder has been gone too long, and heals its own copy from them. Holders
// pull the content with signed requests and verify its SHA-256; each keeps
// its copy until the term it was told ends.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/store"
)

// Copy states on the origin.
const (
	CopyPending = "pending" // chosen, not confirmed stored yet
	CopyStored  = "stored"
	CopyLost    = "lost" // its holder was gone longer than the repair delay
)

// Copy is one copy of a file as the origin tracks it.
type Copy struct {
	Node    string    `json:"node"`
	URL     string    `json:"url,omitempty"`
	State   string    `json:"state"`
	Expires time.Time `json:"expires_at"`
}

var migrations = []string{
	`CREATE TABLE copies (
		file_id TEXT NOT NULL,
		node_id TEXT NOT NULL,
		state TEXT NOT NULL,
		expires_at TEXT NOT NULL DEFAULT '',
		updated_at TEXT NOT NULL,
		PRIMARY KEY (file_id, node_id)
	);
	CREATE TABLE replicas (
		file_id TEXT PRIMARY KEY,
		origin_id TEXT NOT NULL,
		content_hash TEXT NOT NULL,
		size INTEGER NOT NULL,
		name TEXT NOT NULL,
		expires_at TEXT NOT NULL,
		state TEXT NOT NULL,
		created_at TEXT NOT NULL
	);
	CREATE INDEX replicas_hash ON replicas(content_hash, state);
	CREATE INDEX replicas_expiry ON replicas(state, expires_at);`,
}

// kick asks the background loop for a pass soon (after a payment).
func (n *Network) kick() {
	select {
	case n.kicks <- struct{}{}:
	default:
	}
}

// Sync makes one pass over the origin's files: replaces lost copies, places
// missing ones, pushes pending ones and carries term extensions.
func (n *Network) Sync(ctx context.Context) error {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	stored, err := n.files.Stored(ctx)
	if err != nil {
		return err
	}
	gone := n.GoneSince()
	now := n.clock.Now()
	var errs []error
	for _, f := range stored {
		if err := n.syncFile(ctx, f, gone, now); err != nil {
			errs = append(errs, fmt.Errorf("file %s: %w", f.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (n *Network) syncFile(ctx context.Context, f files.File, gone map[string]time.Time, now time.Time) error {
	copies, err := n.copies(ctx, f.ID)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	healthy := 0
	for i, c := range copies {
		held[c.Node] = true
		if c.State == CopyLost {
			continue
		}
		if since, ok := gone[c.Node]; ok && now.Sub(since) >= n.cfg.RepairAfter {
			n.log.Info("copy lost: its holder is gone", "file", f.ID, "node", c.Node, "gone_since", since)
			if err := n.setCopy(ctx, f.ID, c.Node, CopyLost, c.Expires); err != nil {
				return err
			}
			copies[i].State = CopyLost
			continue
		}
		healthy++
	}
	for _, m := range n.Peers(f.ID) {
		if healthy >= n.cfg.Replicas-1 {
			break
		}
		if held[m.ID] {
			continue
		}
		if err := n.setCopy(ctx, f.ID, m.ID, CopyPending, time.Time{}); err != nil {
			return err
		}
		copies = append(copies, Copy{Node: m.ID, State: CopyPending})
		held[m.ID] = true
		healthy++
	}
	var errs []error
	for _, c := range copies {
		m, ok := n.Member(c.Node)
		if c.State == CopyLost || !ok || m.State == Gone {
			continue
		}
		if c.State == CopyPending || c.Expires.Before(f.Expires) {
			if err := n.push(ctx, m, f); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := n.setCopy(ctx, f.ID, c.Node, CopyStored, f.Expires); err != nil {
				return err
			}
		}
	}
	return errors.Join(errs...)
}

// Offer is what the origin sends a holder.
type Offer struct {
	FileID      string    `json:"file_id"`
	ContentHash string    `json:"content_hash"`
	Size        int64     `json:"size"`
	Name        string    `json:"name"`
	ExpiresAt   time.Time `json:"expires_at"`
	Sources     []string  `json:"sources"` // nodes to pull the content from, in order
}

func (n *Network) push(ctx context.Context, m Member, f files.File) error {
	sources := []string{n.ID()}
	if cs, err := n.copies(ctx, f.ID); err == nil {
		for _, c := range cs {
			if c.State == CopyStored && c.Node != m.ID {
				sources = append(sources, c.Node)
			}
		}
	}
	offer := Offer{FileID: f.ID, ContentHash: f.Hash, Size: f.Size, Name: f.Name, ExpiresAt: f.Expires, Sources: sources}
	if err := n.call(ctx, m, http.MethodPost, Prefix+"replicas", offer, nil); err != nil {
		return err
	}
	n.log.Info("copy placed", "file", f.ID, "node", m.ID, "expires", f.Expires)
	return nil
}

func (n *Network) setCopy(ctx context.Context, fileID, node, state string, expires time.Time) error {
	exp := ""
	if !expires.IsZero() {
		exp = store.Time(expires)
	}
	_, err := n.db.ExecContext(ctx, `INSERT INTO copies(file_id,node_id,state,expires_at,updated_at) VALUES(?,?,?,?,?)
		ON CONFLICT(file_id,node_id) DO UPDATE SET state=excluded.state, expires_at=excluded.expires_at, updated_at=excluded.updated_at`,
		fileID, node, state, exp, store.Time(n.clock.Now()))
	return err
}

func (n *Network) copies(ctx context.Context, fileID string) ([]Copy, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT node_id,state,expires_at FROM copies WHERE file_id=? ORDER BY node_id`, fileID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Copy
	for rows.Next() {
		var c Copy
		var exp string
		if err := rows.Scan(&c.Node, &c.State, &exp); err != nil {
			return nil, err
		}
		if exp != "" {
			c.Expires = store.ParseTime(exp)
		}
		if m, ok := n.Member(c.Node); ok {
			c.URL = m.URL
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Copies lists where a file's copies are: this node first, then the holders.
func (n *Network) Copies(ctx context.Context, fileID string) (any, error) {
	cs, err := n.copies(ctx, fileID)
	if err != nil {
		return nil, err
	}
	self := n.Self()
	return append([]Copy{{Node: self.ID, URL: self.URL, State: "origin"}}, cs...), nil
}

// Heal restores this node's copy of content from the holders of a file.
func (n *Network) Heal(ctx context.Context, fileID, hash string, size int64) error {
	cs, err := n.copies(ctx, fileID)
	if err != nil {
		return err
	}
	var nodes []string
	for _, c := range cs {
		if c.State == CopyStored {
			nodes = append(nodes, c.Node)
		}
	}
	st, err := n.pull(ctx, nodes, hash, size)
	if err != nil {
		return err
	}
	defer st.Discard()
	if err := n.blobs.Restore(st, hash); err != nil {
		return err
	}
	n.log.Info("healed a missing or damaged copy from a replica", "file", fileID, "hash", hash)
	return nil
}

// pull fetches content from the first node that serves it intact.
func (n *Network) pull(ctx context.Context, nodes []string, hash string, size int64) (*blob.Staged, error) {
	var errs []error
	for _, id := range nodes {
		m, ok := n.Member(id)
		if !ok || m.State == Gone || m.Self {
			continue
		}
		st, err := n.pullFrom(ctx, m, hash, size)
		if err == nil {
			return st, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no live node holds content %s", hash)
	}
	return nil, errors.Join(errs...)
}

func (n *Network) pullFrom(ctx context.Context, m Member, hash string, size int64) (*blob.Staged, error) {
	resp, err := n.do(ctx, m, http.MethodGet, Prefix+"blobs/"+hash, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s for content %s", m.ID, resp.Status, hash)
	}
	st, err := n.blobs.Stage(resp.Body, size)
	if err != nil {
		return nil, fmt.Errorf("pull %s from %s: %w", hash, m.ID, err)
	}
	if st.Hash != hash || st.Size != size {
		st.Discard()
		return nil, fmt.Errorf("content from %s hashes to %s (%d bytes), want %s (%d bytes)", m.ID, st.Hash, st.Size, hash, size)
	}
	return st, nil
}

func (n *Network) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			jsonapi.WriteError(w, n.log, err)
		}
	}
}

// accept stores (or extends) a copy offered by its origin.
func (n *Network) accept(w http.ResponseWriter, r *http.Request) error {
	var o Offer
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		return apierr.BadRequest("bad_offer", "offer is not valid JSON: %v", err)
	}
	if o.FileID == "" || len(o.ContentHash) != 64 || o.Size < 0 || o.ExpiresAt.IsZero() {
		return apierr.BadRequest("bad_offer", "offer lacks a file id, content hash, size or expiry")
	}
	origin := sender(r.Context())
	now := n.clock.Now()
	var cur struct {
		origin, exp, state string
	}
	err := n.db.QueryRowContext(r.Context(), `SELECT origin_id,expires_at,state FROM replicas WHERE file_id=?`, o.FileID).Scan(&cur.origin, &cur.exp, &cur.state)
	switch {
	case err == nil && cur.state == "stored":
		if cur.origin != origin {
			return apierr.Forbidden("file %s belongs to origin %s", o.FileID, cur.origin)
		}
		return n.extend(r.Context(), o, store.ParseTime(cur.exp))
	case err != nil && !errors.Is(store.NotFound(err), store.ErrNotFound):
		return err
	}
	if !o.ExpiresAt.After(now) {
		return apierr.Conflict("expired", "the term of file %s has ended", o.FileID)
	}
	st, err := n.pull(r.Context(), o.Sources, o.ContentHash, o.Size)
	if err != nil {
		return apierr.New(http.StatusBadGateway, "pull_failed", "cannot fetch the content: %v", err)
	}
	defer st.Discard()
	price, err := n.ledger.Price(o.Size, o.ExpiresAt.Sub(now))
	if err != nil {
		return err
	}
	err = n.blobs.Commit(r.Context(), st, func(tx *store.Tx) error {
		if _, err := tx.Exec(`INSERT INTO replicas(file_id,origin_id,content_hash,size,name,expires_at,state,created_at) VALUES(?,?,?,?,?,?,?,?)
			ON CONFLICT(file_id) DO UPDATE SET origin_id=excluded.origin_id, content_hash=excluded.content_hash, size=excluded.size,
			name=excluded.name, expires_at=excluded.expires_at, state=excluded.state, created_at=excluded.created_at`,
			o.FileID, origin, o.ContentHash, o.Size, o.Name, store.Time(o.ExpiresAt), "stored", store.Time(now)); err != nil {
			return err
		}
		return n.ledger.AddTerm(tx, ledger.Term{FileID: o.FileID, QuoteID: "copy@" + store.Time(now), Start: now, End: o.ExpiresAt, Size: o.Size, Price: price})
	})
	if err != nil {
		return err
	}
	n.log.Info("holding a copy", "file", o.FileID, "origin", origin, "size", o.Size, "expires", o.ExpiresAt)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// extend carries a longer term to a copy held here.
func (n *Network) extend(ctx context.Context, o Offer, cur time.Time) error {
	if !o.ExpiresAt.After(cur) {
		return nil
	}
	price, err := n.ledger.Price(o.Size, o.ExpiresAt.Sub(cur))
	if err != nil {
		return err
	}
	return n.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(`UPDATE replicas SET expires_at=? WHERE file_id=?`, store.Time(o.ExpiresAt), o.FileID); err != nil {
			return err
		}
		n.log.Info("copy term extended", "file", o.FileID, "expires", o.ExpiresAt)
		return n.ledger.AddTerm(tx, ledger.Term{FileID: o.FileID, QuoteID: "copy@" + store.Time(cur), Start: cur, End: o.ExpiresAt, Size: o.Size, Price: price})
	})
}

// serveBlob lets members pull content that this node holds for a file.
func (n *Network) serveBlob(w http.ResponseWriter, r *http.Request) error {
	hash := r.PathValue("hash")
	var held int
	if err := n.db.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM replicas WHERE content_hash=? AND state='stored'`, hash).Scan(&held); err != nil {
		return err
	}
	if held == 0 {
		ok, err := n.files.HasContent(r.Context(), hash)
		if err != nil {
			return err
		}
		if !ok {
			return apierr.NotFound("this node holds no file with content %s", hash)
		}
	}
	f, err := n.blobs.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+hash+`"`)
	_, err = io.Copy(w, f)
	return err
}

// Sweep deletes the copies held here whose term ended.
func (n *Network) Sweep(ctx context.Context) (int, error) {
	count := 0
	err := n.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(`SELECT file_id, content_hash FROM replicas WHERE state='stored' AND expires_at<=?`, store.Time(n.clock.Now()))
		if err != nil {
			return err
		}
		type ended struct{ id, hash string }
		var list []ended
		for rows.Next() {
			var e ended
			if err := rows.Scan(&e.id, &e.hash); err != nil {
				rows.Close()
				return err
			}
			list = append(list, e)
		}
		rows.Close()
		for _, e := range list {
			if _, err := tx.Exec(`UPDATE replicas SET state='expired' WHERE file_id=?`, e.id); err != nil {
				return err
			}
			if err := n.blobs.Unref(tx, e.hash); err != nil {
				return err
			}
			count++
		}
		return nil
	})
	if count > 0 {
		n.log.Info("copies expired", "count", count)
	}
	return count, err
}

// Held lists the copies this node holds for others (for tests and the operator).
func (n *Network) Held(ctx context.Context) (map[string]string, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT file_id, content_hash FROM replicas WHERE state='stored'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, h string
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		out[id] = h
	}
	return out, rows.Err()
}
