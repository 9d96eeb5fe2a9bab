package persist_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/deals"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

var dealsT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func dealsDeal(n int, seller, customer string) deals.Deal {
	at := dealsT0.Add(time.Duration(n) * time.Minute)
	return deals.Deal{ID: fmt.Sprintf("deal%02d", n), State: deals.StateCreated, Type: "Prepaid", At: "https://shop.example",
		Date: at, Until: at.Add(time.Hour), LeaveBefore: at.Add(24 * time.Hour), Seller: seller, Customer: customer,
		Sum: 1000 + int64(n), FileID: "file1", FileAmount: 7, Canonical: fmt.Sprintf("deal:\n  n: %d\n", n),
		Address: fmt.Sprintf("tb1qescrow%02d", n), WitnessScript: "52ab", RedeemScript: "00ab", ModuleKey: "02ab",
		CreatedBy: "p1", Created: at, Updated: at}
}

func TestDealsAccounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewDeals(db)
		if _, err := s.Account(ctx, "tb1qa"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing account: %v", err)
		}
		a := deals.Account{Address: "tb1qa", PrincipalID: "pa", PubKey: "02aa", Email: "a@example.org",
			TrustedURLs: []string{"https://t.example"}, Created: dealsT0, Updated: dealsT0}
		if err := s.AddAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		for _, dup := range []deals.Account{{Address: "tb1qa", PrincipalID: "pz"}, {Address: "tb1qz", PrincipalID: "pa"}} {
			if err := s.AddAccount(ctx, dup); !errors.Is(err, deals.ErrAccountExists) {
				t.Fatalf("account %+v again: %v", dup, err)
			}
		}
		got, err := s.Account(ctx, "tb1qa")
		if err != nil {
			t.Fatal(err)
		}
		// Lists come back as stored; a nil one as empty, not null.
		if got.PrincipalID != "pa" || got.PubKey != "02aa" || got.Email != "a@example.org" || !got.Created.Equal(dealsT0) ||
			!slices.Equal(got.TrustedURLs, []string{"https://t.example"}) || got.AccountURLs == nil || len(got.AccountURLs) != 0 {
			t.Fatalf("account: %+v", got)
		}
		later := dealsT0.Add(time.Hour)
		if err := s.SetAccountKeys(ctx, "tb1qa", "03bb", "PGP", later); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAccountProfile(ctx, "tb1qa", "PGP2", []string{"https://a.example"}, nil, later); err != nil {
			t.Fatal(err)
		}
		for _, positive := range []bool{true, false, true} {
			if err := s.Rate(ctx, "tb1qa", positive); err != nil {
				t.Fatal(err)
			}
		}
		got, _ = s.Account(ctx, "tb1qa")
		if got.PubKey != "03bb" || got.PGP != "PGP2" || !slices.Equal(got.AccountURLs, []string{"https://a.example"}) ||
			len(got.TrustedURLs) != 0 || !got.Updated.Equal(later) || got.FeedbackTotal != 3 || got.FeedbackPositive != 2 || got.Rating() != "3, 66%" {
			t.Fatalf("account after the updates: %+v", got)
		}

		// Deleting the account ends its principal's HMAC sessions, no
		// other's.
		if err := s.AddSession(ctx, "s1", "pa", []byte{0, 1, 0xff}, dealsT0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSession(ctx, "s2", "pb", []byte{2}, dealsT0); err != nil {
			t.Fatal(err)
		}
		pr, sealed, err := s.Session(ctx, "s1")
		if err != nil || pr != "pa" || string(sealed) != "\x00\x01\xff" {
			t.Fatalf("session: %q %x %v", pr, sealed, err)
		}
		if err := s.DeleteAccount(ctx, "tb1qa", "pa"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Account(ctx, "tb1qa"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted account: %v", err)
		}
		if _, _, err := s.Session(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session of a deleted account: %v", err)
		}
		if _, _, err := s.Session(ctx, "s2"); err != nil {
			t.Fatalf("another principal's session: %v", err)
		}
	})
}

