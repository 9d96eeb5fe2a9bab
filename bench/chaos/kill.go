package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// acked is what the node acknowledged about one file.
type acked struct {
	hash     [32]byte // of the content
	read     [32]byte // of a read through the prefix storlet
	paid     bool
	extended bool
}

// killCampaign runs mixed work, kills the node at a random moment, restarts
// it and checks what it acknowledged, until the budget is spent (at least
// two rounds).
func (c *campaign) killCampaign(budget time.Duration) error {
	n, err := c.newNode("kill", "--provider-allow-private-urls")
	if err != nil {
		return err
	}
	defer n.stop()
	var mu sync.Mutex
	files := map[string]*acked{}
	sent := map[[32]byte]bool{}
	stored, err := c.deployStorlet(n)
	if err != nil {
		return err
	}
	for _, h := range stored {
		sent[h] = true
	}
	cp, err := c.newComputer(n)
	if err != nil {
		return err
	}
	defer cp.files.Close()
	for _, h := range cp.stored() {
		sent[h] = true
	}
	rounds, lost, corrupt, attempts := 0, 0, 0, 0
	reads, badReads, undeployed := 0, 0, 0
	deadline := time.Now().Add(budget)
	for rounds < 2 || time.Now().Before(deadline) {
		rounds++
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); cp.run(ctx) }()
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					content := make([]byte, 1+mrand.IntN(256<<10))
					rand.Read(content)
					h := sha256.Sum256(content)
					mu.Lock()
					sent[h], attempts = true, attempts+1
					mu.Unlock()
					f, err := n.user.Upload(ctx, "chaos.bin", bytes.NewReader(content), client.UploadOptions{Duration: time.Hour})
					if err != nil || f.Quote == nil {
						continue
					}
					mu.Lock()
					files[f.ID] = &acked{hash: h, read: readHash(content)}
					mu.Unlock()
					if mrand.IntN(4) == 0 {
						continue // left pending
					}
					if _, err := n.payer.Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price}); err != nil {
						continue
					}
					mu.Lock()
					files[f.ID].paid = true
					mu.Unlock()
					// A read runs the storlet deployed to the account.
					hh := sha256.New()
					if _, err := n.user.Download(ctx, f.ID, hh); err == nil {
						mu.Lock()
						reads++
						if !bytes.Equal(hh.Sum(nil), files[f.ID].read[:]) {
							badReads++
							fmt.Fprintf(os.Stderr, "read of %s through the storlet is wrong\n", f.ID)
						}
						mu.Unlock()
					}
					if mrand.IntN(3) == 0 {
						if _, err := n.user.Extend(ctx, f.ID, 2*time.Hour, map[string]any{"chaos": rounds}); err == nil {
							mu.Lock()
							files[f.ID].extended = true
							mu.Unlock()
						}
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+mrand.IntN(1500)) * time.Millisecond)
		n.kill9()
		cancel()
		wg.Wait()
		if err := n.start(); err != nil {
			return fmt.Errorf("restart after kill %d: %w", rounds, err)
		}
		// Every acknowledged file is there; every paid one reads back
		// byte for byte, through the storlet, which is still deployed.
		if !storletDeployed(n) {
			undeployed++
		}
		mu.Lock()
		for id, a := range files {
			info, err := n.user.Info(context.Background(), id)
			if err != nil {
				lost++
				fmt.Fprintf(os.Stderr, "acknowledged file %s lost: %v\n", id, err)
				continue
			}
			if a.paid && info.State != "stored" {
				lost++
				fmt.Fprintf(os.Stderr, "paid file %s is %s\n", id, info.State)
				continue
			}
			if !a.paid {
				continue
			}
			hh := sha256.New()
			if _, err := n.user.Download(context.Background(), id, hh); err != nil || !bytes.Equal(hh.Sum(nil), a.read[:]) {
				corrupt++
				fmt.Fprintf(os.Stderr, "paid file %s reads back wrong: %v\n", id, err)
			}
		}
		mu.Unlock()
	}
	// After the restarts no compute job stays queued or running, and a
	// new one runs to its end.
	last, cancelLast := context.WithTimeout(context.Background(), time.Minute)
	cp.one(last)
	cancelLast()
	finished, interrupted, otherFail, stuck, missing := cp.settle(60 * time.Second)
	c.add("compute jobs during the kills", stuck == 0 && missing == 0 && otherFail == 0 && finished > 0,
		"%d starts tried, %d acknowledged: %d finished, %d interrupted (44), %d failed otherwise, %d stuck, %d gone",
		cp.attempts, len(cp.jobs), finished, interrupted, otherFail, stuck, missing)
	paid := 0
	for _, a := range files {
		if a.paid {
			paid++
		}
	}
	c.add("kill -9 during uploads, payments, extensions", lost == 0 && corrupt == 0,
		"%d kills, %d uploads tried, %d acknowledged, %d paid; %d lost, %d corrupt", rounds, attempts, len(files), paid, lost, corrupt)
	c.add("storlet reads during the kills", badReads == 0 && undeployed == 0 && reads > 0,
		"%d reads through a WASI storlet and its dependency, %d wrong; deployment lost after %d of %d restarts", reads, badReads, undeployed, rounds)

	// Leftovers: staging files (the node clears them at start), and blobs
	// no file refers to (each upload's content is distinct, so objects
	// beyond files, the storlet's module and dependency, and the compute
	// dataset, algorithm and results are leaks), nor any object of content
	// we did not send or expect.
	staging, _ := os.ReadDir(filepath.Join(n.data, "blobs", "tmp"))
	objects, strangers := 0, 0
	filepath.WalkDir(filepath.Join(n.data, "blobs", "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			objects++
			if b, err := hex.DecodeString(d.Name()); err != nil || len(b) != 32 || !sent[[32]byte(b)] {
				strangers++
			}
		}
		return nil
	})
	fileRows := n.gauge("dds_files")
	extra := len(stored) + len(cp.stored())
	c.add("no leaked blobs or staging files", len(staging) == 0 && strangers == 0 && float64(objects) <= fileRows+float64(extra),
		"%d staging files, %d blobs for %.0f files and at most %d storlet and compute blobs, %d blobs of unknown content", len(staging), objects, fileRows, extra, strangers)
	return nil
}
