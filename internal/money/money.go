// Package money holds amounts of the node's token as an integer count of base
// units. Nothing inside the node ever uses floating point for money.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Decimals is the number of decimal places of one token: 1 token = 10^9 units.
const Decimals = 9

// Unit is the number of base units in one token.
const Unit Amount = 1_000_000_000

// Amount is a count of base units.
type Amount int64

// String renders the amount as an exact decimal number of tokens ("1.5").
func (a Amount) String() string {
	neg := a < 0
	u := uint64(a)
	if neg {
		u = uint64(-a)
	}
	whole, frac := u/uint64(Unit), u%uint64(Unit)
	s := strconv.FormatUint(whole, 10)
	if frac != 0 {
		f := fmt.Sprintf("%09d", frac)
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Float64 is the amount in tokens, for JSON fields the specs type as double.
// It may lose precision; render String alongside where exactness matters.
func (a Amount) Float64() float64 { return float64(a) / float64(Unit) }

var errSyntax = errors.New("not a decimal number")

// Parse reads an exact decimal number of tokens, as found in JSON ("1.25",
// "2e-3", "10"). More than 9 decimal places, negative or too large amounts are
// refused rather than rounded: a payment must never be silently altered.
func Parse(s string) (Amount, error) {
	if s == "" || len(s) > 64 {
		return 0, errSyntax
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/_xXpP") || strings.HasPrefix(s, "+") {
		return 0, errSyntax
	}
	if r.Sign() < 0 {
		return 0, errors.New("amount is negative")
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(Unit)))
	if !r.IsInt() {
		return 0, fmt.Errorf("amount has more than %d decimal places", Decimals)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, errors.New("amount is too large")
	}
	return Amount(n.Int64()), nil
}

// MulDivCeil returns ceil(a*b/c) for non-negative operands, exactly.
func MulDivCeil(a, b, c *big.Int) (Amount, error) {
	if c.Sign() == 0 {
		return 0, errors.New("division by zero")
	}
	p := new(big.Int).Mul(a, b)
	q, m := new(big.Int).QuoRem(p, c, new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > math.MaxInt64/2 {
		return 0, errors.New("amount overflows")
	}
	return Amount(q.Int64()), nil
}
