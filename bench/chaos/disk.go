package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// fullDisk runs a node whose data directory is a small tmpfs and uploads
// into it from several workers until it is full: uploads that do not fit
// must get 507, no staging file or partial blob may stay, and the node must
// keep serving what it acknowledged. Mounting needs root: the row says
// "skipped" otherwise.
func (c *campaign) fullDisk(sizeMiB, workers int) error {
	const check = "full disk during uploads"
	dir := filepath.Join(c.work, "disk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		c.skip(check, "needs root (mounts a %d MiB tmpfs)", sizeMiB)
		return nil
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "tmpfs", dir).CombinedOutput(); err != nil {
		c.skip(check, "cannot mount a tmpfs: %v %s", err, bytes.TrimSpace(out))
		return nil
	}
	defer exec.Command("umount", "-l", dir).Run()
	n, err := c.newNode("disk")
	if err != nil {
		return err
	}
	defer n.stop()

	ctx := context.Background()
	var mu sync.Mutex
	acked := map[string][]byte{}
	full, other, tried := 0, 0, 0
	var others []string
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker goes on until it has had 3 answers of 507.
			for mine := 0; mine < 3; {
				content := make([]byte, 256<<10+mrand.IntN(768<<10))
				rand.Read(content)
				f, err := n.user.Upload(ctx, "disk.bin", bytes.NewReader(content), client.UploadOptions{Duration: time.Hour})
				mu.Lock()
				tried++
				var ce *client.Error
				switch {
				case err == nil:
					acked[f.ID] = content
				case errors.As(err, &ce) && ce.Status == http.StatusInsufficientStorage:
					full++
					mine++
				default:
					other++
					if !slices.Contains(others, err.Error()) {
						others = append(others, err.Error())
					}
					mine++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	// Nothing half-written: no staging file, and every blob is whole (its
	// content hashes to its name) and belongs to an acknowledged upload.
	staging, _ := os.ReadDir(filepath.Join(n.data, "blobs", "tmp"))
	sums := map[[32]byte]bool{}
	for _, b := range acked {
		sums[sha256.Sum256(b)] = true
	}
	objects, partial := 0, 0
	filepath.WalkDir(filepath.Join(n.data, "blobs", "objects"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		objects++
		name, _ := hex.DecodeString(d.Name())
		f, err := os.Open(p)
		if err != nil {
			partial++
			return nil
		}
		defer f.Close()
		h := sha256.New()
		io.Copy(h, f)
		if !bytes.Equal(h.Sum(nil), name) || len(name) != 32 || !sums[[32]byte(name)] {
			partial++
		}
		return nil
	})

	// The node keeps serving: every acknowledged file is there, and paid
	// ones read back byte for byte (payments write to the full disk too:
	// each is tried, and a refusal must not be a 500).
	lost, corrupt, paid, payRefused, pay5xx := 0, 0, 0, 0, 0
	for id, content := range acked {
		f, err := n.user.Info(ctx, id)
		if err != nil {
			lost++
			continue
		}
		if f.Quote == nil {
			continue
		}
		_, err = n.payer.Pay(ctx, api.PaymentRequest{FileID: id, Status: "success", Amount: f.Quote.Price})
		var ce *client.Error
		switch {
		case err == nil:
			paid++
			var b bytes.Buffer
			if _, err := n.user.Download(ctx, id, &b); err != nil || !bytes.Equal(b.Bytes(), content) {
				corrupt++
			}
		case errors.As(err, &ce) && ce.Status >= 500 && ce.Status != http.StatusInsufficientStorage:
			pay5xx++
			if pay5xx == 1 {
				fmt.Fprintf(os.Stderr, "full disk: paying %s: %v (the node's log: %s.log, kept with --keep)\n", id, err, n.data)
			}
		default:
			payRefused++
		}
	}
	health := 0
	if resp, err := http.Get(n.url + "/healthz"); err == nil {
		resp.Body.Close()
		health = resp.StatusCode
	}
	c.add(check+": uploads", full > 0 && other == 0 && len(staging) == 0 && partial == 0,
		"%d MiB tmpfs, %d workers: %d uploads tried, %d acknowledged, %d got 507, %d other answers %q; %d staging files, %d blobs, %d partial or unknown",
		sizeMiB, workers, tried, len(acked), full, other, others, len(staging), objects, partial)
	c.add(check+": the node keeps serving", lost == 0 && corrupt == 0 && pay5xx == 0 && health == 200,
		"%d acknowledged files, %d lost; payments on the full disk: %d taken and read back (%d corrupt), %d refused, %d answered 5xx other than 507; healthz %d",
		len(acked), lost, paid, corrupt, payRefused, pay5xx, health)
	return nil
}
