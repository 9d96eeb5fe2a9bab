// Package replica keeps R copies of every paid file in the network: the node
// that took the upload (the origin) places copies on peers chosen by
// rendezvous hashing, carries term extensions to them, replaces copies whose
// holder has been gone too long, and heals its own copy from them. Holders
// pull the content with signed requests and verify its SHA-256; each keeps
// its copy until the term it was told ends.
package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/store"
)

// FileRef is what replication needs to know of a file.
type FileRef struct {
	ID      string
	Hash    string
	Name    string
	Size    int64
	Expires time.Time
}

// Files is the origin's view of its paid files (the DDS face answers).
type Files interface {
	Stored(ctx context.Context) ([]FileRef, error)
	HasContent(ctx context.Context, hash string) (bool, error)
}

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

// Service replicates files.
type Service struct {
	db          *store.DB
	blobs       *blob.Store
	net         *network.Network
	ledger      *ledger.Ledger
	files       Files
	clock       clock.Clock
	log         *slog.Logger
	R           int           // copies in all, the origin's included
	RepairAfter time.Duration // how long a holder may be gone before its copy is replaced

	kick   chan struct{}
	syncMu sync.Mutex
}

// New prepares the replication tables.
func New(ctx context.Context, db *store.DB, blobs *blob.Store, n *network.Network, l *ledger.Ledger, files Files, c clock.Clock, log *slog.Logger, r int, repairAfter time.Duration) (*Service, error) {
	if err := db.Migrate(ctx, "replica", migrations); err != nil {
		return nil, err
	}
	return &Service{db: db, blobs: blobs, net: n, ledger: l, files: files, clock: c, log: log, R: r, RepairAfter: repairAfter,
		kick: make(chan struct{}, 1)}, nil
}

// Kick asks the background loop for a pass soon (after a payment).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run syncs every interval, and when kicked, until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("replication pass failed", "err", err)
		}
	}
}

