package network

// Replication keeps R copies of every paid file in the network, and no node
// is the file's home: whichever live holder ranks first for the file (Rank
// over its live holders) is its housekeeper. On every pass each node looks at
// the files it holds and, for those it keeps house for, marks holders gone
// longer than the repair delay lost, places missing copies on the next live
// members in the file's rendezvous order and pushes the record to every
// holder. A holder merges the record (files.Merge: the result does not
// depend on the order of delivery), pulls the content if it lacks it
// (signed GETs, SHA-256 verified) and answers with its merged record, which
// the housekeeper merges back: changes made on any holder reach all of them
// within a pass or two, and pushing again is harmless.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/store"
)

// kick asks the background loop for a pass soon: over the file fileID only
// (after a payment), or over every stored file ("": another process of the
// node took a payment, of a file this one was not told of).
func (n *Network) kick(fileID string) {
	n.dirtyMu.Lock()
	if fileID == "" {
		n.dirtyAll = true
	} else {
		if n.dirty == nil {
			n.dirty = map[string]bool{}
		}
		n.dirty[fileID] = true
	}
	n.dirtyMu.Unlock()
	select {
	case n.kicks <- struct{}{}:
	default:
	}
}

// wakePoll is how often the process that replicates looks for payments
// taken by the node's other processes (with Config.Shared).
const wakePoll = 200 * time.Millisecond

// pollWakes kicks the background loop if another process of the node took a
// payment since the last look.
func (n *Network) pollWakes(ctx context.Context) {
	woken, err := n.store.Woken(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Debug("cannot look for payments taken by other processes", "err", err)
		}
		return
	}
	if woken {
		n.kick("")
	}
}

// live tells whether a member is known and not gone (this node always is).
func (n *Network) live(id string) (Member, bool) {
	m, ok := n.Member(id)
	return m, ok && m.State != Gone
}

// Keeper returns the id of a file's housekeeper: the first of its live
// holders that keep a copy, in the file's rendezvous order; "" when none is
// live. (A holder still pulling its copy does not keep house.)
func (n *Network) Keeper(f files.File) string {
	var live []Member
	for _, h := range f.Holders {
		if h.State != files.HolderStored {
			continue
		}
		if m, ok := n.live(h.Node); ok {
			live = append(live, m)
		}
	}
	if _, ok := f.Holder(n.ID()); !ok && f.State == files.StateStored {
		live = append(live, n.Self()) // a record from before holders were kept
	}
	if len(live) == 0 {
		return ""
	}
	return Rank(f.ID, live)[0].ID
}

// Readers lists the live holders that keep a copy, in the file's rendezvous
// order, this node excluded.
func (n *Network) Readers(f files.File) []string {
	var live []Member
	for _, h := range f.Holders {
		if m, ok := n.live(h.Node); ok && h.State == files.HolderStored && !m.Self {
			live = append(live, m)
		}
	}
	var out []string
	for _, m := range Rank(f.ID, live) {
		out = append(out, m.ID)
	}
	return out
}

// Sync makes one pass over the files this node holds and keeps house for the
// ones it ranks first for. A file the pass found nothing more to do for is
// settled: later passes leave it out until its record is written again or
// membership changes (epoch), so a pass costs the files that changed, not
// every file held.
func (n *Network) Sync(ctx context.Context) error {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	at := n.clock.Now()
	held, err := n.files.Unsettled(ctx, n.epoch(at))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range held {
		errs = append(errs, n.syncFile(ctx, f, at))
	}
	return errors.Join(errs...)
}

// epoch is the last time, up to now, that what a pass decides for a settled
// file could have changed: a member appeared or changed state, or a gone
// holder's repair delay ran out. Files settled at or before it are read again.
func (n *Network) epoch(now time.Time) time.Time {
	n.mu.Lock()
	e := n.changed
	n.mu.Unlock()
	for _, since := range n.GoneSince() {
		if due := since.Add(n.cfg.RepairAfter); !due.After(now) && due.After(e) {
			e = due
		}
	}
	return e
}

// resettle makes the next pass read every stored file once.
func (n *Network) resettle() {
	n.mu.Lock()
	n.changed = n.clock.Now()
	n.mu.Unlock()
}

