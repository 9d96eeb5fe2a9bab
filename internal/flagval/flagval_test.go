package flagval

import "testing"

func TestBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "512KiB": 512 << 10, "16GiB": 16 << 30, "16gib": 16 << 30, "1.5GB": 1_500_000_000,
		"2 MiB": 2 << 20, "100B": 100, "1TiB": 1 << 40, "3kb": 3000,
	} {
		var n int64
		if err := Bytes(&n).Set(in); err != nil || n != want {
			t.Errorf("%q: %d %v, want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"", "-1", "GiB", "12XB", "1e30", "ten", "NaN"} {
		var n int64
		if err := Bytes(&n).Set(in); err == nil {
			t.Errorf("%q accepted as %d", in, n)
		}
	}
	for n, want := range map[int64]string{16 << 30: "16GiB", 1000: "1000", 3 << 20: "3MiB", 0: "0"} {
		if got := Bytes(&n).String(); got != want {
			t.Errorf("%d prints %q, want %q", n, got, want)
		}
	}
}
