package persist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/store"
)

// Auth keeps the principals, their tokens and the log of account events.
type Auth struct{ db *store.DB }

var _ auth.Store = (*Auth)(nil)

// NewAuth returns the principals of db.
func NewAuth(db *store.DB) *Auth {
	return &Auth{db: db}
}

func (a *Auth) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return a.db.InTx(ctx, fn)
}

func authScanPrincipal(r scanner) (auth.Principal, error) {
	var p auth.Principal
	var role, created string
	if err := r.Scan(&p.ID, &p.Name, &role, &created); err != nil {
		return auth.Principal{}, err
	}
	p.Role, p.Created = auth.Role(role), store.ParseTime(created)
	return p, nil
}

// authNotFound maps "no rows" to notFound.
func authNotFound(err, notFound error) error {
	if errors.Is(store.NotFound(err), store.ErrNotFound) {
		return notFound
	}
	return err
}

func (a *Auth) AddPrincipal(ctx context.Context, p auth.Principal) error {
	_, err := a.db.Q(ctx).ExecContext(ctx, `INSERT INTO principals(id,name,role,created_at) VALUES(?,?,?,?) ON CONFLICT(id) DO NOTHING`,
		p.ID, p.Name, string(p.Role), store.Time(p.Created))
	if store.IsConflict(err) {
		return auth.ErrNameTaken
	}
	return err
}

func (a *Auth) Principal(ctx context.Context, idOrName string) (auth.Principal, error) {
	p, err := authScanPrincipal(a.db.Q(ctx).QueryRowContext(ctx, `SELECT id,name,role,created_at FROM principals WHERE id=? OR name=? ORDER BY id=? DESC LIMIT 1`,
		idOrName, idOrName, idOrName))
	return p, authNotFound(err, auth.ErrNoPrincipal)
}

func (a *Auth) PrincipalRole(ctx context.Context, id string) (auth.Role, error) {
	var role string
	err := a.db.Q(ctx).QueryRowContext(ctx, `SELECT role FROM principals WHERE id=?`, id).Scan(&role)
	return auth.Role(role), authNotFound(err, auth.ErrNoPrincipal)
}

func (a *Auth) TokenPrincipal(ctx context.Context, hash string) (auth.Principal, error) {
	p, err := authScanPrincipal(a.db.Q(ctx).QueryRowContext(ctx, `SELECT p.id,p.name,p.role,p.created_at FROM tokens t JOIN principals p ON p.id=t.principal_id WHERE t.hash=?`, hash))
	return p, authNotFound(err, auth.ErrNoPrincipal)
}

func (a *Auth) Principals(ctx context.Context) ([]auth.Principal, error) {
	return queryAll(ctx, a.db.Q(ctx), authScanPrincipal, `SELECT id,name,role,created_at FROM principals ORDER BY created_at, id`)
}

func (a *Auth) CountRole(ctx context.Context, role auth.Role) (int, error) {
	var n int
	err := a.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM principals WHERE role=?`, string(role)).Scan(&n)
	return n, err
}

func (a *Auth) NameTaken(ctx context.Context, name, id string) (bool, error) {
	var taken int
	err := a.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM principals WHERE name=? AND id<>?`, name, id).Scan(&taken)
	return taken > 0, err
}

