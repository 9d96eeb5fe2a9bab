package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/node"
)

// openAccounts opens the accounts of a node's data directory and metadata
// database, which may be in use by a running node (both backends let both
// write).
func openAccounts(ctx context.Context, data, meta string) (*auth.Service, func(), error) {
	return node.OpenAccounts(ctx, data, meta)
}

const metaUsage = "metadata database of the node: a postgres:// URL, or empty for DATA/meta.db (SQLite)"

// account returns the account called name, creating it with role. An empty
// name always creates a new account. strictRole refuses an existing account
// of another role.
func account(ctx context.Context, a *auth.Service, name string, role auth.Role, strictRole bool) (auth.Principal, error) {
	if name == "" {
		return a.CreatePrincipal(ctx, "", role)
	}
	p, err := a.Principal(ctx, name)
	switch {
	case errors.Is(err, auth.ErrNoPrincipal):
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
