package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/client"
)

// storletHeader is the dependency the prefix storlet writes before each
// object it reads: a read through the storlet is header + content.
var storletHeader = []byte("chaos: read through the prefix storlet\n")

// buildStorlets builds the example storlets of the storlets tests (one
// WASI program that runs the storlet named by argv[0]).
func (c *campaign) buildStorlets() error {
	c.wasm = filepath.Join(c.work, "examples.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", c.wasm, "./internal/storlets/testdata/examples")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the example storlets: %v\n%s", err, out)
	}
	return nil
}

// deployStorlet registers the prefix storlet and its dependency on n and
// deploys both to the user's account, so that every read of the user's
// files runs the storlet. It returns the sha256 of the blobs it stored
// (the module and the dependency).
func (c *campaign) deployStorlet(n *node) ([][32]byte, error) {
	ctx := context.Background()
	admin := client.New(n.url, n.admin)
	me, err := n.user.Account(ctx, "me")
	if err != nil {
		return nil, err
	}
	module, err := os.ReadFile(c.wasm)
	if err != nil {
		return nil, err
	}
	ptr := func(s string) *string { return &s }
	dep, err := admin.Dependencies().Create(ctx, api.StorletDependencyMeta{Name: ptr("header.txt"), Version: ptr("1")})
	if err != nil {
		return nil, fmt.Errorf("creating the dependency: %w", err)
	}
	if _, err := admin.Dependencies().Upload(ctx, dep.ID, bytes.NewReader(storletHeader)); err != nil {
		return nil, fmt.Errorf("uploading the dependency: %w", err)
	}
	if _, err := admin.Dependencies().Deploy(ctx, me.ID, dep.ID, ""); err != nil {
		return nil, fmt.Errorf("deploying the dependency: %w", err)
	}
	st, err := admin.Storlets().Create(ctx, api.StorletMeta{Name: ptr("prefix"), Language: ptr("wasm"), InterfaceVersion: ptr("1.0"),
		Dependency: ptr("header.txt"), ObjectMetadata: ptr("no"), Main: ptr("_start")})
	if err != nil {
		return nil, fmt.Errorf("creating the storlet: %w", err)
	}
	if _, err := admin.Storlets().Upload(ctx, st.ID, bytes.NewReader(module)); err != nil {
		return nil, fmt.Errorf("uploading the storlet: %w", err)
	}
	if _, err := admin.Storlets().Deploy(ctx, me.ID, st.ID, ""); err != nil {
		return nil, fmt.Errorf("deploying the storlet: %w", err)
	}
	return [][32]byte{sha256.Sum256(module), sha256.Sum256(storletHeader)}, nil
}

// storletDeployed tells whether the prefix storlet is still deployed to the
// user's account (after a restart).
func storletDeployed(n *node) bool {
	ctx := context.Background()
	me, err := n.user.Account(ctx, "me")
	if err != nil {
		return false
	}
	list, err := client.New(n.url, n.admin).Storlets().Deployed(ctx, me.ID)
	return err == nil && slices.ContainsFunc(list, func(s api.Storlet) bool { return s.Name == "prefix" })
}

// readHash is the sha256 of a read of content through the prefix storlet.
func readHash(content []byte) [32]byte {
	h := sha256.New()
	h.Write(storletHeader)
	h.Write(content)
	return [32]byte(h.Sum(nil))
}
