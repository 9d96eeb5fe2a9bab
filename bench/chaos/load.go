package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// loadTest runs mixed uploads, payments and downloads from many workers.
func (c *campaign) loadTest(d time.Duration) error {
	n, err := c.newNode("load")
	if err != nil {
		return err
	}
	defer n.stop()
	var mu sync.Mutex
	var lat []time.Duration
	ops, fives, other := 0, 0, 0
	record := func(t0 time.Time, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		ops++
		lat = append(lat, time.Since(t0))
		var ce *client.Error
		switch {
		case err == nil:
			return true
		case errors.As(err, &ce) && ce.Status >= 500:
			fives++
			fmt.Fprintf(os.Stderr, "5xx under load: %v\n", err)
		default:
			other++
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				content := make([]byte, 4<<10+mrand.IntN(60<<10))
				rand.Read(content)
				t0 := time.Now()
				f, err := n.user.Upload(ctx, "load.bin", bytes.NewReader(content), client.UploadOptions{})
				if !record(t0, err) || ctx.Err() != nil {
					continue
				}
				t0 = time.Now()
				_, err = n.payer.Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price})
				if !record(t0, err) || ctx.Err() != nil {
					continue
				}
				t0 = time.Now()
				var b bytes.Buffer
				_, err = n.user.Download(ctx, f.ID, &b)
				if record(t0, err) && !bytes.Equal(b.Bytes(), content) {
					mu.Lock()
					fives++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	rss := n.peakRSS()
	c.add(fmt.Sprintf("%s of mixed load, 16 workers", d), fives == 0 && rss < 1024,
		"%d requests (%.0f/s), %d 5xx, %d other errors (cut by the deadline), p50 %s, p99 %s, peak RSS %.0f MiB",
		ops, float64(ops)/d.Seconds(), fives, other, pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), rss)
	return nil
}
