package memory

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTable checks the table against a Go map through random inserts,
// deletes, removals by predicate and random removals. The hashes used
// crowd keys into long runs that wrap around the end of the slots, where
// backward-shift deletion is easy to get wrong.
func TestTable(t *testing.T) {
	hashes := []struct {
		name string
		hash func(int64) uint64
	}{
		{"spread", userHash},
		{"clustered", func(k int64) uint64 { return uint64(k%4) << 62 }},
		{"last slots", func(k int64) uint64 { return ^uint64(k % 3) }},
		{"one home", func(int64) uint64 { return 0 }},
	}
	for _, hh := range hashes {
		for _, limit := range []int{1, 2, 7, 64, 500} {
			t.Run(fmt.Sprintf("%s/limit=%d", hh.name, limit), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(limit), 1))
				tab := newTable[int64, int64](limit, hh.hash)
				model := map[int64]int64{}
				check := func(op string) {
					t.Helper()
					if tab.n != len(model) {
						t.Fatalf("after %s: n = %d, want %d", op, tab.n, len(model))
					}
					if tab.n > limit {
						t.Fatalf("after %s: n = %d, over limit %d", op, tab.n, limit)
					}
					used := 0
					for i := range tab.slots {
						if tab.slots[i].used {
							used++
						}
					}
					if used != tab.n || (len(tab.slots) > 0 && used == len(tab.slots)) {
						t.Fatalf("after %s: %d of %d slots used, n = %d", op, used, len(tab.slots), tab.n)
					}
					for k, v := range model {
						p := tab.get(hh.hash(k), k)
						if p == nil || *p != v {
							t.Fatalf("after %s: get(%d) = %v, want %d", op, k, p, v)
						}
					}
				}
				keys := int64(3 * limit)
				for step := range 20 * limit * 10 {
					k := rng.Int64N(keys)
					switch op := rng.IntN(20); {
					case op < 10:
						if p := tab.get(hh.hash(k), k); p != nil {
							*p = int64(step)
						} else {
							if tab.n >= limit {
								i := tab.next(rng.IntN(len(tab.slots)))
								delete(model, tab.slots[i].key)
								tab.removeAt(i)
							}
							tab.insert(hh.hash(k), k, int64(step))
						}
						model[k] = int64(step)
						check("put")
					case op < 17:
						_, want := model[k]
						if got := tab.delete(hh.hash(k), k); got != want {
							t.Fatalf("delete(%d) = %t, want %t", k, got, want)
						}
						delete(model, k)
						check("delete")
						if tab.get(hh.hash(k), k) != nil {
							t.Fatalf("get(%d) after delete: hit", k)
						}
					case op < 19:
						odd := rng.IntN(2) == 0
						tab.removeIf(func(v *int64) bool { return (*v%2 == 1) == odd })
						for k, v := range model {
							if (v%2 == 1) == odd {
								delete(model, k)
							}
						}
						check("removeIf")
					default:
						tab.reset()
						clear(model)
						check("reset")
					}
				}
			})
		}
	}
}
