package storlets_test

import (
	"context"
	"crypto/sha3"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// Deployed storlets run on DEP-7 asset reads too, and X-Run-Storlet on an
// asset upload stores the transformed bytes (the content hash is checked on
// what is stored).
func TestStorletsOnAssets(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := nd.Admin()
	alice := nd.UserToken
	// The DEP-7 calls are raw: their token scheme is "token".
	dep7 := nd.Client("")
	auth := []string{"Authorization", "token " + alice}
	register := func(content string) string {
		sum := sha3.Sum256([]byte(content))
		var id string
		want(t, dep7, 200, "POST", "/api/v1/meta/data", `{"name":"t.csv","contentType":"text/csv","contentHash":"`+hex.EncodeToString(sum[:])+`"}`, auth...).json(t, &id)
		return id
	}

	plain := register(csvData)
	want(t, dep7, 201, "PUT", "/api/v1/assets/"+plain, csvData, auth...)
	up := addStorlet(t, admin, "upper", "")
	must(admin.Storlets().Deploy(context.Background(), account(t, nd, alice), up.ID, ""))(t)

	// Any reader of Alice's asset (public, so that another may read it) sees
	// it through Alice's storlets.
	want(t, dep7, 200, "PUT", "/api/v1/meta/access/"+plain, `{"access":"public"}`, auth...)
	r := want(t, dep7, 200, "GET", "/api/v1/assets/"+plain, nil, "Authorization", "token "+nd.NewUser(t))
	if string(r.body) != strings.ToUpper(csvData) || r.header.Get("ETag") != "" || r.header.Get("Content-Type") != "text/csv" {
		t.Fatalf("filtered asset read: %q %v", r.body, r.header)
	}
	want(t, dep7, 400, "GET", "/api/v1/assets/"+plain, nil, append(auth, "Range", "bytes=0-3")...)

	// An upload through "upper": the registered hash is that of the stored
	// (upper-cased) bytes.
	upper := register(strings.ToUpper("hello assets"))
	want(t, dep7, 201, "PUT", "/api/v1/assets/"+upper, "hello assets", append(auth, "X-Run-Storlet", "upper")...)
	// Without the storlet the same bytes do not match the registration.
	other := register(strings.ToUpper("hello again"))
	want(t, dep7, 400, "PUT", "/api/v1/assets/"+other, "hello again", auth...)
}
