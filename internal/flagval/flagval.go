// Package flagval holds the flag.Value types that several parts' flag sets
// share: a repeatable list and an exact amount of tokens. Each part registers
// its own flags (Config.RegisterFlags); these only parse values.
package flagval

import (
	"flag"
	"fmt"
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
