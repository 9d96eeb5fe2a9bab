package money

import "testing"

func TestParseString(t *testing.T) {
	good := map[string]Amount{"1": Unit, "1.5": Unit + Unit/2, "0.000000001": 1, "2e-3": 2_000_000, "0": 0, "10.10": 10*Unit + Unit/10}
	for s, want := range good {
		got, err := Parse(s)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "0.0000000001", "1/2", "abc", "1e30", "+1", "0x10", "NaN", "Inf"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
	for a, want := range map[Amount]string{Unit: "1", 1: "0.000000001", Unit * 3 / 2: "1.5", 0: "0", -Unit / 2: "-0.5"} {
		if a.String() != want {
			t.Errorf("%d.String() = %q, want %q", int64(a), a.String(), want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1", "1.5", "1e3", "0.000000001", "-2", "9223372036.854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if a < 0 {
			t.Fatalf("negative amount from %q", s)
		}
		b, err := Parse(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, a, a.String(), b, err)
		}
	})
}
