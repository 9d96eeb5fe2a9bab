package network

// Audits: holders prove that they keep their copies. At random times the
// housekeeper of a file asks each other holder for one leaf of the content,
// chosen at random, with its Merkle path; it checks the proof against the
// root that the confirming peers signed, within a deadline that grows with
// the file (the holder reads the whole copy to build the path, so it cannot
// answer from the leaf alone). A holder that fails or misses the deadline
// loses its copy, which the same pass places elsewhere. Every node also
// re-hashes its own copies and heals a damaged one from a holder.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/merkle"
	"github.com/prometheus-dds/dds/internal/metrics"
	"github.com/prometheus-dds/dds/internal/store"
)

// Challenge is what an auditor asks a holder.
type Challenge struct {
	FileID      string `json:"file_id"`
	ContentHash string `json:"content_hash"`
	Size        int64  `json:"size"`
	Leaf        int64  `json:"leaf"`
}

// Proof is a holder's answer: the leaf and its path, hex-encoded.
type Proof struct {
	Leaf string   `json:"leaf"` // base16 of the leaf's bytes
	Path []string `json:"path"`
}

// errUnreachable is an audit that never reached its holder.
var errUnreachable = errors.New("holder unreachable")

// Audit is the last audit of a copy, as file info shows it.
type Audit struct {
	At     time.Time `json:"at"`
	Leaf   int64     `json:"leaf"`
	Passed bool      `json:"passed"`
	Detail string    `json:"detail,omitempty"`
}

// auditDeadline is how long a holder has to answer: a base for the round
// trip, and the time to read the whole copy at a slow disk's pace.
func (n *Network) auditDeadline(size int64) time.Duration {
	const slowDisk = 20 << 20 // bytes per second
	return n.cfg.AuditTimeout + time.Duration(size/slowDisk)*time.Second
}

