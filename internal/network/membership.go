package network

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/clock"
)

// Member states as GET /network shows them.
const (
	Alive   = api.Alive
	Suspect = api.Suspect
	Gone    = api.Gone
)

// Member is a node this node knows, as GET /network renders it.
type Member = api.Member

// Network is this node's view of the network.
type Network struct {
	cfg    Config
	key    Key
	clock  clock.Clock
	ml     *memberlist.Memberlist
	log    *slog.Logger
	client *http.Client

	mu      sync.Mutex
	members map[string]*Member
	procs   map[string]map[string]process // node id → its processes, by gossip name
	everHad bool                          // some other node was known at some point
	changed time.Time                     // when a member last appeared or changed state (replication's epoch)
	proc    string                        // this process's suffix to the node id in gossip

	store  Store
	nonces *recentNonces // of replay-safe requests (sign.go)
	pairs  pairKeys      // with members, by id (pairwise.go)
	pubHex string        // this node's compressed public key, in hex
	auths  authCounts    // requests accepted, by how they were authenticated
	blobs  Blobs
	files  Files
	ledger Ledger
	kicks  chan struct{}

	dirtyMu  sync.Mutex
	dirty    map[string]bool // files paid since the last kicked pass
	dirtyAll bool            // a kicked pass must read every stored file

	replicating atomic.Bool // this process runs the replication loop
	passes      struct{ settled, unsettled atomic.Int64 }

	accounts Accounts
	admins   Admins
	audits   lastAudits
	syncMu   sync.Mutex

	auditMu sync.Mutex // one audit pass at a time
}

type meta struct {
	URL string `json:"url"`
}

// join starts gossip and joins (or starts) the network.
func (n *Network) join(ctx context.Context) error {
	cfg := n.cfg
	host, portStr, err := net.SplitHostPort(cfg.GossipListen)
	if err != nil {
		return fmt.Errorf("network: gossip address %q: %w", cfg.GossipListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("network: gossip port %q: %w", portStr, err)
	}
	mc := memberlist.DefaultLANConfig()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		mc = memberlist.DefaultLocalConfig()
		// Small loopback networks (devnet, tests): sync full state often so
		// that a missed broadcast never leaves a member unknown for long.
		mc.PushPullInterval = 2 * time.Second
	}
	// Prompt failure detection: a member is probed every 500 ms (400 ms to
	// answer, then indirect probes through others), and a suspect that does
	// not refute within 1.5 s is declared dead. memberlist's defaults start
	// the suspicion timer at up to 6 times that and shorten it only as other
	// members confirm the suspicion, which in a small network took over 10 s
	// after a kill -9; probing each second with a fixed 2 s suspicion still
	// took up to 5.9 s, as the first probe of the dead member could come
	// late. A member wrongly declared dead (a paused process) refutes and
	// rejoins at once (memberlist's Lifeguard also stretches the timeouts of
	// a node that finds itself slow), and repair waits --repair-after anyway.
	mc.ProbeInterval = 500 * time.Millisecond
	mc.ProbeTimeout = 400 * time.Millisecond
	mc.SuspicionMult = 3           // × 500 ms; one confirmation is awaited, but the timeout is fixed:
	mc.SuspicionMaxTimeoutMult = 1 // it starts where it ends instead of shrinking from a multiple
	// Each process of this node gossips under its own name, the node id and
	// a per-start suffix: several processes serving one node (sharing its
	// database) are then all members, and the node is alive while any of
	// them is. Peers see one member per node id.
	mc.Name = n.key.ID() + "/" + n.proc
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = "", port
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	mc.Ping = (*pings)(n)
	mc.Logger = log.New(&slogWriter{n.log}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("network: start gossip on %s: %w", cfg.GossipListen, err)
	}
	n.ml = ml
	self := ml.LocalNode()
	now := n.clock.Now()
	n.members[n.key.ID()] = &Member{ID: n.key.ID(), URL: cfg.URL, Gossip: self.Address(), State: Alive, Since: now, LastContact: now, Self: true}
	n.changed = now
	known := n.loadPeers()
	if len(known) > 0 {
		n.everHad = true
	}
	switch {
	case len(cfg.Peers) > 0:
		if err := n.Join(ctx, append(cfg.Peers, known...)); err != nil {
			ml.Shutdown()
			return err
		}
	case len(known) > 0:
		// Rejoin the members met before; they may all be down, which is no
		// reason not to start.
		if err := n.Join(ctx, known); err != nil {
			n.log.Warn("cannot rejoin any known member; waiting for one to join", "err", err)
		}
	}
	return nil
}

