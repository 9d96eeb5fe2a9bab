package deals

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// Parsers of untrusted input: they may refuse, never panic, and what they
// accept keeps its invariants.

func FuzzParseParamsYAML(f *testing.F) {
	f.Add("deal:\n  order: create\n  type: Prepaid\n  seller:\n    address: n2f3cbeUUFhbz6mFLpDUzMnrt72sPu7WQK\n  payment:\n    sum: 0.00001\n")
	f.Add("a: &x [1,2]\nb: *x\n")
	f.Add("- 1\n- 2\n")
	f.Add("deal: {payment: {until: 2022-04-12 11:14:46 UTC}}")
	f.Add("? [a]\n: b\n")
	f.Add(strings.Repeat("a:\n ", 50) + "b")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseParams(url.Values{}, "text/plain", []byte(body), true)
		if err != nil {
			return
		}
		n := 0
		for k, v := range p.vals {
			if k != normKey(k) {
				t.Fatalf("key %q not normalised", k)
			}
			n += len(v)
		}
		if n > maxValues {
			t.Fatalf("%d values", n)
		}
	})
}

func FuzzParseParamsForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "address=mynFyJJkRhsbB6y1Q5kTgDGckVz2m9NKH8&key=02ef68c191984433c8a730b8fa48a47ec016a0727e6d26cc0982c8900b39354f61")
	f.Add("application/x-www-form-urlencoded", "a=%zz&b")
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"address\"\r\n\r\nabc\r\n--X--\r\n")
	f.Add("multipart/form-data", "--X\r\n")
	f.Add("application/json", `{"deal": {"seller": {"address": "x", "rating": 1}}, "payment": {"sum": 0.00001}}`)
	f.Add("application/json", `[1,2]`)
	f.Add("application/json", `{"a": [[[[[[[[[[1]]]]]]]]]]}`)
	f.Add("text/plain", "mynFyJJkRhsbB6y1Q5kTgDGckVz2m9NKH8\n02ef68c191984433c8a730b8fa48a47ec016a0727e6d26cc0982c8900b39354f61")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		p, err := parseParams(url.Values{"payload": {"json"}}, ctype, []byte(body), false)
		if err != nil {
			return
		}
		if p.get("payload") != "json" {
			t.Fatal("query parameter lost")
		}
		if !p.raw {
			_, _ = accountFromParams("update", p)
		}
	})
}

func FuzzParseLines(f *testing.F) {
	for _, s := range []string{
		"mynFyJJkRhsbB6y1Q5kTgDGckVz2m9NKH8\n02ef68c191984433c8a730b8fa48a47ec016a0727e6d26cc0982c8900b39354f61\n",
		"2026-11-01\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\naccount:\n+https://a.example\ntrusted:\n-http://b\nH3x5bM2M=\n",
		"2026-11-01\n-account\nsig\n",
		"code\nsig",
		"-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
		"BM-abc\nme@example.org\n",
	} {
		f.Add("new", s)
		f.Add("update", s)
	}
	f.Fuzz(func(t *testing.T, action, text string) {
		in, err := parseLines(action, text)
		if err != nil {
			return
		}
		if needsSignature(action) {
			if in.sign == "" || strings.Contains(in.sign, "\n") {
				t.Fatalf("signature %q", in.sign)
			}
			lines := 0
			for _, l := range strings.Split(text, "\n") {
				if strings.TrimSpace(l) != "" {
					lines++
				}
			}
			if strings.Count(in.message, "\n")+2 != lines {
				t.Fatalf("the signed text %q is not every line but the last of %q", in.message, text)
			}
		}
		for _, u := range in.urls {
			if !strings.HasPrefix(u.url, "http://") && !strings.HasPrefix(u.url, "https://") {
				t.Fatalf("url %q", u.url)
			}
		}
	})
}

func FuzzParseBTCAndTime(f *testing.F) {
	for _, s := range []string{"0.00001", "1", "21000000", "0.123456789", "1.5 tBTC", "-1", ".5", "5.", "", "1e3", "1e-05", "1/3", "1e-9", "0x10",
		"2022-04-11 11:14:46 UTC", "2022-04-11T11:14:46Z", "1649675686000", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sat, err := parseBTC(s); err == nil {
			if sat <= 0 || sat > 21_000_000*satPerBTC {
				t.Fatalf("%q -> %d", s, sat)
			}
			if back, err := parseBTC(formatBTC(sat)); err != nil || back != sat {
				t.Fatalf("%q -> %d -> %q -> %d %v", s, sat, formatBTC(sat), back, err)
			}
		}
		if tm, err := parseTime(s); err == nil {
			back, err := parseTime(formatTime(tm))
			if err != nil || !back.Equal(tm.Truncate(time.Second)) {
				t.Fatalf("%q -> %v -> %q -> %v %v", s, tm, formatTime(tm), back, err)
			}
		}
	})
}

func TestParseBTC(t *testing.T) {
	for in, want := range map[string]int64{"0.00001": 1000, "1e-05": 1000, "1.5 tBTC": 150_000_000, "21000000": 21_000_000 * satPerBTC, "5.": 500_000_000, ".5": 50_000_000} {
		if got, err := parseBTC(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	if _, err := parseTime("2022-04-11 11:14:46 MSK"); err == nil {
		t.Error("an unknown zone abbreviation was read as UTC")
	}
	if tm, err := parseTime("2022-04-11 14:14:46 +0300"); err != nil || formatTime(tm) != "2022-04-11 11:14:46 UTC" {
		t.Errorf("offset: %v %v", tm, err)
	}
	for _, in := range []string{"0", "-1", "1e-9", "0.000000001", "1/3", "0x10", "1e99999999", "21000000.00000001", ".", "NaN", "Inf"} {
		if got, err := parseBTC(in); err == nil {
			t.Errorf("%q accepted as %d", in, got)
		}
	}
}
