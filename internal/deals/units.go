package deals

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// formatTime renders times as the original does: "2022-04-11 11:14:46 UTC".
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

var timeLayouts = []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05"}

// parseTime reads a date-time: the original's "2006-01-02 15:04:05 UTC",
// RFC 3339, or milliseconds since the epoch (the spec's time unit).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("missing: use YYYY-MM-DD hh:mm:ss UTC")
	}
	t, err := time.Time{}, fmt.Errorf("%q is not a date-time: use YYYY-MM-DD hh:mm:ss UTC", clip(s))
	if ms, perr := strconv.ParseInt(s, 10, 64); perr == nil && ms >= 0 && ms < 1e14 {
		t, err = time.UnixMilli(ms), nil
	}
	for _, l := range timeLayouts {
		if err == nil {
			break
		}
		if pt, perr := time.Parse(l, s); perr == nil {
			// Go reads an unknown zone abbreviation as a zero offset: only
			// UTC and GMT are unambiguous.
			if zone, _ := pt.Zone(); strings.Contains(l, "MST") && zone != "UTC" && zone != "GMT" {
				return time.Time{}, fmt.Errorf("%q: give the time in UTC (or as an offset, +0300)", clip(s))
			}
			t, err = pt, nil
		}
	}
	if err != nil {
		return t, err
	}
	// Bitcoin did not exist before 2009; four-digit years keep the format.
	if t.Year() < 2009 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range", clip(s))
	}
	return t.UTC().Truncate(time.Second), nil
}

const satPerBTC = 100_000_000

var sumRE = regexp.MustCompile(`^\d{0,9}(\.\d{0,20})?([eE][+-]?\d{1,2})?$`)

// parseBTC reads a sum in bitcoins ("0.00001", "1e-05", an optional BTC or
// tBTC unit) exactly into satoshis: a JSON client may send a number in any
// notation, but never a fraction of a satoshi.
func parseBTC(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, unit := range []string{"tBTC", "BTC"} {
		s = strings.TrimSpace(strings.TrimSuffix(s, unit))
	}
	bad := fmt.Errorf("%q is not a sum of bitcoins with at most 8 decimals", clip(s))
	// The shape is checked first: big.Rat would happily expand 1e999999999.
	if !sumRE.MatchString(s) || s == "." {
		return 0, bad
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, bad
	}
	r.Mul(r, big.NewRat(satPerBTC, 1))
	if !r.IsInt() {
		return 0, bad
	}
	sat := r.Num()
	if sat.Sign() <= 0 || sat.Cmp(big.NewInt(21_000_000*satPerBTC)) > 0 {
		return 0, fmt.Errorf("%q is out of range: more than 0 and at most 21 million", clip(s))
	}
	return sat.Int64(), nil
}

// formatBTC renders satoshis as bitcoins without trailing zeros.
func formatBTC(sat int64) string {
	s := fmt.Sprintf("%d.%08d", sat/satPerBTC, sat%satPerBTC)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