// Sync makes one pass over the origin's files: replaces lost copies, places
// missing ones, pushes pending ones and carries term extensions.
func (s *Service) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	files, err := s.files.Stored(ctx)
	if err != nil {
		return err
	}
	gone := s.net.GoneSince()
	now := s.clock.Now()
	var errs []error
	for _, f := range files {
		if err := s.syncFile(ctx, f, gone, now); err != nil {
			errs = append(errs, fmt.Errorf("file %s: %w", f.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) syncFile(ctx context.Context, f FileRef, gone map[string]time.Time, now time.Time) error {
	copies, err := s.copies(ctx, f.ID)
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
		if since, ok := gone[c.Node]; ok && now.Sub(since) >= s.RepairAfter {
			s.log.Info("copy lost: its holder is gone", "file", f.ID, "node", c.Node, "gone_since", since)
			if err := s.setCopy(ctx, f.ID, c.Node, CopyLost, c.Expires); err != nil {
				return err
			}
			copies[i].State = CopyLost
			continue
		}
		healthy++
	}
	for _, m := range s.net.Peers(f.ID) {
		if healthy >= s.R-1 {
			break
		}
		if held[m.ID] {
			continue
		}
		if err := s.setCopy(ctx, f.ID, m.ID, CopyPending, time.Time{}); err != nil {
			return err
		}
		copies = append(copies, Copy{Node: m.ID, State: CopyPending})
		held[m.ID] = true
		healthy++
	}
	var errs []error
	for _, c := range copies {
		m, ok := s.net.Member(c.Node)
		if c.State == CopyLost || !ok || m.State == network.Gone {
			continue
		}
		if c.State == CopyPending || c.Expires.Before(f.Expires) {
			if err := s.push(ctx, m, f); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.setCopy(ctx, f.ID, c.Node, CopyStored, f.Expires); err != nil {
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

func (s *Service) push(ctx context.Context, m network.Member, f FileRef) error {
	sources := []string{s.net.ID()}
	if cs, err := s.copies(ctx, f.ID); err == nil {
		for _, c := range cs {
			if c.State == CopyStored && c.Node != m.ID {
				sources = append(sources, c.Node)
			}
		}
	}
	offer := Offer{FileID: f.ID, ContentHash: f.Hash, Size: f.Size, Name: f.Name, ExpiresAt: f.Expires, Sources: sources}
	if err := s.net.Call(ctx, m, http.MethodPost, network.Prefix+"replicas", offer, nil); err != nil {
		return err
	}
	s.log.Info("copy placed", "file", f.ID, "node", m.ID, "expires", f.Expires)
	return nil
}

func (s *Service) setCopy(ctx context.Context, fileID, node, state string, expires time.Time) error {
	exp := ""
	if !expires.IsZero() {
		exp = store.Time(expires)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO copies(file_id,node_id,state,expires_at,updated_at) VALUES(?,?,?,?,?)
		ON CONFLICT(file_id,node_id) DO UPDATE SET state=excluded.state, expires_at=excluded.expires_at, updated_at=excluded.updated_at`,
		fileID, node, state, exp, store.Time(s.clock.Now()))
	return err
}

func (s *Service) copies(ctx context.Context, fileID string) ([]Copy, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node_id,state,expires_at FROM copies WHERE file_id=? ORDER BY node_id`, fileID)
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
		if m, ok := s.net.Member(c.Node); ok {
			c.URL = m.URL
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Copies lists where a file's copies are: this node first, then the holders.
func (s *Service) Copies(ctx context.Context, fileID string) (any, error) {
	cs, err := s.copies(ctx, fileID)
	if err != nil {
		return nil, err
	}
	self := s.net.Self()
	return append([]Copy{{Node: self.ID, URL: self.URL, State: "origin"}}, cs...), nil
}

// Heal restores this node's copy of content from the holders of a file.
func (s *Service) Heal(ctx context.Context, fileID, hash string, size int64) error {
	cs, err := s.copies(ctx, fileID)
	if err != nil {
		return err
	}
	var nodes []string
	for _, c := range cs {
		if c.State == CopyStored {
			nodes = append(nodes, c.Node)
		}
	}
	st, err := s.pull(ctx, nodes, hash, size)
	if err != nil {
		return err
	}
	defer st.Discard()
	if err := s.blobs.Restore(st, hash); err != nil {
		return err
	}
	s.log.Info("healed a missing or damaged copy from a replica", "file", fileID, "hash", hash)
	return nil
}

// pull fetches content from the first node that serves it intact.
func (s *Service) pull(ctx context.Context, nodes []string, hash string, size int64) (*blob.Staged, error) {
	var errs []error
	for _, id := range nodes {
		m, ok := s.net.Member(id)
		if !ok || m.State == network.Gone || m.Self {
			continue
		}
		st, err := s.pullFrom(ctx, m, hash, size)
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

func (s *Service) pullFrom(ctx context.Context, m network.Member, hash string, size int64) (*blob.Staged, error) {
	resp, err := s.net.Do(ctx, m, http.MethodGet, network.Prefix+"blobs/"+hash, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s for content %s", m.ID, resp.Status, hash)
	}
	st, err := s.blobs.Stage(resp.Body, size)
	if err != nil {
		return nil, fmt.Errorf("pull %s from %s: %w", hash, m.ID, err)
	}
	if st.Hash != hash || st.Size != size {
		st.Discard()
		return nil, fmt.Errorf("content from %s hashes to %s (%d bytes), want %s (%d bytes)", m.ID, st.Hash, st.Size, hash, size)
	}
	return st, nil
}

// Register adds the node-to-node endpoints.
func (s *Service) Register(mux *http.ServeMux) {
	s.net.Handle(mux, "POST "+network.Prefix+"replicas", s.wrap(s.accept))
	s.net.Handle(mux, "GET "+network.Prefix+"blobs/{hash}", s.wrap(s.serveBlob))
}

func (s *Service) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			jsonapi.WriteError(w, s.log, err)
		}
	}
}

// accept stores (or extends) a copy offered by its origin.
func (s *Service) accept(w http.ResponseWriter, r *http.Request) error {
	var o Offer
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		return apierr.BadRequest("bad_offer", "offer is not valid JSON: %v", err)
	}
	if o.FileID == "" || len(o.ContentHash) != 64 || o.Size < 0 || o.ExpiresAt.IsZero() {
		return apierr.BadRequest("bad_offer", "offer lacks a file id, content hash, size or expiry")
	}
	origin := network.Sender(r.Context())
	now := s.clock.Now()
	var cur struct {
		origin, exp, state string
	}
	err := s.db.QueryRowContext(r.Context(), `SELECT origin_id,expires_at,state FROM replicas WHERE file_id=?`, o.FileID).Scan(&cur.origin, &cur.exp, &cur.state)
	switch {
	case err == nil && cur.state == "stored":
		if cur.origin != origin {
			return apierr.Forbidden("file %s belongs to origin %s", o.FileID, cur.origin)
		}
		return s.extend(r.Context(), o, store.ParseTime(cur.exp))
	case err != nil && !errors.Is(store.NotFound(err), store.ErrNotFound):
		return err
	}
	if !o.ExpiresAt.After(now) {
		return apierr.Conflict("expired", "the term of file %s has ended", o.FileID)
	}
	st, err := s.pull(r.Context(), o.Sources, o.ContentHash, o.Size)
	if err != nil {
		return apierr.New(http.StatusBadGateway, "pull_failed", "cannot fetch the content: %v", err)
	}
	defer st.Discard()
	price, err := s.ledger.Schedule.Price(o.Size, o.ExpiresAt.Sub(now))
	if err != nil {
		return err
	}
	err = s.blobs.Commit(r.Context(), st, func(tx *store.Tx) error {
		if _, err := tx.Exec(`INSERT INTO replicas(file_id,origin_id,content_hash,size,name,expires_at,state,created_at) VALUES(?,?,?,?,?,?,?,?)
			ON CONFLICT(file_id) DO UPDATE SET origin_id=excluded.origin_id, content_hash=excluded.content_hash, size=excluded.size,
			name=excluded.name, expires_at=excluded.expires_at, state=excluded.state, created_at=excluded.created_at`,
			o.FileID, origin, o.ContentHash, o.Size, o.Name, store.Time(o.ExpiresAt), "stored", store.Time(now)); err != nil {
			return err
		}
		return s.ledger.AddTerm(tx, ledger.Term{FileID: o.FileID, QuoteID: "copy@" + store.Time(now), Start: now, End: o.ExpiresAt, Size: o.Size, Price: price})
	})
	if err != nil {
		return err
	}
	s.log.Info("holding a copy", "file", o.FileID, "origin", origin, "size", o.Size, "expires", o.ExpiresAt)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// extend carries a longer term to a copy held here.
func (s *Service) extend(ctx context.Context, o Offer, cur time.Time) error {
	if !o.ExpiresAt.After(cur) {
		return nil
	}
	price, err := s.ledger.Schedule.Price(o.Size, o.ExpiresAt.Sub(cur))
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(`UPDATE replicas SET expires_at=? WHERE file_id=?`, store.Time(o.ExpiresAt), o.FileID); err != nil {
			return err
		}
		s.log.Info("copy term extended", "file", o.FileID, "expires", o.ExpiresAt)
		return s.ledger.AddTerm(tx, ledger.Term{FileID: o.FileID, QuoteID: "copy@" + store.Time(cur), Start: cur, End: o.ExpiresAt, Size: o.Size, Price: price})
	})
}

// serveBlob lets members pull content that this node holds for a file.
func (s *Service) serveBlob(w http.ResponseWriter, r *http.Request) error {
	hash := r.PathValue("hash")
	var n int
	if err := s.db.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM replicas WHERE content_hash=? AND state='stored'`, hash).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		ok, err := s.files.HasContent(r.Context(), hash)
		if err != nil {
			return err
		}
		if !ok {
			return apierr.NotFound("this node holds no file with content %s", hash)
		}
	}
	f, err := s.blobs.Open(hash)
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
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(`SELECT file_id, content_hash FROM replicas WHERE state='stored' AND expires_at<=?`, store.Time(s.clock.Now()))
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
			if err := s.blobs.Unref(tx, e.hash); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if n > 0 {
		s.log.Info("copies expired", "count", n)
	}
	return n, err
}

// Held lists the copies this node holds for others (for tests and the operator).
func (s *Service) Held(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT file_id, content_hash FROM replicas WHERE state='stored'`)
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
