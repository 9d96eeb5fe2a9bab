package persist

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus-dds/dds/internal/network"
	"github.com/prometheus-dds/dds/internal/store"
)

// Network keeps the network's replication acknowledgements and audits
// (network.Store).
type Network struct{ db *store.DB }

func NewNetwork(db *store.DB) *Network { return &Network{db: db} }

func (p *Network) AfterCommit(ctx context.Context, f func()) { store.AfterCommit(ctx, f) }

var _ network.Store = (*Network)(nil)

func (p *Network) Acked(ctx context.Context, fileID, node string) (string, error) {
	var digest string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT digest FROM record_acks WHERE file_id=? AND node_id=?`, fileID, node).Scan(&digest)
	if errors.Is(store.NotFound(err), store.ErrNotFound) {
		return "", nil
	}
	return digest, err
}

func (p *Network) Ack(ctx context.Context, fileID, node, version string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO record_acks(file_id,node_id,digest) VALUES(?,?,?)
		ON CONFLICT(file_id,node_id) DO UPDATE SET digest=excluded.digest`, fileID, node, version)
	return err
}

func (p *Network) RecordAudit(ctx context.Context, fileID, node string, a network.Audit) error {
	passed, result := 0, "failed"
	if a.Passed {
		passed, result = 1, "passed"
	}
	return p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `INSERT INTO audits(file_id,node_id,at,leaf,passed,detail) VALUES(?,?,?,?,?,?)
			ON CONFLICT(file_id,node_id) DO UPDATE SET at=excluded.at, leaf=excluded.leaf, passed=excluded.passed, detail=excluded.detail`,
			fileID, node, store.Time(a.At), a.Leaf, passed, a.Detail); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO audit_counts(result,count) VALUES(?,1) ON CONFLICT(result) DO UPDATE SET count=audit_counts.count+1`, result)
		return err
	})
}

func (p *Network) Audits(ctx context.Context) ([]network.CopyAudit, error) {
	return queryAll(ctx, p.db.Q(ctx), func(r scanner) (network.CopyAudit, error) {
		var c network.CopyAudit
		var at string
		var passed int
		err := r.Scan(&c.FileID, &c.Node, &at, &c.Audit.Leaf, &passed, &c.Audit.Detail)
		c.Audit.At, c.Audit.Passed = store.ParseTime(at), passed == 1
		return c, err
	}, `SELECT file_id,node_id,at,leaf,passed,detail FROM audits`)
}

func (p *Network) AuditCursor(ctx context.Context) (string, error) {
	var after string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT after_id FROM audit_cursor WHERE id=1`).Scan(&after)
	if errors.Is(store.NotFound(err), store.ErrNotFound) {
		return "", nil
	}
	return after, err
}

func (p *Network) SetAuditCursor(ctx context.Context, fileID string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO audit_cursor(id,after_id) VALUES(1,?)
		ON CONFLICT(id) DO UPDATE SET after_id=excluded.after_id`, fileID)
	return err
}

func (p *Network) AuditCounts(ctx context.Context) (map[string]int64, error) {
	return byLabel(ctx, p.db.Q(ctx), `SELECT result,count FROM audit_counts`)
}

func (p *Network) UseNonce(ctx context.Context, node, nonce string, expires time.Time) (bool, error) {
	res, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO request_nonces(node_id,nonce,expires) VALUES(?,?,?)
		ON CONFLICT(node_id,nonce) DO NOTHING`, node, nonce, expires.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (p *Network) SweepNonces(ctx context.Context, now time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `DELETE FROM request_nonces WHERE expires<?`, now.UnixNano())
	return err
}

func (p *Network) Wake(ctx context.Context, fileID string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO replication_wakes(file_id) VALUES(?) ON CONFLICT(file_id) DO NOTHING`, fileID)
	return err
}

// Woken reads before it deletes, so that the polls that find nothing, nearly
// all of them, write nothing.
func (p *Network) Woken(ctx context.Context) (bool, error) {
	q := p.db.Q(ctx)
	var fileID string
	err := q.QueryRowContext(ctx, `SELECT file_id FROM replication_wakes LIMIT 1`).Scan(&fileID)
	if errors.Is(store.NotFound(err), store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	// An ask made since the read is forgotten too: the pass that follows
	// comes after its payment.
	_, err = q.ExecContext(ctx, `DELETE FROM replication_wakes`)
	return err == nil, err
}