func (n *Network) loadPeers() []string {
	if n.cfg.PeersFile == "" {
		return nil
	}
	b, err := os.ReadFile(n.cfg.PeersFile)
	if err != nil {
		return nil
	}
	var urls []string
	_ = json.Unmarshal(b, &urls)
	return slices.DeleteFunc(urls, func(u string) bool { return u == n.cfg.URL })
}

// savePeers records the URLs of all members met. n.mu is held.
func (n *Network) savePeers() {
	if n.cfg.PeersFile == "" {
		return
	}
	var urls []string
	for _, m := range n.members {
		if !m.Self && m.URL != "" {
			urls = append(urls, m.URL)
		}
	}
	slices.Sort(urls)
	b, _ := json.Marshal(urls)
	tmp := n.cfg.PeersFile + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, n.cfg.PeersFile)
	}
}

// Join joins the network through any of the given node URLs.
func (n *Network) Join(ctx context.Context, urls []string) error {
	var addrs []string
	var hellos []Hello
	var errs []error
	for _, u := range urls {
		h, err := n.hello(ctx, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		addrs = append(addrs, h.Gossip)
		hellos = append(hellos, h)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("network: cannot reach any peer to join: %w", errors.Join(errs...))
	}
	if _, err := n.ml.Join(addrs); err != nil {
		return fmt.Errorf("network: join %v: %w", addrs, err)
	}
	// Members now (the join merged their state): keep the pairwise keys of
	// those that told their public key, which must be the key of their id.
	for _, h := range hellos {
		n.learn(h.ID, h.PublicKey)
	}
	n.log.Info("joined the network", "through", urls, "members", n.ml.NumMembers())
	return nil
}

// Hello is what a node tells anyone about itself (GET /internal/v1/hello).
type Hello struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Gossip string `json:"gossip"`
	// PublicKey is the node's compressed public key in hex, whose address
	// is ID: knowing it, a node MACs its requests to this one instead of
	// signing them (pairwise.go). Older nodes do not tell it.
	PublicKey string `json:"public_key,omitempty"`
}

func (n *Network) hello(ctx context.Context, url string) (Hello, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/internal/v1/hello", nil)
	if err != nil {
		return Hello{}, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return Hello{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Hello{}, fmt.Errorf("hello answered %s", resp.Status)
	}
	var h Hello
	err = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h)
	return h, err
}

// Self returns this node as a member.
func (n *Network) Self() Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	return *n.members[n.key.ID()]
}

// ID is this node's id.
func (n *Network) ID() string { return n.key.ID() }

// Standalone tells whether this node has never known another node.
func (n *Network) Standalone() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.everHad
}

