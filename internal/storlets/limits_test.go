package storlets_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// Every body over its limit is a 413 in the face's error format, whatever
// the endpoint and the framing.
func TestOversizedBodies(t *testing.T) {
	nd := testnet.New(t, 1, withCache, func(_ int, c *testnet.Setup) {
		c.Sandbox.MaxModule = 1 << 10
		c.DDS.MaxFileSize = 1 << 10 // dependencies share the node's one size limit
	}).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	acct := account(t, nd, nd.UserToken)
	st := must(admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("big"), Language: ptr("wasm")}))(t)
	dep := must(admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("bigdep"), Version: ptr("1.0")}))(t)
	big := strings.Repeat("x", 80<<10)
	multipart := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m\"\r\n\r\n" + big + "\r\n--b--\r\n"
	for _, c := range []struct {
		method, path string
		body         string
		hdr          []string
	}{
		{"POST", "/storlets", `{"name":"` + big + `"}`, nil},
		{"PUT", "/storlets/" + strconv.FormatInt(int64(st.ID), 10), `{"name":"` + big + `"}`, nil},
		{"PUT", "/storlets/" + acct + "/deploy/" + strconv.FormatInt(int64(st.ID), 10), `{"params":"` + big + `"}`, nil},
		{"PUT", "/storlets/" + strconv.FormatInt(int64(st.ID), 10) + "/data", big, nil},
		{"POST", "/storlets/" + strconv.FormatInt(int64(st.ID), 10) + "/data", multipart, []string{"Content-Type", "multipart/form-data; boundary=b"}},
		{"PUT", "/storlets/dependencies/" + strconv.FormatInt(int64(dep.ID), 10) + "/data", big, nil},
		{"POST", "/storlets/dependencies/" + strconv.FormatInt(int64(dep.ID), 10) + "/data", multipart, []string{"Content-Type", "multipart/form-data; boundary=b"}},
	} {
		r := raw(t, admin, c.method, c.path, c.body, c.hdr...)
		if r.status != 413 || r.errCode(t) != "too_large" {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}