// prove answers a challenge from this node's copy (POST /internal/v1/audit).
func (n *Network) prove(w http.ResponseWriter, r *http.Request) error {
	var c Challenge
	if err := json.NewDecoder(io.LimitReader(r.Body, MaxBody)).Decode(&c); err != nil {
		return apierr.BadRequest("bad_challenge", "challenge is not valid JSON: %v", err)
	}
	if c.FileID == "" || len(c.ContentHash) != 64 || c.Size <= 0 || c.Leaf < 0 || c.Leaf >= merkle.Leaves(c.Size) {
		return apierr.BadRequest("bad_challenge", "a challenge names a file, its content hash, its size and a leaf within it")
	}
	f, err := n.files.Get(r.Context(), c.FileID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.State != files.StateStored || f.Hash != c.ContentHash || f.Size != c.Size)) {
		return apierr.NotFound("this node keeps no copy of %s with that content", c.FileID)
	} else if err != nil {
		return err
	}
	blob, err := n.blobs.Open(c.ContentHash)
	if err != nil {
		return apierr.NotFound("this node has lost the content of %s", c.FileID)
	}
	defer blob.Close()
	p, err := merkle.Prove(blob, c.Size, c.Leaf)
	if err != nil {
		return apierr.Conflict("cannot_prove", "%v", err)
	}
	out := Proof{Leaf: hex.EncodeToString(p.Leaf)}
	for _, h := range p.Path {
		out.Path = append(out.Path, hex.EncodeToString(h[:]))
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

// challenge audits one holder's copy of f and tells whether it passed.
func (n *Network) challenge(ctx context.Context, m Member, f files.File, root merkle.Hash) (int64, error) {
	leaf := rand.Int64N(merkle.Leaves(f.Size))
	ctx, cancel := context.WithTimeout(ctx, n.auditDeadline(f.Size))
	defer cancel()
	var p Proof
	err := n.call(ctx, m, http.MethodPost, Prefix+"audit", Challenge{FileID: f.ID, ContentHash: f.Hash, Size: f.Size, Leaf: leaf}, &p)
	if err != nil {
		var remote *RemoteError
		switch {
		case ctx.Err() != nil:
			return leaf, fmt.Errorf("no answer within %v", n.auditDeadline(f.Size))
		case !errors.As(err, &remote):
			// Not reached at all (the node is down, not lying): membership
			// will see it gone, and --repair-after decides, not an audit.
			return leaf, fmt.Errorf("%w: %v", errUnreachable, err)
		}
		return leaf, err
	}
	proof := merkle.Proof{Index: leaf}
	if proof.Leaf, err = hex.DecodeString(p.Leaf); err != nil {
		return leaf, errors.New("the leaf is not hex")
	}
	for _, s := range p.Path {
		var h merkle.Hash
		if b, err := hex.DecodeString(s); err != nil || len(b) != len(h) {
			return leaf, errors.New("a path hash is not 32 hex bytes")
		} else {
			copy(h[:], b)
		}
		proof.Path = append(proof.Path, h)
	}
	return leaf, merkle.Verify(root, f.Size, proof)
}

// auditFile audits every other live holder that keeps a copy of f (this node
// keeps house for it). A holder that fails loses its copy: the caller's
// housekeeping places it elsewhere. It returns f with the losses marked.
func (n *Network) auditFile(ctx context.Context, f files.File) (files.File, error) {
	var root merkle.Hash
	if b, err := hex.DecodeString(f.MerkleRoot); err != nil || len(b) != len(root) {
		return f, nil // uploaded before roots were computed: nothing to check against
	} else {
		copy(root[:], b)
	}
	if f.Size == 0 {
		return f, nil
	}
	for _, h := range f.Holders {
		m, ok := n.live(h.Node)
		if !ok || m.Self || h.State != files.HolderStored {
			continue
		}
		leaf, err := n.challenge(ctx, m, f, root)
		if ctx.Err() != nil {
			return f, ctx.Err()
		}
		if errors.Is(err, errUnreachable) {
			n.log.Info("audit skipped: the holder cannot be reached", "file", f.ID, "node", h.Node, "err", err)
			continue
		}
		if rerr := n.recordAudit(ctx, f.ID, h.Node, leaf, err); rerr != nil {
			return f, rerr
		}
		if err == nil {
			continue
		}
		now := n.clock.Now()
		n.log.Warn("audit failed: the holder loses its copy", "file", f.ID, "node", h.Node, "leaf", leaf, "err", err)
		h.State, h.Since, h.Updated = files.HolderLost, now, now
		f.SetHolder(h)
	}
	return f, nil
}

func (n *Network) recordAudit(ctx context.Context, fileID, node string, leaf int64, failure error) error {
	a := Audit{At: n.clock.Now(), Leaf: leaf, Passed: failure == nil}
	if failure != nil {
		a.Detail = failure.Error()
	}
	defer n.audits.note(fileID, node, a)
	return n.store.RecordAudit(ctx, fileID, node, a)
}

// lastAudits keeps the last audit of each copy in memory, for file info
// (loaded from the audits table at start).
type lastAudits struct {
	mu sync.Mutex
	m  map[string]map[string]Audit // file id -> node -> audit
}

func (l *lastAudits) note(fileID, node string, a Audit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]map[string]Audit{}
	}
	if l.m[fileID] == nil {
		l.m[fileID] = map[string]Audit{}
	}
	l.m[fileID][node] = a
}

func (l *lastAudits) of(fileID, node string) *Audit {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.m[fileID][node]; ok {
		return &a
	}
	return nil
}

// loadAudits reads the last audits into memory.
func (n *Network) loadAudits(ctx context.Context) error {
	all, err := n.store.Audits(ctx)
	for _, a := range all {
		n.audits.note(a.FileID, a.Node, a.Audit)
	}
	return err
}

