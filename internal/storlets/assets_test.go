package storlets_test

import (
	"crypto/sha3"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// Deployed storlets run on DEP-7 asset reads too, and X-Run-Storlet on an
// asset upload stores the transformed bytes (the content hash is checked on
// what is stored).
func TestStorletsOnAssets(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	admin := api{t: t, url: nd.URL(), token: nd.AdminToken}
	alice := nd.UserToken
	dep7 := api{t: t, url: nd.URL()}
	auth := []string{"Authorization", "token " + alice}
	register := func(content string) string {
		sum := sha3.Sum256([]byte(content))
		var id string
		dep7.want(200, "POST", "/api/v1/meta/data", `{"name":"t.csv","contentType":"text/csv","contentHash":"`+hex.EncodeToString(sum[:])+`"}`, auth...).json(t, &id)
		return id
	}

	plain := register(csvData)
	dep7.want(201, "PUT", "/api/v1/assets/"+plain, csvData, auth...)
	up := addStorlet(t, admin, "upper", nil)
	admin.want(201, "PUT", fmt.Sprintf("/storlets/%s/deploy/%d", account(t, nd, alice), up.ID), nil)

	// Any reader of Alice's asset sees it through Alice's storlets.
	r := dep7.want(200, "GET", "/api/v1/assets/"+plain, nil, "Authorization", "token "+nd.NewUser(t))
	if string(r.body) != strings.ToUpper(csvData) || r.header.Get("ETag") != "" || r.header.Get("Content-Type") != "text/csv" {
		t.Fatalf("filtered asset read: %q %v", r.body, r.header)
	}
	dep7.want(400, "GET", "/api/v1/assets/"+plain, nil, append(auth, "Range", "bytes=0-3")...)

	// An upload through "upper": the registered hash is that of the stored
	// (upper-cased) bytes.
	upper := register(strings.ToUpper("hello assets"))
	dep7.want(201, "PUT", "/api/v1/assets/"+upper, "hello assets", append(auth, "X-Run-Storlet", "upper")...)
	// Without the storlet the same bytes do not match the registration.
	other := register(strings.ToUpper("hello again"))
	dep7.want(400, "PUT", "/api/v1/assets/"+other, "hello again", auth...)
}
