package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// Two real `dds serve --shared` processes on one PostgreSQL database and
// one MinIO bucket, behind one address, are one node: one key, any process
// answers any request, each piece of background work runs in one of them;
// a kill -9 of one mid-upload loses nothing acknowledged and leaves no
// object in the bucket that no row refers to.
func TestTwoProcessesOnPostgresAndS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real processes: not with -short")
	}
	meta := testtool.Postgres(t)
	bucket := testtool.S3(t) // also sets the AWS credentials the processes inherit
	ctx := context.Background()

	lb := testtool.NewBalancer(t)
	start := func(data, addr string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "serve", "--shared", "--lease-ttl", "2s", "--meta", meta, "--blobs", bucket.Blobs,
			"--data", data, "--listen", addr, "--public-url", lb.URL, "--log-level", "warn")
		cmd.Env = os.Environ()
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("process at %s:\n%s", addr, logs.String())
			}
		})
		waitHealthy(t, "http://"+addr)
		return cmd
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	addrA, addrB := freePort(t), freePort(t)
	procA := start(dirA, addrA)
	start(dirB, addrB) // an empty data directory: it takes the node's keys from the database
	lb.Set(addrA, addrB)
	if a, b := helloID(t, addrA), helloID(t, addrB); a == "" || a != b {
		t.Fatalf("two processes, ids %q and %q: want one node", a, b)
	}

	admin := client.New(lb.URL, strings.TrimSpace(string(must(os.ReadFile(filepath.Join(dirA, "admin.token"))))))
	token := func(role string) string {
		acct, err := admin.CreateAccount(ctx, role+"-1", role)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreateToken(ctx, acct.ID, "shared test")
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	user, payer := token("user"), token("payment")
	a, b := client.New("http://"+addrA, user), client.New("http://"+addrB, user)

	// Upload and pay through A; read and extend through B.
	content := make([]byte, 3<<20)
	rand.Read(content)
	f, err := a.Upload(ctx, "shared.bin", bytes.NewReader(content), client.UploadOptions{Duration: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New("http://"+addrA, payer).Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: f.Quote.Price}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download through B: %v", err)
	}
	ext, err := b.Extend(ctx, f.ID, 30*24*time.Hour, nil)
	if err != nil || !ext.PaymentRequired {
		t.Fatalf("extend through B: %+v %v", ext, err)
	}
	if _, err := client.New("http://"+addrB, payer).Pay(ctx, api.PaymentRequest{FileID: f.ID, Status: "success", Amount: ext.Quote.Price}); err != nil {
		t.Fatal(err)
	}
	leases := func(addr string) map[string]int {
		return leaseGauges(t, "http://"+addr, admin.Token)
	}
	waitFor(t, "each lease held by one process", func() bool {
		la, lb := leases(addrA), leases(addrB)
		if len(la) == 0 {
			return false
		}
		for name := range la {
			if la[name]+lb[name] != 1 {
				return false
			}
		}
		return true
	})

	// kill -9 A in the middle of a large upload to it.
	slow, stall := io.Pipe()
	go func() {
		chunk := make([]byte, 1<<20)
		for i := 0; i < 12; i++ {
			rand.Read(chunk)
			if _, err := stall.Write(chunk); err != nil {
				return
			}
		}
		// then nothing more: the upload is in flight when A dies
	}()
	upErr := make(chan error, 1)
	go func() {
		_, err := a.Upload(ctx, "cut.bin", slow, client.UploadOptions{Duration: 24 * time.Hour})
		upErr <- err
	}()
	time.Sleep(time.Second)
	lb.Set(addrB)
	procA.Process.Signal(syscall.SIGKILL)
	procA.Wait()
	stall.Close()
	if err := <-upErr; err == nil {
		t.Fatal("an upload cut by kill -9 was acknowledged")
	}

	// B carries on: it takes every lease, and serves everything acknowledged.
	waitFor(t, "B holds every lease", func() bool {
		lb := leases(addrB)
		for _, held := range lb {
			if held != 1 {
				return false
			}
		}
		return len(lb) > 0
	})
	buf.Reset()
	if _, err := client.New(lb.URL, user).Download(ctx, f.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download after A died: %v", err)
	}
	info, err := b.Info(ctx, f.ID)
	if err != nil || info.State != "stored" {
		t.Fatalf("info after A died: %+v %v", info, err)
	}

	// Every stored object in the bucket is referenced; the cut upload is at
	// most an unfinished multipart upload, which a sweep removes once older
	// than the grace period (another process may still be sending it).
	db, err := sql.Open("pgx", meta)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	referenced := map[string]bool{}
	rows, err := db.Query(`SELECT location FROM blobs WHERE refs > 0`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var loc string
		rows.Scan(&loc)
		referenced[loc] = true
	}
	rows.Close()
	for o := range bucket.Client.ListObjects(ctx, bucket.Name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if !referenced[o.Key] {
			t.Errorf("object %s in the bucket: no row refers to it", o.Key)
		}
	}
	unfinished := 0
	for u := range bucket.Client.ListIncompleteUploads(ctx, bucket.Name, "", true) {
		if u.Err == nil {
			unfinished++
		}
	}
	if unfinished > 1 {
		t.Errorf("%d unfinished uploads in the bucket; want at most the one cut by the kill", unfinished)
	}
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	waitFor(t, url+" healthy", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 60 s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func helloID(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/internal/v1/hello")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&h)
	return h.ID
}

// leaseGauges reads dds_lease_held from a process's metrics.
func leaseGauges(t *testing.T, url, adminToken string) map[string]int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `dds_lease_held{lease="`)
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(rest, `"} `)
		out[name] = 0
		if value == "1" {
			out[name] = 1
		}
	}
	return out
}
