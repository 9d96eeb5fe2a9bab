package safehttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	g := &Guard{}
	for _, a := range []string{"127.0.0.1", "127.9.9.9", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"169.254.169.254", "169.254.1.1", "fe80::1", "fc00::1", "fd12::1", "0.0.0.0", "::", "224.0.0.1",
		"ff02::1", "100.64.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "255.255.255.255", "64:ff9b::a00:1"} {
		if err := g.Check(netip.MustParseAddr(a)); err == nil || !Refused(err) {
			t.Errorf("%s allowed", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	lo := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if lo.Check(netip.MustParseAddr("127.0.0.1")) != nil || lo.Check(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Error("allow list not applied exactly")
	}
	all := &Guard{Allow: AllowAll}
	if all.Check(netip.MustParseAddr("169.254.169.254")) != nil || all.Check(netip.MustParseAddr("::1")) != nil {
		t.Error("AllowAll does not allow everything")
	}
}

func TestClient(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	defer redirect.Close()

	// Without the operator's allowance, loopback is refused.
	if _, err := (&Guard{}).Client(5).Get(target.URL); !Refused(err) {
		t.Fatalf("loopback fetched without allowance: %v", err)
	}
	// Private and metadata addresses are refused before connecting: the
	// guard runs before connect(2), so no packet leaves.
	for _, u := range []string{"http://10.0.0.1:9/", "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]:9/"} {
		if _, err := (&Guard{}).Client(5).Get(u); !Refused(err) {
			t.Fatalf("%s: %v", u, err)
		}
	}
	// With loopback allowed, it is fetched; a redirect from there to a
	// private address is checked again and refused.
	lo := (&Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}).Client(5)
	resp, err := lo.Get(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("got %q", b)
	}
	if _, err := lo.Get(redirect.URL + "/?to=http://10.1.2.3:9/x"); !Refused(err) {
		t.Fatalf("redirect to a private address followed: %v", err)
	}
	if resp, err := lo.Get(redirect.URL + "/?to=" + target.URL); err != nil {
		t.Fatalf("allowed redirect: %v", err)
	} else {
		resp.Body.Close()
	}
	if _, err := lo.Get(redirect.URL + "/?to=file:///etc/passwd"); err == nil {
		t.Fatal("redirect to file: followed")
	}
}