// Members lists every node this node knows, itself included, by id. A node
// is suspect when every process of it that is alive is suspected.
func (n *Network) Members() []Member {
	suspect := map[string]bool{}
	for _, m := range n.ml.Members() {
		id := nodeOf(m.Name)
		switch {
		case m.State == memberlist.StateAlive:
			suspect[id] = false
		case m.State == memberlist.StateSuspect:
			if _, ok := suspect[id]; !ok {
				suspect[id] = true
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Member, 0, len(n.members))
	for id, m := range n.members {
		c := *m
		if suspect[id] && c.State == Alive {
			c.State = Suspect
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Member returns the member with the given id.
func (n *Network) Member(id string) (Member, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.members[id]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// Alive lists the members that are alive (or only suspected), self included.
func (n *Network) Alive() []Member {
	var out []Member
	for _, m := range n.Members() {
		if m.State != Gone {
			out = append(out, m)
		}
	}
	return out
}

// Rank orders members by rendezvous hashing on key: the same key and the same
// members always give the same order, and a member leaving only moves the
// keys it held.
func Rank(key string, members []Member) []Member {
	type scored struct {
		m Member
		s uint64
	}
	ss := make([]scored, len(members))
	for i, m := range members {
		h := sha256.Sum256([]byte(key + "\x00" + m.ID))
		ss[i] = scored{m, binary.BigEndian.Uint64(h[:8])}
	}
	slices.SortFunc(ss, func(a, b scored) int {
		if a.s != b.s {
			if a.s > b.s {
				return -1
			}
			return 1
		}
		return strings.Compare(a.m.ID, b.m.ID)
	})
	out := make([]Member, len(ss))
	for i, s := range ss {
		out[i] = s.m
	}
	return out
}

// Peers returns the live members other than self, ranked for key.
func (n *Network) Peers(key string) []Member {
	var others []Member
	for _, m := range n.Alive() {
		if !m.Self {
			others = append(others, m)
		}
	}
	return Rank(key, others)
}

// GoneSince returns, for members that are gone, since when.
func (n *Network) GoneSince() map[string]time.Time {
	out := map[string]time.Time{}
	for _, m := range n.Members() {
		if m.State == Gone {
			out[m.ID] = m.Since
		}
	}
	return out
}

func (n *Network) touch(id string) {
	n.mu.Lock()
	if m, ok := n.members[id]; ok {
		m.LastContact = n.clock.Now()
	}
	n.mu.Unlock()
}

// delegate gives memberlist this node's metadata.
type delegate Network

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(meta{URL: d.cfg.URL})
	if len(b) > limit {
		return nil
	}
	return b
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events keeps the member table in step with memberlist.
type events Network

func (e *events) NotifyJoin(node *memberlist.Node)   { (*Network)(e).update(node, Alive) }
func (e *events) NotifyUpdate(node *memberlist.Node) { (*Network)(e).update(node, Alive) }
func (e *events) NotifyLeave(node *memberlist.Node)  { (*Network)(e).update(node, Gone) }

// nodeOf is the node id of a gossip name ("id/process"; a bare id from
// nodes that gossip under their id alone).
func nodeOf(name string) string {
	id, _, _ := strings.Cut(name, "/")
	return id
}

// process is one gossiping process of a node.
type process struct {
	state  string // Alive or Gone
	gossip string // its gossip address
}

// update records a process's new state; its node is alive while any of its
// processes is, and gone once all are. (memberlist calls it holding its own
// locks: it must not call back into memberlist.)
func (n *Network) update(node *memberlist.Node, state string) {
	id := nodeOf(node.Name)
	if id == n.key.ID() {
		return // another process of this node
	}
	var md meta
	_ = json.Unmarshal(node.Meta, &md)
	now := n.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.members[id]
	if !ok {
		m = &Member{ID: id, Since: now}
		n.members[id] = m
		n.everHad = true
	}
	procs := n.procs[id]
	if procs == nil {
		procs = map[string]process{}
		n.procs[id] = procs
	}
	if state == Alive {
		for name, p := range procs {
			if p.state == Gone {
				delete(procs, name) // a process that ended: a restart gossips under a new name
			}
		}
	}
	procs[node.Name] = process{state: state, gossip: node.Address()}
	if state == Alive && md.URL != "" && md.URL != m.URL {
		m.URL = md.URL
		n.savePeers()
	}
	nodeState := Gone
	m.Gossip = node.Address()
	for _, p := range procs {
		if p.state == Alive {
			nodeState, m.Gossip = Alive, p.gossip
			break
		}
	}
	if m.State != nodeState {
		m.State, m.Since = nodeState, now
		n.changed = now
		n.log.Info("member "+nodeState, "member", id, "url", m.URL)
	}
	if nodeState == Alive {
		m.LastContact = now
	}
}

// pings records successful probes as contact.
type pings Network

func (p *pings) AckPayload() []byte { return nil }
func (p *pings) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	(*Network)(p).touch(nodeOf(other.Name))
}

// slogWriter sends memberlist's log lines to slog at debug level (warnings
// and errors at their own level).
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(line, "[ERR]"):
		w.log.Warn(line, "component", "memberlist")
	case strings.Contains(line, "[WARN]"):
		w.log.Debug(line, "component", "memberlist")
	default:
		w.log.Debug(line, "component", "memberlist")
	}
	return len(p), nil
}
