package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/node"
	"github.com/prometheus-dds/dds/internal/store"
)

// openAccounts opens the accounts of a node's data directory, which may be in
// use by a running node (SQLite lets both write).
func openAccounts(ctx context.Context, data string) (a *auth.Service, closeFn func(), err error) {
	if err := os.MkdirAll(data, 0o700); err != nil { // before the node's first start is fine
		return nil, nil, err
	}
	db, err := node.OpenDB(data)
	if err != nil {
		return nil, nil, err
	}
	key, _, err := identity.LoadOrCreate(filepath.Join(data, "node.key"))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if a, err = node.OpenAuth(ctx, data, db, clock.Real{}, key); err != nil {
		db.Close()
		return nil, nil, err
	}
	return a, func() { db.Close() }, nil
}

// account returns the account called name, creating it with role. An empty
// name always creates a new account. strictRole refuses an existing account
// of another role.
func account(ctx context.Context, a *auth.Service, name string, role auth.Role, strictRole bool) (auth.Principal, error) {
	if name == "" {
		return a.CreatePrincipal(ctx, "", role)
	}
	p, err := a.Principal(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return a.CreatePrincipal(ctx, name, role)
	case err != nil:
		return p, err
	case p.Name != name:
		return p, fmt.Errorf("%q is the id of account %q; give its name", name, p.Name)
	case p.Role != role && strictRole:
		return p, fmt.Errorf("account %q exists with role %s, not %s", name, p.Role, role)
	}
	return p, nil
}
