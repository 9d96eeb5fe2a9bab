// Package safehttp is an HTTP client for fetching URLs that users name,
// guarded against server-side request forgery: it refuses to connect to
// loopback, private, link-local, unique-local, multicast, unspecified and
// cloud-metadata addresses. The check runs on the address actually dialled
// (after DNS resolution), so it also covers DNS rebinding and every redirect.
package safehttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal of the guard.
var ErrRefused = errors.New("address refused by the SSRF guard")

// Guard decides which addresses may be dialled.
type Guard struct {
	// Allow lists networks the operator allows even though they are
	// private (for example 127.0.0.0/8 for a local file server).
	Allow []netip.Prefix
}

// AllowAll is the Allow list that turns the guard off.
var AllowAll = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

var metadata = netip.MustParseAddr("169.254.169.254")

// cgnat and the other special-purpose IPv4 ranges Go's IsPrivate misses.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach IPv4 private space
}

// Check returns nil if ip may be dialled.
func (g *Guard) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	bad := ""
	switch {
	case ip == metadata:
		bad = "cloud metadata"
	case ip.IsLoopback():
		bad = "loopback"
	case ip.IsPrivate():
		bad = "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		bad = "link-local"
	case ip.IsUnspecified():
		bad = "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		bad = "multicast"
	case !ip.IsGlobalUnicast():
		bad = "non-unicast"
	}
	for _, p := range special {
		if bad == "" && p.Contains(ip) {
			bad = "special-purpose"
		}
	}
	if bad != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrRefused, ip, bad)
	}
	return nil
}

// control runs after DNS resolution, before connect(2): nothing is sent to
// a refused address.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrRefused, address)
	}
	return g.Check(ap.Addr())
}

// Client returns an HTTP client that dials through the guard, never uses a
// proxy (a proxy would dial on our behalf, unchecked), follows at most
// maxRedirects http(s) redirects and gives up on a silent server.
func (g *Guard) Client(maxRedirects int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to a %q URL", ErrRefused, req.URL.Scheme)
			}
			return nil
		},
	}
}

// Refused tells whether err is (or wraps) a refusal of the guard.
func Refused(err error) bool { return errors.Is(err, ErrRefused) }
