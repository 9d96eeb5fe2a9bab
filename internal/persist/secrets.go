package persist

import (
	"context"

	"github.com/prometheus-dds/dds/internal/store"
)

// Secrets keeps the secrets every process of a node shares (the node's
// secretStore).
type Secrets struct{ db *store.DB }

func NewSecrets(db *store.DB) *Secrets { return &Secrets{db: db} }

// Secret returns the secret name, or store.ErrNotFound.
func (p *Secrets) Secret(ctx context.Context, name string) (string, error) {
	var value string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT value FROM node_secrets WHERE name=?`, name).Scan(&value)
	return value, store.NotFound(err)
}

// PublishSecret stores value as the secret name unless one is stored: the
// first published stays.
func (p *Secrets) PublishSecret(ctx context.Context, name, value string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO node_secrets(name,value) VALUES(?,?) ON CONFLICT(name) DO NOTHING`, name, value)
	return err
}
