package ledger

import (
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/money"
)

func TestPrice(t *testing.T) {
	s := Schedule{PerGiBMonth: money.Unit}
	for _, c := range []struct {
		size int64
		d    time.Duration
		want money.Amount
	}{
		{GiB, Month, money.Unit},         // exactly the rate
		{GiB, 2 * Month, 2 * money.Unit}, // linear in time
		{2 * GiB, Month, 2 * money.Unit}, // and in size
		{1, time.Second, 1},              // rounded up to one base unit
		{0, Month, 0},
		{GiB / 2, Month / 2, money.Unit / 4},
	} {
		got, err := s.Price(c.size, c.d)
		if err != nil || got != c.want {
			t.Errorf("Price(%d, %s) = %v, %v; want %v", c.size, c.d, got, err, c.want)
		}
	}
	s.MinPrice = 5
	if got, _ := s.Price(1, time.Second); got != 5 {
		t.Errorf("minimum price not applied: %v", got)
	}
	if _, err := s.Price(1<<62, 100*365*24*time.Hour); err == nil {
		t.Error("overflowing price accepted")
	}
	if (Schedule{PerGiBMonth: 1}).Version() == (Schedule{PerGiBMonth: 2}).Version() {
		t.Error("different schedules share a version")
	}
}

func TestParseDay(t *testing.T) {
	if d, err := ParseDay("20261130"); err != nil || !d.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatal(d, err)
	}
	for _, s := range []string{"", "2026113", "2026-11-30", "20261131", "abcdefgh", "+2026113"} {
		if _, err := ParseDay(s); err == nil {
			t.Errorf("ParseDay(%q) accepted", s)
		}
	}
}

func TestSharesAddUpExactly(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(30 * 24 * time.Hour)
	for _, price := range []money.Amount{0, 1, 2, 7, 1000003, 999999999999} {
		for _, r := range []int{1, 2, 3, 5} {
			var sum money.Amount
			for s := 0; s < r; s++ {
				// Each share changes hands at odd times; the parts add up to it.
				cuts := []time.Time{start, start.Add(time.Duration(s+1) * 77777 * time.Second), start.Add(13 * 24 * time.Hour), end}
				for i := 0; i+1 < len(cuts); i++ {
					sum += Share(price, r, s, start, end, cuts[i], cuts[i+1])
				}
			}
			if sum != price {
				t.Fatalf("price %s in %d shares: parts add up to %s", price, r, sum)
			}
		}
	}
}
