package network

import (
	"fmt"
	"slices"
	"testing"
)

func members(n int) []Member {
	var out []Member
	for i := 0; i < n; i++ {
		out = append(out, Member{ID: fmt.Sprintf("0x%040d", i)})
	}
	return out
}

func ids(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// Rendezvous ranking is deterministic, does not depend on the order members
// are listed in, and a member leaving moves only the keys it ranked first.
func TestRank(t *testing.T) {
	all := members(6)
	a := ids(Rank("file-1", all))
	rev := slices.Clone(all)
	slices.Reverse(rev)
	if b := ids(Rank("file-1", rev)); !slices.Equal(a, b) {
		t.Fatalf("order depends on the input: %v vs %v", a, b)
	}
	if c := ids(Rank("file-2", all)); slices.Equal(a, c) {
		t.Fatal("two keys rank the members alike (possible, but not for these)")
	}
	moved := 0
	for k := 0; k < 200; k++ {
		key := fmt.Sprint("key-", k)
		before := Rank(key, all)[0].ID
		after := Rank(key, all[1:])[0].ID
		if before != after && before != all[0].ID {
			t.Fatalf("key %s moved from %s to %s though %s left", key, before, after, all[0].ID)
		}
		if before != after {
			moved++
		}
	}
	if moved == 0 || moved > 80 {
		t.Fatalf("%d of 200 keys moved when one of 6 members left", moved)
	}
}