// syncKicked runs the pass asked for by kick: over the files named, or
// over every stored file.
func (n *Network) syncKicked(ctx context.Context) error {
	n.dirtyMu.Lock()
	ids, all := n.dirty, n.dirtyAll
	n.dirty, n.dirtyAll = nil, false
	n.dirtyMu.Unlock()
	if all {
		return n.Sync(ctx)
	}
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	at := n.clock.Now()
	var errs []error
	for id := range ids {
		f, err := n.files.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (f.State != files.StateStored || !f.Expires.After(n.clock.Now()))) {
			continue // not stored (any more): the periodic pass has nothing to do for it either
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("file %s: %w", id, err))
			continue
		}
		errs = append(errs, n.syncFile(ctx, f, at))
	}
	return errors.Join(errs...)
}

// syncFile places, repairs or passes on the copies of one stored file, read
// at or after at, and settles it when that succeeds: what is left to do
// then waits for a holder to go or come (epoch) or the record to change.
func (n *Network) syncFile(ctx context.Context, f files.File, at time.Time) error {
	var err error
	var told []string // the members that must have the record as it is left
	switch k := n.Keeper(f); k {
	case n.ID():
		if f, err = n.keepHouse(ctx, f); err == nil {
			for _, h := range f.Holders {
				if m, ok := n.live(h.Node); ok && !m.Self {
					told = append(told, m.ID)
				}
			}
		}
	default:
		// A change made here (a payment for a quote this node issued)
		// goes to the housekeeper, which carries it to the others.
		if m, ok := n.live(k); ok {
			f, err = n.pushIfBehind(ctx, m, f)
			told = append(told, m.ID)
		}
	}
	settled := false
	if err == nil {
		settled, err = n.settle(ctx, f, told, at)
	}
	if !settled {
		n.passes.unsettled.Add(1)
	} else {
		n.passes.settled.Add(1)
	}
	if err != nil {
		return fmt.Errorf("file %s: %w", f.ID, err)
	}
	return nil
}

// settle marks f settled when each member told has its version: a holder
// that answered a push with news (merged into f) is still behind, and the
// next pass pushes to it again.
func (n *Network) settle(ctx context.Context, f files.File, told []string, at time.Time) (bool, error) {
	d := version(f)
	for _, id := range told {
		if acked, err := n.store.Acked(ctx, f.ID, id); err != nil || acked != d {
			return false, err
		}
	}
	return n.files.Settle(ctx, f, at)
}