// Gauges reports the audits this node made, passed and failed, since it
// was first started, and the records this process's replication passes read.
func (n *Network) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_replication_records", "Records of stored files read by this process's replication passes since it started, by outcome: settled (nothing left to do until the record or membership changes) or unsettled (read again by the next pass).",
		"outcome", func(context.Context) (map[string]int64, error) {
			return map[string]int64{"settled": n.passes.settled.Load(), "unsettled": n.passes.unsettled.Load()}, nil
		})
	m.Gauges("dds_audits", "Audits of other holders' copies made by this node, by result.", "result", func(ctx context.Context) (map[string]int64, error) {
		out := map[string]int64{"passed": 0, "failed": 0}
		counts, err := n.store.AuditCounts(ctx)
		for r, c := range counts {
			out[r] = c
		}
		return out, err
	})
}

// Audit makes one pass over the files this node holds, in id order from
// where the last pass stopped (kept in the store), until it has reached
// Config.AuditBytes of content (at least one file): for each it re-hashes
// this node's copy, healing a damaged one from a holder, and, if this node
// keeps house for the file, audits the other holders and replaces the
// copies that failed. Both read the whole copy (the holders theirs), so a
// pass over every file would read all the node's content, and its
// holders', at every pass; the budget spreads that over passes (1 GiB per
// 10 minutes: 1 TB in a week), and the files are read a page at a time.
func (n *Network) Audit(ctx context.Context) error {
	n.auditMu.Lock()
	defer n.auditMu.Unlock()
	start, err := n.store.AuditCursor(ctx)
	if err != nil {
		return err
	}
	var errs []error
	var reached int64
	last, audited := start, 0
	err = n.eachStoredFrom(ctx, start, func(f files.File) bool {
		if audited > 0 && n.cfg.AuditBytes > 0 && reached+f.Size > n.cfg.AuditBytes {
			return false
		}
		reached += f.Size
		last, audited = f.ID, audited+1
		if err := n.auditOne(ctx, f); err != nil {
			errs = append(errs, err)
		}
		return true
	})
	if last != start {
		if err := n.store.SetAuditCursor(ctx, last); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, err)...)
}

// auditOne audits one file: this node's copy, and the others' if this node
// keeps house for it.
func (n *Network) auditOne(ctx context.Context, f files.File) error {
	var errs []error
	if err := n.blobs.Verify(f.Hash); err != nil {
		n.log.Warn("own copy damaged: healing it from a holder", "file", f.ID, "err", err)
		if err := n.Heal(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("heal %s: %w", f.ID, err))
		}
	}
	if n.Keeper(f) != n.ID() {
		return errors.Join(errs...)
	}
	before := lost(f) // auditFile marks losses in f's holders
	audited, err := n.auditFile(ctx, f)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if lost(audited) > before {
		n.syncMu.Lock()
		_, err := n.keepHouse(ctx, audited)
		n.syncMu.Unlock()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// storedPage is how many files a pass reads at a time.
const storedPage = 256

// eachStoredFrom calls f with the stored files in id order, from the one
// after start to the last and then from the first to start, a page at a
// time, until f returns false.
func (n *Network) eachStoredFrom(ctx context.Context, start string, f func(files.File) bool) error {
	after, wrapped := start, start == ""
	for {
		page, err := n.files.StoredAfter(ctx, after, storedPage)
		if err != nil {
			return err
		}
		for _, fl := range page {
			if wrapped && start != "" && fl.ID > start {
				return nil
			}
			if !f(fl) {
				return nil
			}
			after = fl.ID
		}
		if len(page) < storedPage {
			if wrapped {
				return nil
			}
			after, wrapped = "", true
		}
	}
}

func lost(f files.File) int {
	k := 0
	for _, h := range f.Holders {
		if h.State == files.HolderLost {
			k++
		}
	}
	return k
}

// auditLoop audits at random times: each pass waits between half and one
// and a half AuditEvery, so holders cannot tell when the next one comes.
func (n *Network) auditLoop(ctx context.Context) {
	// This process now audits for the node: start from what the one before
	// it (or this one, before a restart) recorded.
	if err := n.loadAudits(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("cannot read the last audits", "err", err)
	}
	for {
		wait := n.cfg.AuditEvery/2 + rand.N(n.cfg.AuditEvery)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := n.Audit(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("audit pass failed", "err", err)
		}
	}
}
