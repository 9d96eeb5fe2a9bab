package pgp

import (
	"bytes"
	"github.com/prometheus-dds/dds/internal/testtool"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyPersistsAndSigns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.asc")
	k, created, err := LoadOrCreate(path, "test node", time.Now())
	if err != nil || !created {
		t.Fatal(err, created)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreate(path, "test node", time.Now())
	if err != nil || created || k2.Fingerprint() != k.Fingerprint() {
		t.Fatal("the key did not persist", err, created)
	}
	now := time.Now()
	text := []byte("deal:\n  order: Created\n  sum: 0.00001 tBTC\n")
	signed, err := k.ClearSign(text, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed, []byte("Hash: SHA512")) {
		t.Errorf("not SHA-512:\n%s", signed)
	}
	v, err := Verify(signed, k2.Keyring(), now)
	if err != nil || !bytes.Equal(bytes.TrimRight(v.Text, "\n"), bytes.TrimRight(text, "\n")) || v.Fingerprint != k.Fingerprint() {
		t.Fatalf("verify: %v %q", err, v.Text)
	}
	tampered := bytes.Replace(signed, []byte("0.00001"), []byte("0.00002"), 1)
	if _, err := Verify(tampered, k.Keyring(), now); err == nil {
		t.Error("a tampered text verified")
	}
	other, _, _ := LoadOrCreate(filepath.Join(dir, "other.asc"), "other", time.Now())
	if _, err := Verify(signed, other.Keyring(), now); err == nil {
		t.Error("verified with the wrong key")
	}
	if err := ParsePublicKey(string(k.PublicKey())); err != nil {
		t.Error(err)
	}
}

// GnuPG, a stock OpenPGP implementation, accepts the clear-signed answers.
func TestGnuPGVerifies(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		testtool.Missing(t, "gpg", "apt-get install gnupg")
	}
	dir := t.TempDir()
	k, _, err := LoadOrCreate(filepath.Join(dir, "k.asc"), "gpg test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := k.ClearSign([]byte("deal:\n  order: Paid\n"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "gnupg")
	os.Mkdir(home, 0o700)
	run := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--no-tty", "--status-fd", "1"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(k.PublicKey(), "--import"); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	out, err := run(signed, "--verify")
	if err != nil || !strings.Contains(out, "GOODSIG") || !strings.Contains(out, "VALIDSIG "+k.Fingerprint()) {
		t.Fatalf("gpg --verify: %v\n%s", err, out)
	}
	out, err = run(bytes.Replace(signed, []byte("Paid"), []byte("Lost"), 1), "--verify")
	if err == nil || strings.Contains(out, "GOODSIG") {
		t.Fatalf("gpg accepted a tampered text:\n%s", out)
	}
}

func BenchmarkClearSign(b *testing.B) {
	k, _, err := LoadOrCreate(filepath.Join(b.TempDir(), "k.asc"), "bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	text := bytes.Repeat([]byte("deal:\n  order: Created\n  type: Prepaid\n"), 16)
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		if _, err := k.ClearSign(text, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
