package persist

import (
	"context"
	"time"

	"github.com/prometheus-dds/dds/internal/lease"
	"github.com/prometheus-dds/dds/internal/store"
)

// Leases keeps the leases of a node's processes (lease.Store). Times are
// Unix nanoseconds, compared as integers.
type Leases struct{ db *store.DB }

func NewLeases(db *store.DB) *Leases { return &Leases{db: db} }

var _ lease.Store = (*Leases)(nil)

func (p *Leases) Acquire(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	res, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO leases(name,holder,expires) VALUES(?,?,?)
		ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, expires=excluded.expires
		WHERE leases.holder=excluded.holder OR leases.expires<?`,
		name, holder, until.UnixNano(), now.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (p *Leases) Release(ctx context.Context, name, holder string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `DELETE FROM leases WHERE name=? AND holder=?`, name, holder)
	return err
}