// version names a version of a record (this node's state left out).
func version(f files.File) string {
	f.State = ""
	b, _ := json.Marshal(f)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pushIfBehind pushes a record to a member unless it is known to have this
// version, and merges its answer; it returns the merged record.
func (n *Network) pushIfBehind(ctx context.Context, m Member, f files.File) (files.File, error) {
	d := version(f)
	acked, err := n.store.Acked(ctx, f.ID, m.ID)
	if err != nil {
		return f, err
	}
	if acked == d {
		return f, nil
	}
	got, err := n.push(ctx, m, f)
	if err != nil {
		return f, err
	}
	if f, err = n.files.Update(ctx, got); err != nil {
		return f, err
	}
	if d = version(f); version(got) == d {
		err = n.ack(ctx, f.ID, m.ID, d)
	}
	return f, err
}

// keepHouse places and repairs the copies of a file this node keeps house
// for and pushes the record to every holder behind; it returns the record
// as it left it.
func (n *Network) keepHouse(ctx context.Context, f files.File) (files.File, error) {
	now := n.clock.Now()
	self := n.ID()
	changed := false // most passes change nothing: then nothing is written
	if _, ok := f.Holder(self); !ok {
		changed = true
		f.SetHolder(files.Holder{Node: self, Share: f.FreeShare(), State: files.HolderStored, Taken: now, Since: now, Updated: now})
	}
	gone := n.GoneSince()
	healthy := 0
	for _, h := range slices.Clone(f.Holders) {
		if h.State == files.HolderLost {
			continue
		}
		if since, ok := gone[h.Node]; ok && now.Sub(since) >= n.cfg.RepairAfter {
			n.log.Info("copy lost: its holder is gone", "file", f.ID, "node", h.Node, "gone_since", since)
			cut := now
			if h.State == files.HolderPending {
				cut = h.Taken // it never kept the copy: it earns nothing, the next takes over from where it was to start
			}
			h.State, h.Since, h.Updated = files.HolderLost, cut, now
			f.SetHolder(h)
			changed = true
			continue
		}
		healthy++
	}
	for _, m := range Rank(f.ID, n.Alive()) {
		if healthy >= n.cfg.Replicas {
			break
		}
		if _, ok := f.Holder(m.ID); ok {
			continue
		}
		share := f.FreeShare()
		// The newcomer takes the share over where the lost holder's was cut.
		taken := time.Time{}
		for _, h := range f.Holders {
			if h.Share == share && h.State == files.HolderLost && h.Since.After(taken) {
				taken = h.Since
			}
		}
		if taken.IsZero() {
			taken = now
		}
		f.SetHolder(files.Holder{Node: m.ID, Share: share, State: files.HolderPending, Taken: taken, Since: now, Updated: now})
		healthy++
		changed = true
	}
	var err error
	if changed {
		if f, err = n.files.Update(ctx, f); err != nil {
			return f, err
		}
	}
	var errs []error
	for _, h := range f.Holders {
		m, ok := n.live(h.Node)
		if !ok || m.Self {
			continue
		}
		if f, err = n.pushIfBehind(ctx, m, f); err != nil {
			errs = append(errs, err)
		}
	}
	return f, errors.Join(errs...)
}

// Push is what a housekeeper sends a holder: the record and where to pull
// the content from.
type Push struct {
	Record  files.File `json:"record"`
	Sources []string   `json:"sources"` // nodes to pull the content from, in order
}

func (n *Network) push(ctx context.Context, m Member, f files.File) (files.File, error) {
	sources := []string{}
	if f.State == files.StateStored {
		sources = append(sources, n.ID())
	}
	for _, id := range n.Readers(f) {
		if id != m.ID {
			sources = append(sources, id)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var got files.File
	if err := n.call(ctx, m, http.MethodPost, Prefix+"records", Push{Record: f, Sources: sources}, &got); err != nil {
		return files.File{}, err
	}
	if got.ID != f.ID {
		return files.File{}, fmt.Errorf("%s answered the record of %q for %q", m.ID, got.ID, f.ID)
	}
	n.log.Debug("record pushed", "file", f.ID, "to", m.ID, "expires", f.Expires)
	return got, nil
}

// accept merges a record pushed by a housekeeper and pulls the content when
// this node is to hold a copy it lacks (POST /internal/v1/records).
func (n *Network) accept(w http.ResponseWriter, r *http.Request) error {
	var p Push
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		return apierr.BadRequest("bad_record", "record is not valid JSON: %v", err)
	}
	rec := p.Record
	if rec.ID == "" || len(rec.Hash) != 64 || rec.Size < 0 || rec.Expires.IsZero() || rec.Owner == "" {
		return apierr.BadRequest("bad_record", "record lacks a file id, owner, content hash, size or expiry")
	}
	ctx := r.Context()
	cur, err := n.files.Get(ctx, rec.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err == nil && (cur.Hash != rec.Hash || cur.Size != rec.Size) {
		return apierr.Conflict("record_mismatch", "file %s has content %s (%d bytes) here, the record says %s (%d bytes)", rec.ID, cur.Hash, cur.Size, rec.Hash, rec.Size)
	}
	h, named := rec.Holder(n.ID())
	needed := named && h.State != files.HolderLost && cur.State != files.StateStored && cur.State != files.StatePending &&
		rec.Expires.After(n.clock.Now())
	var merged files.File
	if !needed {
		if merged, err = n.files.Update(ctx, rec); err != nil {
			return err
		}
	} else {
		st, err := n.pull(ctx, p.Sources, rec.Hash, rec.Size)
		if err != nil {
			return apierr.New(http.StatusBadGateway, "pull_failed", "cannot fetch the content: %v", err)
		}
		defer st.Discard()
		err = n.blobs.Commit(ctx, st, func(ctx context.Context) error {
			if _, err := n.files.Merge(ctx, rec); err != nil {
				return err
			}
			merged, err = n.files.Hold(ctx, rec.ID)
			return err
		})
		if err != nil {
			return err
		}
		n.log.Info("holding a copy", "file", rec.ID, "from", sender(ctx), "size", rec.Size, "expires", rec.Expires)
	}
	if v := version(merged); v == version(rec) {
		// The sender has what this node has: nothing to push back.
		if err := n.ack(ctx, rec.ID, sender(ctx), v); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(merged)
}

// ack remembers that a member has a version of a record.
func (n *Network) ack(ctx context.Context, fileID, node, version string) error {
	return n.store.Ack(ctx, fileID, node, version)
}

// Copy is one copy of a file as file info shows it.
type Copy struct {
	Node  string    `json:"node"`
	URL   string    `json:"url,omitempty"`
	State string    `json:"state"` // pending, stored, lost, or gone while membership says so
	Share int       `json:"share"`
	Since time.Time `json:"since"`
	Audit *Audit    `json:"last_audit,omitempty"` // by this node, if it audited the copy
}

// Copies lists where a file's copies are, by share, with the live member
// state laid over: a holder that membership says is gone shows gone at once.
func (n *Network) Copies(f files.File) any {
	out := []Copy{}
	for _, h := range f.Holders {
		c := Copy{Node: h.Node, State: h.State, Share: h.Share, Since: h.Since, Audit: n.audits.of(f.ID, h.Node)}
		m, ok := n.Member(h.Node)
		if ok {
			c.URL = m.URL
		}
		if h.State != files.HolderLost && (!ok || m.State == Gone) {
			c.State = Gone
			if ok {
				c.Since = m.Since
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Copy) int { return a.Share - b.Share })
	return out
}

// Heal restores this node's copy of a file's content from its holders.
func (n *Network) Heal(ctx context.Context, f files.File) error {
	st, err := n.pull(ctx, n.Readers(f), f.Hash, f.Size)
	if err != nil {
		return err
	}
	defer st.Discard()
	if err := n.blobs.Restore(st, f.Hash); err != nil {
		return err
	}
	n.log.Info("healed a missing or damaged copy from a replica", "file", f.ID, "hash", f.Hash)
	return nil
}

// pull fetches content from the first node that serves it intact.
func (n *Network) pull(ctx context.Context, nodes []string, hash string, size int64) (*blob.Staged, error) {
	var errs []error
	for _, id := range nodes {
		m, ok := n.live(id)
		if !ok || m.Self {
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

// serveBlob lets members pull content that this node holds for a file.
func (n *Network) serveBlob(w http.ResponseWriter, r *http.Request) error {
	hash := r.PathValue("hash")
	ok, err := n.files.HasContent(r.Context(), hash)
	if err != nil {
		return err
	}
	if !ok {
		return apierr.NotFound("this node holds no file with content %s", hash)
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

// Sweep forgets the nonces of signed requests too old to be taken anyway
// (the files registry ends the terms of every record, copies held for
// others included). It ends nothing: it counts 0.
func (n *Network) Sweep(ctx context.Context) (int, error) {
	return 0, n.store.SweepNonces(ctx, n.clock.Now())
}

// Held lists the files this node keeps a copy of, with their content hash
// (for tests and the operator).
func (n *Network) Held(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := n.eachStoredFrom(ctx, "", func(f files.File) bool {
		out[f.ID] = f.Hash
		return true
	})
	return out, err
}

// paid is told of every paid quote inside the payment's transaction: the
// price is split into as many shares as copies the network keeps now, and
// the copies are placed soon, by this process or, if another of the node
// runs replication, by that one, woken with the payment.
func (n *Network) paid(ctx context.Context, q ledger.Quote) error {
	if r := min(max(n.cfg.Replicas, 1), len(n.Alive())); r > 1 {
		if err := n.files.SetReplicas(ctx, q.FileID, cmpOr(q.PaidBy, q.ID), r); err != nil {
			return err
		}
	}
	if n.cfg.Shared && !n.replicating.Load() {
		if err := n.store.Wake(ctx, q.FileID); err != nil {
			return err
		}
	}
	n.store.AfterCommit(ctx, func() { n.kick(q.FileID) })
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
