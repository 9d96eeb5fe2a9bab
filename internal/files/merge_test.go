package files

import (
	"encoding/json"
	"testing"
	"time"
)

// Versions of one record, as three holders might have them.
func versions() []File {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	base := File{ID: "f", Owner: "u", Name: "a", Size: 10, Hash: "h", Created: t0, StoredAt: t0,
		Additional: json.RawMessage(`{}`), AdditionalAt: t0, AdditionalBy: "n1",
		Payments: []Payment{{ID: "p1", Price: 9, Start: t0, End: t0.Add(time.Hour), Replicas: 1}},
		Holders:  []Holder{{Node: "n1", State: HolderStored, Updated: t0}, {Node: "n2", Share: 1, State: HolderPending, Updated: t0}}}
	a := base
	a.Holders = []Holder{{Node: "n2", Share: 1, State: HolderStored, Updated: t0}} // n2 stored its copy
	a.Payments = []Payment{{ID: "p1", Price: 9, Start: t0, End: t0.Add(time.Hour), Replicas: 3}}
	b := base
	b.Expires, b.Term = t0.Add(2*time.Hour), 2*time.Hour // an extension was paid
	b.Payments = append(b.Payments, Payment{ID: "p2", Price: 5, Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Replicas: 3})
	b.Confirmations = json.RawMessage(`{"quote":2}`)
	c := base
	c.Name, c.Additional, c.AdditionalAt, c.AdditionalBy = "b", json.RawMessage(`{"k":1}`), t0.Add(time.Minute), "n3"
	c.Holders = []Holder{{Node: "n1", State: HolderLost, Since: t0.Add(time.Minute), Updated: t0.Add(time.Minute)}}
	return []File{base, a, b, c}
}

func TestMergeConvergesInAnyOrder(t *testing.T) {
	vs := versions()
	var want string
	perms := [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}, {0, 1, 2, 3, 2, 1, 0}}
	for _, p := range perms {
		var got File
		for _, i := range p {
			got = Merge(got, vs[i])
		}
		got.Price = 0
		for _, pay := range got.Payments {
			got.Price += pay.Price
		}
		js, _ := json.Marshal(got)
		if want == "" {
			want = string(js)
			if got.Price != 14 || len(got.Payments) != 2 || !got.Expires.Equal(vs[2].Expires) || got.Name != "b" ||
				string(got.Confirmations) != `{"quote":2}` || got.Payments[0].Replicas != 3 {
				t.Fatalf("merged %s", js)
			}
			if h, _ := got.Holder("n1"); h.State != HolderLost {
				t.Fatalf("n1 is %s", h.State)
			}
			if h, _ := got.Holder("n2"); h.State != HolderStored {
				t.Fatalf("n2 is %s", h.State)
			}
			continue
		}
		if string(js) != want {
			t.Fatalf("order %v gives\n%s\nwant\n%s", p, js, want)
		}
	}
}
