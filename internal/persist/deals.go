package persist

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

// Deals keeps the deal module's accounts, HMAC sessions, deals and escrow
// payments.
type Deals struct{ db *store.DB }

// NewDeals returns the deal module's Store on db.
func NewDeals(db *store.DB) *Deals { return &Deals{db: db} }

var _ deals.Store = (*Deals)(nil)

// InTx runs fn in a transaction, or in ctx's.
func (p *Deals) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return p.db.InTx(ctx, fn)
}

const dealsAccountCols = `address,principal_id,pubkey,pgp,bitmessage,email,account_urls,trusted_urls,feedback_total,feedback_positive,created_at,updated_at`

func dealsScanAccount(r scanner) (deals.Account, error) {
	var a deals.Account
	var bm, au, tu, created, updated string
	if err := r.Scan(&a.Address, &a.PrincipalID, &a.PubKey, &a.PGP, &bm, &a.Email, &au, &tu,
		&a.FeedbackTotal, &a.FeedbackPositive, &created, &updated); err != nil {
		return deals.Account{}, store.NotFound(err)
	}
	_ = json.Unmarshal([]byte(bm), &a.Bitmessage)
	_ = json.Unmarshal([]byte(au), &a.AccountURLs)
	_ = json.Unmarshal([]byte(tu), &a.TrustedURLs)
	a.Created, a.Updated = store.ParseTime(created), store.ParseTime(updated)
	return a, nil
}

// dealsJSONList stores a list as a JSON array, never null.
func dealsJSONList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// Account returns the account of a Bitcoin address.
func (p *Deals) Account(ctx context.Context, address string) (deals.Account, error) {
	return dealsScanAccount(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+dealsAccountCols+` FROM deal_accounts WHERE address=?`, address))
}

// AddAccount stores a new account.
func (p *Deals) AddAccount(ctx context.Context, a deals.Account) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO deal_accounts(address,principal_id,pubkey,pgp,bitmessage,email,account_urls,trusted_urls,created_at,updated_at)
		VALUES(?,?,?,?,?,?,?,?,?,?)`, a.Address, a.PrincipalID, a.PubKey, a.PGP, dealsJSONList(a.Bitmessage), a.Email,
		dealsJSONList(a.AccountURLs), dealsJSONList(a.TrustedURLs), store.Time(a.Created), store.Time(a.Updated))
	if store.IsConflict(err) {
		return deals.ErrAccountExists
	}
	return err
}

// SetAccountKeys sets an account's public key and PGP key.
func (p *Deals) SetAccountKeys(ctx context.Context, address, pubKey, pgp string, at time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE deal_accounts SET pubkey=?, pgp=?, updated_at=? WHERE address=?`,
		pubKey, pgp, store.Time(at), address)
	return err
}

// SetAccountProfile sets an account's PGP key and URL lists.
func (p *Deals) SetAccountProfile(ctx context.Context, address, pgp string, accountURLs, trustedURLs []string, at time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE deal_accounts SET pgp=?, account_urls=?, trusted_urls=?, updated_at=? WHERE address=?`,
		pgp, dealsJSONList(accountURLs), dealsJSONList(trustedURLs), store.Time(at), address)
	return err
}

// DeleteAccount deletes an account and its principal's HMAC sessions.
func (p *Deals) DeleteAccount(ctx context.Context, address, principalID string) error {
	return p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `DELETE FROM deal_sessions WHERE principal_id=?`, principalID); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM deal_accounts WHERE address=?`, address)
		return err
	})
}

// Rate counts a feedback on an account.
func (p *Deals) Rate(ctx context.Context, address string, positive bool) error {
	n := 0
	if positive {
		n = 1
	}
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE deal_accounts SET feedback_total=feedback_total+1, feedback_positive=feedback_positive+? WHERE address=?`, n, address)
	return err
}

// UseSigned remembers a signed request; false if it was seen already.
func (p *Deals) UseSigned(ctx context.Context, hash string, now, keepUntil time.Time) (bool, error) {
	fresh := false
	err := p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `DELETE FROM deal_signed WHERE keep_until<?`, store.Time(now)); err != nil {
			return err
		}
		var keep any // NULL: for ever
		if !keepUntil.IsZero() {
			keep = store.Time(keepUntil)
		}
		res, err := q.ExecContext(ctx, `INSERT INTO deal_signed(hash,used_at,keep_until) VALUES(?,?,?) ON CONFLICT DO NOTHING`, hash, store.Time(now), keep)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		fresh = n != 0
		return nil
	})
	return fresh, err
}

// AddSession stores an HMAC session.
func (p *Deals) AddSession(ctx context.Context, id, principalID string, sealed []byte, at time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO deal_sessions(id,principal_id,secret,created_at) VALUES(?,?,?,?)`,
		id, principalID, sealed, store.Time(at))
	return err
}