func TestDealsReplays(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewDeals(db)
		use := func(nonce int64, now time.Time, want bool) {
			t.Helper()
			if fresh, err := s.UseNonce(ctx, "s1", nonce, now, now.Add(-2*time.Minute)); err != nil || fresh != want {
				t.Fatalf("nonce %d at %s: %v %v, want %v", nonce, now, fresh, err, want)
			}
		}
		use(1, dealsT0, true)
		use(1, dealsT0, false)
		use(2, dealsT0, true)
		if fresh, _ := s.UseNonce(ctx, "s2", 1, dealsT0, dealsT0.Add(-2*time.Minute)); !fresh {
			t.Fatal("another session's nonce 1 is its own")
		}
		use(1, dealsT0.Add(2*time.Minute), false) // not before the window
		use(1, dealsT0.Add(3*time.Minute), true)  // forgotten

		sign := func(hash string, now, keep time.Time, want bool) {
			t.Helper()
			if fresh, err := s.UseSigned(ctx, hash, now, keep); err != nil || fresh != want {
				t.Fatalf("signed %s at %s: %v %v, want %v", hash, now, fresh, err, want)
			}
		}
		sign("dated", dealsT0, dealsT0.Add(time.Hour), true)
		sign("forever", dealsT0, time.Time{}, true)
		sign("dated", dealsT0.Add(time.Minute), dealsT0.Add(time.Hour), false)
		sign("forever", dealsT0.Add(time.Minute), time.Time{}, false)
		later := dealsT0.Add(2 * time.Hour)
		sign("dated", later, later.Add(time.Hour), true)
		sign("forever", later, time.Time{}, false)
	})
}

