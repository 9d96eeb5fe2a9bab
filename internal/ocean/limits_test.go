package ocean_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/ocean"
)

// Every body over its limit is a 413 in the provider's {"error": ...}.
func TestOversizedBodies(t *testing.T) {
	e := newEnv(t)
	params := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, c := range []struct {
		method, path, body string
		hdr                []string
	}{
		{"POST", "/api/services/encrypt?chainId=8996", strings.Repeat("a", ocean.MaxDocument+1), nil},
		{"POST", "/api/services/fileinfo", params, nil},
		{"POST", "/api/services/decrypt", params, nil},
		{"POST", "/api/services/compute", params, nil},
		{"PUT", "/api/services/compute", params, nil},
		{"POST", "/api/services/initializeCompute", params, nil},
		{"POST", "/api/aquarius/assets/ddo", `{"x":"` + strings.Repeat("a", ocean.MaxDDO) + `"}`, []string{"Authorization", "Bearer " + e.nd.UserToken}},
	} {
		st, body, _ := e.do(c.method, c.path, bytes.NewReader([]byte(c.body)), append([]string{"Content-Type", "application/json"}, c.hdr...)...)
		wantError(t, c.method+" "+c.path, st, body, 413, "may not exceed")
	}
}
