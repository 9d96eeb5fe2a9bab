package storlets_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// TestKindErrorMessages pins the exact error bodies storlets and
// dependencies answer on the paths they share code for, so that each kind
// keeps its own wording.
func TestKindErrorMessages(t *testing.T) {
	nd := testnet.New(t, 1, withCache).Nodes[0]
	ctx := context.Background()
	admin := nd.Admin()
	acct := account(t, nd, nd.UserToken)

	st := must(admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("bare")}))(t)
	d := must(admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("dep.txt"), Version: ptr("1")}))(t)

	body := func(code, msg string) string {
		return fmt.Sprintf("{\"error\":%q,\"message\":%q}\n", code, msg)
	}
	check := func(status int, method, path, wantBody string) {
		t.Helper()
		if r := want(t, admin, status, method, path, nil); string(r.body) != wantBody {
			t.Fatalf("%s %s:\n got %s\nwant %s", method, path, r.body, wantBody)
		}
	}
	for _, k := range []struct {
		noun, root string
		id         int64
		upload     string
	}{
		{"storlet", "/storlets", st.ID, "its module"},
		{"dependency", "/storlets/dependencies", d.ID, "it"},
	} {
		id := k.id
		check(404, "GET", fmt.Sprintf("%s/%d", k.root, id+100), body("not_found", fmt.Sprintf("no %s %d", k.noun, id+100)))
		check(404, "GET", k.root+"/x1", body("not_found", fmt.Sprintf("no %s %q (ids are positive integers)", k.noun, "x1")))
		check(404, "PUT", fmt.Sprintf("%s/%s/deploy/x1", k.root, acct), body("not_found", fmt.Sprintf("no %s %q (ids are positive integers)", k.noun, "x1")))
		check(409, "PUT", fmt.Sprintf("%s/%s/deploy/%d", k.root, acct, id),
			body("no_data", fmt.Sprintf("%s %d has no data yet; upload %s first (PUT %s/%d/data)", k.noun, id, k.upload, k.root, id)))
		check(404, "PUT", fmt.Sprintf("%s/%s/undeploy/%d", k.root, acct, id),
			body("not_found", fmt.Sprintf("%s %d is not deployed to account %s", k.noun, id, acct)))
	}

	// Deployed, neither can be deleted.
	must(admin.Storlets().Upload(ctx, st.ID, bytes.NewReader(examplesModule(t))))(t)
	must(admin.Dependencies().Upload(ctx, d.ID, strings.NewReader("x")))(t)
	must(admin.Storlets().Deploy(ctx, acct, st.ID, ""))(t)
	must(admin.Dependencies().Deploy(ctx, acct, d.ID, ""))(t)
	check(409, "DELETE", fmt.Sprintf("/storlets/%d", st.ID),
		body("deployed", fmt.Sprintf("storlet %d is deployed to %s; undeploy it first (PUT /storlets/<account>/undeploy/%d)", st.ID, acct, st.ID)))
	check(409, "DELETE", fmt.Sprintf("/dependencies/%d", d.ID),
		body("deployed", fmt.Sprintf("dependency %d is deployed to %s; undeploy it first (PUT /storlets/dependencies/<account>/undeploy/%d)", d.ID, acct, d.ID)))
}