func TestDealsDeals(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewDeals(db)
		if _, err := s.Deal(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing deal: %v", err)
		}
		if _, err := s.DealByAddress(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing deal by address: %v", err)
		}
		if _, _, err := s.MoveDeal(ctx, "nope", deals.Move{From: []string{deals.StateCreated}, To: deals.StatePaid}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("moving a missing deal: %v", err)
		}
		d := dealsDeal(1, "tb1qs", "tb1qc")
		for i, want := range []bool{true, false} {
			if added, err := s.AddDeal(ctx, d); err != nil || added != want {
				t.Fatalf("add #%d: %v %v", i, added, err)
			}
		}
		got, err := s.Deal(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if byAddr, err := s.DealByAddress(ctx, d.Address); err != nil || byAddr != got {
			t.Fatalf("by address: %+v %v", byAddr, err)
		}
		if !got.Date.Equal(d.Date) || !got.Until.Equal(d.Until) || !got.LeaveBefore.Equal(d.LeaveBefore) || !got.Created.Equal(d.Created) {
			t.Fatalf("times: %+v", got)
		}
		got.Date, got.Until, got.LeaveBefore, got.Created, got.Updated = d.Date, d.Until, d.LeaveBefore, d.Created, d.Updated
		if got != d {
			t.Fatalf("deal:\n%+v\nwant\n%+v", got, d)
		}

		// A move checks the state; the payment txid is set, kept or
		// cleared as asked.
		txid, none := "aa11", ""
		at := dealsT0.Add(time.Hour)
		steps := []struct {
			m     deals.Move
			moved bool
			state string
			txid  string
		}{
			{deals.Move{From: []string{deals.StatePaid}, To: deals.StateCompleted}, false, deals.StateCreated, ""},
			{deals.Move{From: []string{deals.StateCreated}, To: deals.StatePaying, TxID: &txid, At: at}, true, deals.StatePaying, "aa11"},
			{deals.Move{From: []string{deals.StateCreated}, To: deals.StatePaying, TxID: &none}, false, deals.StatePaying, "aa11"},
			{deals.Move{From: []string{deals.StateCreated, deals.StatePaying}, To: deals.StatePaid, At: at}, true, deals.StatePaid, "aa11"},
			{deals.Move{From: []string{deals.StatePaid}, To: deals.StateCreated, TxID: &none, At: at}, true, deals.StateCreated, ""},
		}
		for i, st := range steps {
			moved, state, err := s.MoveDeal(ctx, d.ID, st.m)
			if err != nil || moved != st.moved || state != st.state {
				t.Fatalf("move #%d: %v %q %v, want %v %q", i, moved, state, err, st.moved, st.state)
			}
			if got, _ := s.Deal(ctx, d.ID); got.State != st.state || got.TxID != st.txid || st.moved && !got.Updated.Equal(at) {
				t.Fatalf("after move #%d: %+v", i, got)
			}
		}

		// A rollback leaves neither the deal nor its event.
		d2 := dealsDeal(2, "tb1qs", "tb1qc")
		boom := errors.New("boom")
		err = s.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.AddDeal(ctx, d2); err != nil {
				return err
			}
			if err := s.AddEvent(ctx, deals.Event{DealID: d2.ID, At: dealsT0, Action: "create", Principal: "p1"}); err != nil {
				return err
			}
			if _, err := s.Deal(ctx, d2.ID); err != nil {
				return fmt.Errorf("the deal is not seen in its own transaction: %w", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := s.Deal(ctx, d2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a rolled back deal: %v", err)
		}
		err = s.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.AddDeal(ctx, d2); err != nil {
				return err
			}
			return s.AddEvent(ctx, deals.Event{DealID: d2.ID, At: dealsT0, Action: "create", Principal: "p1"})
		})
		if err != nil {
			t.Fatal(err)
		}

		// Feedback: once, and only in the states given.
		from := []string{deals.StatePaid, deals.StateCompleted}
		if set, err := s.SetFeedback(ctx, d.ID, "positive", "fine", at, from); err != nil || set {
			t.Fatalf("feedback on a Created deal: %v %v", set, err)
		}
		if _, _, err := s.MoveDeal(ctx, d.ID, deals.Move{From: []string{deals.StateCreated}, To: deals.StatePaid, At: at}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false} {
			if set, err := s.SetFeedback(ctx, d.ID, "positive", "fine", at, from); err != nil || set != want {
				t.Fatalf("feedback #%d: %v %v", i, set, err)
			}
		}
		if got, _ := s.Deal(ctx, d.ID); got.FeedbackStatus != "positive" || got.FeedbackComment != "fine" {
			t.Fatalf("feedback: %+v", got)
		}

		// Spends: the first PSBT stays; an undo needs the txid.
		if err := s.SetSpend(ctx, d.ID, "release", "psbt1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSpend(ctx, d.ID, "refund", "psbt2"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.MoveDeal(ctx, d.ID, deals.Move{From: []string{deals.StatePaid}, To: deals.StateCompleted, SpendTxID: "bb22", At: at}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Deal(ctx, d.ID); got.SpendKind != "release" || got.SpendPSBT != "psbt1" || got.SpendTxID != "bb22" || got.State != deals.StateCompleted {
			t.Fatalf("spend: %+v", got)
		}
		if err := s.UndoSpend(ctx, d.ID, deals.StatePaid, "cc33"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Deal(ctx, d.ID); got.SpendTxID != "bb22" || got.State != deals.StateCompleted {
			t.Fatalf("undo of another txid: %+v", got)
		}
		if err := s.UndoSpend(ctx, d.ID, deals.StatePaid, "bb22"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Deal(ctx, d.ID); got.SpendTxID != "" || got.State != deals.StatePaid || got.SpendPSBT != "psbt1" {
			t.Fatalf("undone spend: %+v", got)
		}
	})
}

func TestDealsLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewDeals(db)
		if ds, err := s.RecentDeals(ctx, 10); err != nil || len(ds) != 0 {
			t.Fatalf("no deals: %v %v", ds, err)
		}
		if counts, err := s.CountByState(ctx); err != nil || len(counts) != 0 {
			t.Fatalf("no deals: %v %v", counts, err)
		}
		// deal01..deal05, created a minute apart; deal06 at deal05's time.
		for n := 1; n <= 6; n++ {
			d := dealsDeal(n, "tb1qs", "tb1qc")
			if n%2 == 0 {
				d.Seller, d.Customer = "tb1qc", "tb1qx"
			}
			if n == 6 {
				d.Created = dealsDeal(5, "", "").Created
			}
			if _, err := s.AddDeal(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		move := func(id, to string, spend string) {
			t.Helper()
			if moved, _, err := s.MoveDeal(ctx, id, deals.Move{From: []string{deals.StateCreated}, To: to, SpendTxID: spend, At: dealsT0.Add(time.Hour)}); err != nil || !moved {
				t.Fatalf("move %s: %v %v", id, moved, err)
			}
		}
		move("deal01", deals.StatePaid, "")
		move("deal02", deals.StatePaid, "ff00")
		move("deal03", deals.StateCancelled, "")

		ds, err := s.RecentDeals(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		if !slices.Equal(ids, []string{"deal05", "deal06", "deal04", "deal03"}) {
			t.Fatalf("newest first, ties by id: %v", ids)
		}
		if d := ds[3]; d.State != deals.StateCancelled || d.Type != "Prepaid" || d.Seller != "tb1qs" || d.Customer != "tb1qc" ||
			d.Sum != 1003 || d.FileID != "file1" || !d.Created.Equal(dealsDeal(3, "", "").Created) || d.Updated.IsZero() {
			t.Fatalf("recent deal: %+v", d)
		}
		counts, err := s.CountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(counts) != fmt.Sprint(map[string]int64{deals.StateCreated: 3, deals.StatePaid: 2, deals.StateCancelled: 1}) {
			t.Fatalf("counts: %v", counts)
		}
		open := []string{deals.StateCreated, deals.StatePaying, deals.StatePaid}
		for addr, want := range map[string]int{"tb1qs": 2, "tb1qc": 5, "tb1qx": 3, "tb1qy": 0} {
			if n, err := s.CountDeals(ctx, addr, open); err != nil || n != want {
				t.Fatalf("open deals of %s: %d %v, want %d", addr, n, err, want)
			}
		}
		ids, err = s.Unspent(ctx, []string{deals.StatePaid, deals.StateCancelled})
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"deal01", "deal03"}) {
			t.Fatalf("unspent: %v %v", ids, err)
		}
	})
}

func TestDealsPayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewDeals(db)
		for n := 1; n <= 2; n++ {
			if _, err := s.AddDeal(ctx, dealsDeal(n, "tb1qs", "tb1qc")); err != nil {
				t.Fatal(err)
			}
		}
		out := func(txid string, vout uint32, amount, conf int64) btc.Output {
			return btc.Output{TxID: txid, Vout: vout, Amount: amount, PkScript: []byte{0, 0x14, byte(vout)}, Confirmations: conf}
		}
		check := func(what, id string, want ...string) {
			t.Helper()
			ps, err := s.Payments(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, fmt.Sprintf("%s:%d %d %d %x %v", p.TxID, p.Vout, p.Amount, p.Confirmations, p.PkScript, p.Late))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %q, want %q", what, got, want)
			}
		}
		check("none", "deal01")
		if err := s.SeePayments(ctx, "deal01", []btc.Output{out("bb", 1, 500, 0), out("aa", 0, 300, 0)}, false, dealsT0); err != nil {
			t.Fatal(err)
		}
		if err := s.SeePayments(ctx, "deal02", []btc.Output{out("cc", 0, 9, 6)}, false, dealsT0); err != nil {
			t.Fatal(err)
		}
		check("first seen", "deal01", "aa:0 300 0 001400 false", "bb:1 500 0 001401 false")
		// bb confirmed, aa gone (a reorg), dd new and late, seen later.
		if err := s.SeePayments(ctx, "deal01", []btc.Output{out("dd", 0, 100, 0), out("bb", 1, 500, 3)}, true, dealsT0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("after a reorg", "deal01", "bb:1 500 3 001401 false", "dd:0 100 0 001400 true")
		// aa back: it keeps when it was first seen and that it was in time.
		if err := s.SeePayments(ctx, "deal01", []btc.Output{out("aa", 0, 300, 1), out("bb", 1, 500, 4), out("dd", 0, 100, 1)}, true, dealsT0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("back", "deal01", "aa:0 300 1 001400 false", "bb:1 500 4 001401 false", "dd:0 100 1 001400 true")
		check("another deal", "deal02", "cc:0 9 6 001400 false")
		if err := s.SeePayments(ctx, "deal01", nil, true, dealsT0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("all gone", "deal01")
		check("another deal untouched", "deal02", "cc:0 9 6 001400 false")
	})
}