// Session returns an HMAC session's principal and sealed secret.
func (p *Deals) Session(ctx context.Context, id string) (string, []byte, error) {
	var principalID string
	var sealed []byte
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT principal_id, secret FROM deal_sessions WHERE id=?`, id).Scan(&principalID, &sealed)
	return principalID, sealed, store.NotFound(err)
}

// UseNonce remembers a session's nonce; false if it was used already.
func (p *Deals) UseNonce(ctx context.Context, session string, nonce int64, now, forgetBefore time.Time) (bool, error) {
	fresh := false
	err := p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `DELETE FROM deal_nonces WHERE seen_at<?`, store.Time(forgetBefore)); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `INSERT INTO deal_nonces(session_id,nonce,seen_at) VALUES(?,?,?) ON CONFLICT DO NOTHING`, session, nonce, store.Time(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		fresh = n != 0
		return nil
	})
	return fresh, err
}

const dealsCols = `id,state,type,at,date,seller,customer,sum_sat,until_at,leave_before,file_id,file_amount,canonical,address,
	witness_script,redeem_script,module_key,txid,feedback_status,feedback_comments,created_by,created_at,updated_at,spend_kind,spend_psbt,spend_txid`

func dealsScanDeal(r scanner) (deals.Deal, error) {
	var d deals.Deal
	var date, until, leave, created, updated string
	var amount int64
	if err := r.Scan(&d.ID, &d.State, &d.Type, &d.At, &date, &d.Seller, &d.Customer, &d.Sum, &until, &leave, &d.FileID, &amount,
		&d.Canonical, &d.Address, &d.WitnessScript, &d.RedeemScript, &d.ModuleKey, &d.TxID, &d.FeedbackStatus, &d.FeedbackComment,
		&d.CreatedBy, &created, &updated, &d.SpendKind, &d.SpendPSBT, &d.SpendTxID); err != nil {
		return deals.Deal{}, store.NotFound(err)
	}
	d.Date, d.Until, d.LeaveBefore = store.ParseTime(date), store.ParseTime(until), store.ParseTime(leave)
	d.Created, d.Updated, d.FileAmount = store.ParseTime(created), store.ParseTime(updated), money.Amount(amount)
	return d, nil
}

// AddDeal stores a new deal; false if one with its id exists.
func (p *Deals) AddDeal(ctx context.Context, d deals.Deal) (bool, error) {
	res, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO deals(id,state,type,at,date,seller,customer,sum_sat,until_at,leave_before,file_id,file_amount,
		canonical,address,witness_script,redeem_script,module_key,created_by,created_at,updated_at)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING`,
		d.ID, d.State, d.Type, d.At, store.Time(d.Date), d.Seller, d.Customer, d.Sum, store.Time(d.Until), store.Time(d.LeaveBefore),
		d.FileID, int64(d.FileAmount), d.Canonical, d.Address, d.WitnessScript, d.RedeemScript,
		d.ModuleKey, d.CreatedBy, store.Time(d.Created), store.Time(d.Updated))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Deal returns a deal by its id.
func (p *Deals) Deal(ctx context.Context, id string) (deals.Deal, error) {
	return dealsScanDeal(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+dealsCols+` FROM deals WHERE id=?`, id))
}

// DealByAddress returns the deal whose escrow is address.
func (p *Deals) DealByAddress(ctx context.Context, address string) (deals.Deal, error) {
	return dealsScanDeal(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+dealsCols+` FROM deals WHERE address=?`, address))
}

// dealsIn is the placeholder list of an IN with n values.
func dealsIn(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// MoveDeal changes a deal's state if it is one of m.From. The state is
// checked in the UPDATE itself, so two racing orders cannot both win.
func (p *Deals) MoveDeal(ctx context.Context, id string, m deals.Move) (bool, string, error) {
	set, args := ``, []any{m.To, store.Time(m.At)}
	if m.TxID != nil {
		set, args = set+`, txid=?`, append(args, *m.TxID)
	}
	if m.SpendTxID != "" {
		set, args = set+`, spend_txid=?`, append(args, m.SpendTxID)
	}
	args = append(args, id)
	for _, f := range m.From {
		args = append(args, f)
	}
	q := p.db.Q(ctx)
	res, err := q.ExecContext(ctx, `UPDATE deals SET state=?, updated_at=?`+set+` WHERE id=? AND state IN (`+dealsIn(len(m.From))+`)`, args...)
	if err != nil {
		return false, "", err
	}
	if n, _ := res.RowsAffected(); n != 0 {
		return true, m.To, nil
	}
	var state string
	err = q.QueryRowContext(ctx, `SELECT state FROM deals WHERE id=?`, id).Scan(&state)
	return false, state, store.NotFound(err)
}

// SetFeedback records a deal's feedback; false if it has one or is in
// another state.
func (p *Deals) SetFeedback(ctx context.Context, id, status, comments string, at time.Time, from []string) (bool, error) {
	args := []any{status, comments, store.Time(at), id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE deals SET feedback_status=?, feedback_comments=?, updated_at=? WHERE id=? AND feedback_status='' AND state IN (`+dealsIn(len(from))+`)`,
		args...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n != 0, nil
}

// AddEvent records a deal's transition.
func (p *Deals) AddEvent(ctx context.Context, e deals.Event) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO deal_events(deal_id,at,action,principal_id,detail) VALUES(?,?,?,?,?)`,
		e.DealID, store.Time(e.At), e.Action, e.Principal, e.Detail)
	return err
}

// SetSpend records a deal's release or refund PSBT unless it has one.
func (p *Deals) SetSpend(ctx context.Context, id, kind, psbt string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE deals SET spend_kind=?, spend_psbt=? WHERE id=? AND spend_psbt=''`, kind, psbt, id)
	return err
}

// UndoSpend puts a deal back in state if its spend txid is txid.
func (p *Deals) UndoSpend(ctx context.Context, id, state, txid string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE deals SET state=?, spend_txid='' WHERE id=? AND spend_txid=?`, state, id, txid)
	return err
}

