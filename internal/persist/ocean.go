package persist

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/store"
)

// Ocean keeps the Ocean provider's records: nonces, revoked auth tokens,
// registered DDOs and those read from the chains.
type Ocean struct{ db *store.DB }

// NewOcean returns the provider's Store on db.
func NewOcean(db *store.DB) *Ocean { return &Ocean{db: db} }

var _ ocean.Store = (*Ocean)(nil)

func (p *Ocean) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return p.db.InTx(ctx, fn)
}

func (p *Ocean) SerialWrites() bool { return p.db.Dialect() == store.SQLite }

func (p *Ocean) Nonce(ctx context.Context, address string) (string, bool, error) {
	var n string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT nonce FROM provider_nonces WHERE address=?`, address).Scan(&n)
	if oceanNoRows(err) {
		return "", false, nil
	}
	return n, err == nil, err
}

func (p *Ocean) SetNonce(ctx context.Context, address, nonce string, at time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO provider_nonces(address,nonce,updated_at) VALUES(?,?,?)
		ON CONFLICT(address) DO UPDATE SET nonce=excluded.nonce, updated_at=excluded.updated_at`,
		address, nonce, store.Time(at))
	return err
}

func (p *Ocean) RevokeToken(ctx context.Context, hash string, expires, now time.Time) (bool, error) {
	q := p.db.Q(ctx)
	// Expired tokens are refused anyway: their revocations can go.
	if _, err := q.ExecContext(ctx, `DELETE FROM provider_revoked_tokens WHERE expires_at<?`, store.Time(now)); err != nil {
		return false, err
	}
	res, err := q.ExecContext(ctx, `INSERT INTO provider_revoked_tokens(token_hash,expires_at) VALUES(?,?) ON CONFLICT DO NOTHING`,
		hash, store.Time(expires))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (p *Ocean) TokenRevoked(ctx context.Context, hash string) (bool, error) {
	var one int
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT 1 FROM provider_revoked_tokens WHERE token_hash=?`, hash).Scan(&one)
	if oceanNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

func (p *Ocean) DDO(ctx context.Context, did string) (ocean.StoredDDO, error) {
	d := ocean.StoredDDO{DID: did}
	var doc, created string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT doc, owner_id, created_at FROM provider_ddos WHERE did=?`, did).Scan(&doc, &d.Owner, &created)
	if oceanNoRows(err) {
		return d, ocean.ErrNotFound
	}
	d.Doc, d.Created = []byte(doc), store.ParseTime(created)
	return d, err
}

func (p *Ocean) AddDDO(ctx context.Context, d ocean.StoredDDO) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO provider_ddos(did,owner_id,doc,created_at) VALUES(?,?,?,?)`,
		d.DID, d.Owner, string(d.Doc), store.Time(d.Created))
	if store.IsConflict(err) {
		return ocean.ErrExists
	}
	return err
}

func (p *Ocean) DeleteDDO(ctx context.Context, did string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `DELETE FROM provider_ddos WHERE did=?`, did)
	return err
}

func (p *Ocean) DDOs(ctx context.Context, offset, limit int) (int, [][]byte, error) {
	q := p.db.Q(ctx)
	var total int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM provider_ddos`).Scan(&total); err != nil {
		return 0, nil, err
	}
	docs, err := queryAll(ctx, q, func(r scanner) ([]byte, error) {
		var doc string
		err := r.Scan(&doc)
		return []byte(doc), err
	}, `SELECT doc FROM provider_ddos ORDER BY created_at, did LIMIT ? OFFSET ?`, limit, offset)
	return total, docs, err
}

func (p *Ocean) ChainDDO(ctx context.Context, chainID int64, did string) ([]byte, uint8, error) {
	var doc string
	var state uint8
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT doc, state FROM provider_chain_ddos WHERE chain_id=? AND did=?`, chainID, did).Scan(&doc, &state)
	if oceanNoRows(err) {
		return nil, 0, ocean.ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return []byte(doc), state, nil
}

func (p *Ocean) PutChainDDO(ctx context.Context, chainID int64, did string, doc []byte, state uint8) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO provider_chain_ddos(chain_id,did,doc,state) VALUES(?,?,?,?)
		ON CONFLICT(chain_id,did) DO UPDATE SET doc=excluded.doc, state=excluded.state`, chainID, did, string(doc), state)
	return err
}

func (p *Ocean) SetChainDDOState(ctx context.Context, chainID int64, did string, state uint8) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE provider_chain_ddos SET state=? WHERE chain_id=? AND did=?`, state, chainID, did)
	return err
}

func (p *Ocean) DropChainDDO(ctx context.Context, chainID int64, did string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `DELETE FROM provider_chain_ddos WHERE chain_id=? AND did=?`, chainID, did)
	return err
}

func (p *Ocean) ChainScanNext(ctx context.Context, chainID int64) (uint64, error) {
	var next uint64
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT next_block FROM provider_chain_scans WHERE chain_id=?`, chainID).Scan(&next)
	if oceanNoRows(err) {
		return 0, nil
	}
	return next, err
}

func (p *Ocean) SetChainScanNext(ctx context.Context, chainID int64, next uint64) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO provider_chain_scans(chain_id,next_block) VALUES(?,?)
		ON CONFLICT(chain_id) DO UPDATE SET next_block=excluded.next_block`, chainID, next)
	return err
}

// oceanNoRows tells whether err is a lookup that found no row.
func oceanNoRows(err error) bool { return errors.Is(store.NotFound(err), store.ErrNotFound) }
