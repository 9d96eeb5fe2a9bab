package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// networkLoss starts 5 dds serve processes joined into one network, stores
// files with 3 copies each, then kills nodes with SIGKILL one after another
// (never restarted) and reports, for each, how long until a survivor shows
// the node gone and until every file has 3 stored copies on live nodes
// again; then every file must read back byte for byte through every
// survivor.
func (c *campaign) networkLoss(files, size, kills int) error {
	const repairAfter = 3 * time.Second
	nodes := make([]*node, 5)
	for i := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		n := &node{bin: c.bin, data: filepath.Join(c.work, fmt.Sprintf("net%d", i)), url: "http://" + ln.Addr().String()}
		ln.Close()
		n.extra = []string{"--repair-after", repairAfter.String(), "--replicate-every", "1s", "--audit-every", "2s"}
		if i > 0 {
			n.extra = append(n.extra, "--peer", nodes[0].url)
		}
		if err := n.start(); err != nil {
			return fmt.Errorf("network node %d: %w", i, err)
		}
		defer n.stop()
		a, err := os.ReadFile(filepath.Join(n.data, "admin.token"))
		if err != nil {
			return err
		}
		n.admin = strings.TrimSpace(string(a))
		nodes[i] = n
	}
	// The user's and payment tokens, made on node 0, work on every node
	// once they have spread.
	tok := func(role string) (string, error) {
		out, err := exec.Command(c.bin, "token", "create", "--data", nodes[0].data, "--role", role).Output()
		if err != nil {
			return "", fmt.Errorf("token create: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], nil
	}
	user, err := tok("user")
	if err != nil {
		return err
	}
	payer, err := tok("payment")
	if err != nil {
		return err
	}
	for _, n := range nodes {
		n.user, n.payer = client.New(n.url, user), client.New(n.url, payer)
	}
	// Every node must know every other before the first upload: a node
	// that has met only two peers cannot get a price confirmed by three.
	if !waitFor(30*time.Second, func() bool {
		for _, n := range nodes {
			if len(alive(n)) != 5 {
				return false
			}
		}
		return true
	}) {
		c.add("network of 5, nodes lost", false, "the 5 nodes did not all see each other within 30 s")
		return nil
	}
	// The accounts made on node 0 reach the others within a pull or two.
	if !waitFor(30*time.Second, func() bool {
		for _, n := range nodes {
			if _, err := n.user.Account(context.Background(), "me"); err != nil {
				return false
			}
		}
		return true
	}) {
		c.add("network of 5, nodes lost", false, "the user's token did not reach every node within 30 s")
		return nil
	}

	ctx := context.Background()
	contents := map[string][]byte{}
	for i := 0; i < files; i++ {
		content := make([]byte, size)
		rand.Read(content)
		up := nodes[i%5]
		f, err := up.user.Upload(ctx, "net.bin", bytes.NewReader(content), client.UploadOptions{Duration: time.Hour})
		if err != nil || f.Quote == nil {
			return fmt.Errorf("network upload: %v", err)
		}
		paid := waitFor(20*time.Second, func() bool { // the payment token must have reached the node
			_, err := nodes[(i+2)%5].payer.Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price})
			return err == nil
		})
		if !paid {
			return fmt.Errorf("network: paying %s failed", f.ID)
		}
		contents[f.ID] = content
	}
	live := map[*node]bool{}
	for _, n := range nodes {
		live[n] = true
	}
	watcher := nodes[1]
	t0 := time.Now()
	replicated := waitFor(60*time.Second, func() bool { return allStored(watcher, contents, nil) })
	c.add(fmt.Sprintf("network of 5: %d files of %d KiB replicated", files, size>>10), replicated,
		"3 stored copies each after %s", time.Since(t0).Round(100*time.Millisecond))
	if !replicated {
		return nil
	}

	// Kill nodes 0, 2, ... (node 0 is every node's seed peer; the watcher
	// stays).
	gone := map[string]bool{}
	for k := 0; k < kills; k++ {
		victim := nodes[2*k]
		id := selfID(victim)
		victim.kill9()
		live[victim] = false
		gone[id] = true
		t0 := time.Now()
		seen := waitFor(60*time.Second, func() bool { return memberState(watcher, id) == "gone" })
		detect := time.Since(t0)
		repaired := seen && waitFor(90*time.Second, func() bool { return allStored(watcher, contents, gone) })
		repair := time.Since(t0)
		c.add(fmt.Sprintf("network of 5: kill -9 of node %d (%d of %d)", 2*k, k+1, kills), seen && repaired,
			"shown gone after %s, %d files back to 3 stored copies on live nodes after %s (--repair-after %s)",
			detect.Round(100*time.Millisecond), files, repair.Round(100*time.Millisecond), repairAfter)
		if !repaired {
			return nil
		}
	}
	bad, reads := 0, 0
	for _, n := range nodes {
		if !live[n] {
			continue
		}
		for id, content := range contents {
			var b bytes.Buffer
			reads++
			if _, err := n.user.Download(ctx, id, &b); err != nil || !bytes.Equal(b.Bytes(), content) {
				bad++
				fmt.Fprintf(os.Stderr, "network: %s through %s: %v (%d bytes)\n", id, n.url, err, b.Len())
			}
		}
	}
	c.add("network of 5: files read back through the survivors", bad == 0,
		"%d reads through %d live nodes, %d wrong or failed", reads, 5-kills, bad)
	return nil
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// members is the node's view of the network: id → state, and its own id.
func members(n *node) (map[string]string, string, error) {
	req, _ := http.NewRequest("GET", n.url+"/network", nil)
	req.Header.Set("Authorization", "Bearer "+n.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var doc struct {
		Data []struct {
			ID         string `json:"id"`
			Attributes struct {
				State string `json:"state"`
				Self  bool   `json:"self"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 {
		return nil, "", errors.New(resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, "", err
	}
	out, self := map[string]string{}, ""
	for _, d := range doc.Data {
		out[d.ID] = d.Attributes.State
		if d.Attributes.Self {
			self = d.ID
		}
	}
	return out, self, nil
}

func alive(n *node) []string {
	m, _, _ := members(n)
	var out []string
	for id, s := range m {
		if s == "alive" {
			out = append(out, id)
		}
	}
	return out
}

func selfID(n *node) string {
	_, self, _ := members(n)
	return self
}

func memberState(n *node, id string) string {
	m, _, _ := members(n)
	return m[id]
}

// allStored tells whether every file has 3 stored copies on nodes not in
// gone, as n sees it.
func allStored(n *node, files map[string][]byte, gone map[string]bool) bool {
	for id := range files {
		f, err := n.user.Info(context.Background(), id)
		if err != nil {
			return false
		}
		var meta struct {
			Copies []struct{ Node, State string } `json:"copies"`
		}
		if json.Unmarshal(f.Meta, &meta) != nil {
			return false
		}
		stored := 0
		for _, cp := range meta.Copies {
			if cp.State == "stored" && !gone[cp.Node] {
				stored++
			}
		}
		if stored < 3 {
			return false
		}
	}
	return true
}