// CountDeals counts a party's deals in one of states.
func (p *Deals) CountDeals(ctx context.Context, address string, states []string) (int, error) {
	args := []any{address, address}
	for _, s := range states {
		args = append(args, s)
	}
	var n int
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM deals WHERE (seller=? OR customer=?) AND state IN (`+dealsIn(len(states))+`)`,
		args...).Scan(&n)
	return n, err
}

// Unspent lists the deals in one of states whose escrow was not spent.
func (p *Deals) Unspent(ctx context.Context, states []string) ([]string, error) {
	args := make([]any, len(states))
	for i, s := range states {
		args[i] = s
	}
	return queryAll(ctx, p.db.Q(ctx), func(r scanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	}, `SELECT id FROM deals WHERE spend_txid='' AND state IN (`+dealsIn(len(states))+`)`, args...)
}

// RecentDeals lists the newest deals, without their texts and scripts.
func (p *Deals) RecentDeals(ctx context.Context, limit int) ([]deals.Deal, error) {
	return queryAll(ctx, p.db.Q(ctx), func(r scanner) (deals.Deal, error) {
		var d deals.Deal
		var created, updated string
		if err := r.Scan(&d.ID, &d.State, &d.Type, &d.Seller, &d.Customer, &d.Sum, &d.FileID, &created, &updated); err != nil {
			return d, err
		}
		d.Created, d.Updated = store.ParseTime(created), store.ParseTime(updated)
		return d, nil
	}, `SELECT id, state, type, seller, customer, sum_sat, file_id, created_at, updated_at
		FROM deals ORDER BY created_at DESC, id LIMIT ?`, limit)
}

// CountByState counts the deals of each state.
func (p *Deals) CountByState(ctx context.Context) (map[string]int64, error) {
	return byLabel(ctx, p.db.Q(ctx), `SELECT state, COUNT(*) FROM deals GROUP BY state`)
}

// SeePayments records what pays a deal's escrow now.
func (p *Deals) SeePayments(ctx context.Context, dealID string, outs []btc.Output, late bool, at time.Time) error {
	lateFlag := 0
	if late {
		lateFlag = 1
	}
	return p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `UPDATE deal_payments SET gone=1 WHERE deal_id=?`, dealID); err != nil {
			return err
		}
		for _, o := range outs {
			if _, err := q.ExecContext(ctx, `INSERT INTO deal_payments(txid,vout,deal_id,amount_sat,pk_script,confirmations,late,seen_at) VALUES(?,?,?,?,?,?,?,?)
				ON CONFLICT(txid,vout) DO UPDATE SET confirmations=excluded.confirmations, gone=0`,
				o.TxID, o.Vout, dealID, o.Amount, hex.EncodeToString(o.PkScript), o.Confirmations, lateFlag, store.Time(at)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Payments lists what pays a deal's escrow and is not gone.
func (p *Deals) Payments(ctx context.Context, dealID string) ([]deals.Payment, error) {
	return queryAll(ctx, p.db.Q(ctx), func(r scanner) (deals.Payment, error) {
		var o deals.Payment
		var script string
		if err := r.Scan(&o.TxID, &o.Vout, &o.Amount, &script, &o.Confirmations, &o.Late); err != nil {
			return o, err
		}
		o.PkScript, _ = hex.DecodeString(script)
		return o, nil
	}, `SELECT txid,vout,amount_sat,pk_script,confirmations,late FROM deal_payments
		WHERE deal_id=? AND gone=0 ORDER BY seen_at, txid, vout`, dealID)
}