func (a *Auth) SetPasswordHash(ctx context.Context, id, hash string) (bool, error) {
	q := `UPDATE principals SET password_hash=? WHERE id=?`
	args := []any{hash, id}
	if hash == "" {
		q, args = `UPDATE principals SET password_hash=NULL WHERE id=?`, args[1:]
	}
	res, err := a.db.Q(ctx).ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (a *Auth) PasswordHash(ctx context.Context, name string) (id, hash string, err error) {
	var h *string
	err = a.db.Q(ctx).QueryRowContext(ctx, `SELECT id,password_hash FROM principals WHERE name=?`, name).Scan(&id, &h)
	if err != nil {
		return "", "", authNotFound(err, auth.ErrNoPrincipal)
	}
	if h != nil {
		hash = *h
	}
	return id, hash, nil
}

// authNextTokenSeq numbers a new token after the others (the order Tokens
// lists tokens of one time in).
const authNextTokenSeq = `(SELECT COALESCE(MAX(seq),0)+1 FROM tokens)`

func (a *Auth) AddToken(ctx context.Context, t auth.StoredToken) error {
	_, err := a.db.Q(ctx).ExecContext(ctx, `INSERT INTO tokens(hash,principal_id,label,sealed,created_at,seq) VALUES(?,?,?,?,?,`+authNextTokenSeq+`) ON CONFLICT(hash) DO NOTHING`,
		t.Hash, t.Principal, t.Label, t.Sealed, store.Time(t.Created))
	return err
}

func (a *Auth) Tokens(ctx context.Context, principalID string) ([]auth.StoredToken, error) {
	return queryAll(ctx, a.db.Q(ctx), func(r scanner) (auth.StoredToken, error) {
		t := auth.StoredToken{Principal: principalID}
		var created string
		err := r.Scan(&t.Hash, &t.Label, &t.Sealed, &created)
		t.Created = store.ParseTime(created)
		return t, err
	}, `SELECT hash,label,sealed,created_at FROM tokens WHERE principal_id=? ORDER BY created_at, seq`, principalID)
}

func (a *Auth) TokenOwner(ctx context.Context, hash string) (string, error) {
	var owner string
	err := a.db.Q(ctx).QueryRowContext(ctx, `SELECT principal_id FROM tokens WHERE hash=?`, hash).Scan(&owner)
	return owner, authNotFound(err, auth.ErrNoToken)
}

func (a *Auth) RevokeToken(ctx context.Context, hash string, at time.Time) error {
	return a.db.InTx(ctx, func(ctx context.Context) error {
		q := a.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `DELETE FROM tokens WHERE hash=?`, hash); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO revoked_tokens(hash,revoked_at) VALUES(?,?) ON CONFLICT(hash) DO NOTHING`, hash, store.Time(at))
		return err
	})
}

func (a *Auth) Revoked(ctx context.Context, hash string) (bool, error) {
	var n int
	err := a.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM revoked_tokens WHERE hash=?`, hash).Scan(&n)
	return n > 0, err
}

func (a *Auth) EventHead(ctx context.Context, origin string) (int64, error) {
	var head int64
	err := a.db.Q(ctx).QueryRowContext(ctx, `SELECT COALESCE(MAX(seq),0) FROM account_events WHERE origin=?`, origin).Scan(&head)
	return head, err
}

func (a *Auth) Heads(ctx context.Context) (map[string]int64, error) {
	return byLabel(ctx, a.db.Q(ctx), `SELECT origin, MAX(seq) FROM account_events GROUP BY origin`)
}

// AddEvent keeps the event as JSON, signature included: relayed verbatim.
func (a *Auth) AddEvent(ctx context.Context, e auth.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = a.db.Q(ctx).ExecContext(ctx, `INSERT INTO account_events(origin,seq,body) VALUES(?,?,?)`, e.Origin, e.Seq, string(body))
	return err
}

func (a *Auth) Events(ctx context.Context, origin string, after int64, limit int) ([]auth.Event, error) {
	bodies, err := queryAll(ctx, a.db.Q(ctx), func(r scanner) (string, error) {
		var body string
		err := r.Scan(&body)
		return body, err
	}, `SELECT body FROM account_events WHERE origin=? AND seq>? ORDER BY seq LIMIT ?`, origin, after, limit)
	if err != nil {
		return nil, err
	}
	events := make([]auth.Event, len(bodies))
	for i, body := range bodies {
		if err := json.Unmarshal([]byte(body), &events[i]); err != nil {
			return nil, fmt.Errorf("auth: stored account event of %s: %w", origin, err)
		}
	}
	return events, nil
}
