package network_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/client"
	"github.com/prometheus-dds/dds/internal/testnet"
)

// An owner lists their files through any node, page by page, and cancels an
// upload they did not pay through any node; a paid file cannot be cancelled.
func TestListAndCancelAnywhere(t *testing.T) {
	ctx := context.Background()
	nw := testnet.New(t, 4)
	owner := nw.Nodes[0].UserToken
	var ids []string
	for i := range 3 {
		f, err := nw.Nodes[i].Client(owner).Upload(ctx, "f.bin", bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 1000+i)), client.UploadOptions{Duration: 24 * time.Hour})
		if err != nil {
			// node 0's user token may not have reached node i yet
			waitAccount(t, nw.Nodes[i].Client(owner), "x")
			if f, err = nw.Nodes[i].Client(owner).Upload(ctx, "f.bin", bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 1000+i)), client.UploadOptions{Duration: 24 * time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, f.ID)
		nw.Clock.Advance(time.Second) // distinct creation times: the list is newest first
	}
	paid, _ := nw.Nodes[0].User().Info(ctx, ids[0])
	pay(t, nw.Nodes[0], paid)
	nw.Replicate(t)

	// Node 3 took none of the uploads: it lists all three, newest first, two by two.
	c3 := nw.Nodes[3].Client(owner)
	waitAccount(t, c3, ids[0])
	first, err := c3.Files(ctx, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Files) != 2 || first.Next == "" || first.Files[0].ID != ids[2] || first.Files[1].ID != ids[1] {
		t.Fatalf("first page: %+v", first)
	}
	second, err := c3.Files(ctx, 2, first.Next)
	if err != nil || len(second.Files) != 1 || second.Next != "" || second.Files[0].ID != ids[0] || second.Files[0].State != "stored" {
		t.Fatalf("second page: %+v %v", second, err)
	}
	// Another user sees none of them.
	if page, err := nw.Nodes[3].User().Files(ctx, 0, ""); err != nil || len(page.Files) != 0 || page.Next != "" {
		t.Fatalf("another user's list: %+v %v", page, err)
	}

	// Cancel the pending upload taken by node 1, through node 3.
	if err := c3.Cancel(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if f, err := nw.Nodes[1].Client(owner).Info(ctx, ids[1]); err != nil || f.State != "cancelled" {
		t.Fatalf("after cancel: %+v %v", f, err)
	}
	for _, c := range []struct {
		who  *client.Client
		id   string
		want int
	}{
		{c3, ids[0], http.StatusConflict},                 // paid
		{c3, ids[1], http.StatusConflict},                 // cancelled already
		{nw.Nodes[1].User(), ids[2], http.StatusNotFound}, // not the owner
		{c3, "no-such-file", http.StatusNotFound},
	} {
		err := c.who.Cancel(ctx, c.id)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != c.want {
			t.Errorf("cancel %s: %v, want %d", c.id, err, c.want)
		}
	}
	if _, err := c3.Files(ctx, 1000, ""); err == nil {
		t.Error("a page of 1000 was accepted")
	}
	// A cursor that names no file of the caller's.
	for _, after := range []string{"no-such-file", ids[0]} {
		var e *client.Error
		if _, err := nw.Nodes[3].User().Files(ctx, 2, after); !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("page[after]=%s: %v, want 400", after, err)
		}
	}
}
