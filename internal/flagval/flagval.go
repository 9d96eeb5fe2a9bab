// Package flagval holds the flag.Value types that several parts' flag sets
// share: a repeatable list and an exact amount of tokens. Each part registers
// its own flags (Config.RegisterFlags); these only parse values.
package flagval

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/internal/money"
)

// List collects a repeatable flag; one value may hold several, comma-separated
// (as an environment twin does).
func List(list *[]string) flag.Value { return listValue{list} }

type listValue struct{ list *[]string }

func (f listValue) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listValue) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.list = append(*f.list, v)
		}
	}
	return nil
}

// Amount is a flag holding an exact amount of tokens.
func Amount(a *money.Amount) flag.Value { return amountValue{a} }

type amountValue struct{ a *money.Amount }

func (f amountValue) String() string {
	if f.a == nil {
		return "0"
	}
	return f.a.String()
}

func (f amountValue) Set(s string) error {
	a, err := money.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %v (want a decimal number of tokens, e.g. 1.5)", s, err)
	}
	*f.a = a
	return nil
}

// Bytes is a flag holding a size in bytes, written with a unit or without:
// 1048576, 512KiB, 16GiB, 1.5GB (KiB, MiB, GiB, TiB are powers of 1024; kB,
// MB, GB, TB powers of 1000; B or nothing: bytes).
func Bytes(n *int64) flag.Value { return bytesValue{n} }

type bytesValue struct{ n *int64 }

var units = []struct {
	suffix string
	mult   float64
}{ // longest first, so "GiB" is not read as "B"
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1},
}

func (f bytesValue) String() string {
	if f.n == nil {
		return "0"
	}
	n := *f.n
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (f bytesValue) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v >= 0) || math.IsInf(v, 0) || v*mult > math.MaxInt64 {
		return fmt.Errorf("%q: want a size such as 1048576, 512MiB or 16GiB", s)
	}
	*f.n = int64(v * mult)
	return nil
}
