package assets_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// An asset is private (its owner only) until the owner shares it with named
// principals or makes it public; the lists hold only what the caller may
// read.
func TestAccessRules(t *testing.T) {
	ctx := context.Background()
	nd := testnet.New(t, 1).Nodes[0]
	owner := nd.User()
	bobToken := nd.NewUser(t)
	bob, carol, anon, payer, admin := nd.Client(bobToken), nd.Client(nd.NewUser(t)), nd.Client(""), nd.Payer(), nd.Admin()
	bobP, err := nd.Auth.Authenticate(ctx, bobToken)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("who may read this")
	id := register(t, owner, dataset("rules", "text/plain", content))
	upload(t, owner, id, content)

	reads := func(c *client.Client) error {
		if _, err := c.AssetMetadata(ctx, id); err != nil {
			return err
		}
		var b bytes.Buffer
		if _, err := c.DownloadAsset(ctx, id, &b, client.AssetRead{}); err != nil {
			return err
		}
		if !bytes.Equal(b.Bytes(), content) {
			t.Fatalf("read %q", b.Bytes())
		}
		return nil
	}
	lists := func(c *client.Client) bool {
		ids, err := c.AssetIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		index, err := c.AssetIndex(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, inIndex := index[id]
		if slices.Contains(ids, id) != inIndex {
			t.Fatalf("the id list and the index disagree: %v %v", ids, index)
		}
		return inIndex
	}
	set := func(c *client.Client, a api.AssetAccess) (api.AssetAccess, error) {
		return c.SetAssetAccess(ctx, id, a)
	}

	// Private, the default: the owner only; the admin, the payment
	// processor and other users do not see it at all.
	if got, err := owner.AssetAccess(ctx, id); err != nil || got.Access != "private" {
		t.Fatalf("default access: %+v %v", got, err)
	}
	if err := reads(owner); err != nil || !lists(owner) {
		t.Fatalf("the owner cannot read its asset: %v", err)
	}
	for _, c := range []*client.Client{bob, carol, payer, admin} {
		wantErr(t, reads(c), 404)
		if lists(c) {
			t.Fatal("a private asset is listed to another principal")
		}
	}
	wantErr(t, reads(anon), 401)
	_, err = bob.AssetAccess(ctx, id)
	wantErr(t, err, 404)
	_, err = set(bob, api.AssetAccess{Access: "public"})
	wantErr(t, err, 404)

	// Shared: the principals named, and they only read.
	got, err := set(owner, api.AssetAccess{Access: "shared", Principals: []string{bobP.ID, bobP.ID}})
	if err != nil || got.Access != "shared" || !slices.Equal(got.Principals, []string{bobP.ID}) {
		t.Fatalf("shared: %+v %v", got, err)
	}
	if err := reads(bob); err != nil || !lists(bob) {
		t.Fatalf("bob cannot read what is shared with him: %v", err)
	}
	wantErr(t, reads(carol), 404)
	if lists(carol) {
		t.Fatal("a shared asset is listed to a principal it is not shared with")
	}
	_, err = bob.UploadAsset(ctx, id, bytes.NewReader(content))
	wantErr(t, err, 403)
	_, err = set(bob, api.AssetAccess{Access: "public"})
	wantErr(t, err, 403)

	// Public: anyone, without a token too; still only the owner changes it.
	if _, err := set(owner, api.AssetAccess{Access: "public"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{bob, carol, payer, anon} {
		if err := reads(c); err != nil {
			t.Fatalf("public asset: %v", err)
		}
	}
	if !lists(carol) {
		t.Fatal("a public asset is not listed")
	}
	wantErr(t, carol.DeleteAsset(ctx, id), 403)

	// Back to private: the shares are gone with it.
	if got, err := set(owner, api.AssetAccess{Access: "private"}); err != nil || len(got.Principals) != 0 {
		t.Fatalf("private again: %+v %v", got, err)
	}
	wantErr(t, reads(bob), 404)

	// Malformed access documents.
	for _, a := range []api.AssetAccess{{Access: "everyone"}, {Access: "public", Principals: []string{bobP.ID}}, {Access: "shared", Principals: []string{" "}}} {
		_, err := set(owner, a)
		wantErr(t, err, 400)
	}
	resp, err := raw(t, owner, "PUT", "/api/v1/meta/access/"+id, bytes.NewReader([]byte(`{"access":"public","extra":1}`)))
	if resp != nil {
		io.Copy(io.Discard, resp.Body)
	}
	wantErr(t, err, 400)
}
