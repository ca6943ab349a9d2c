package memory

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/latchkeyhq/latchkey"
)

// TestTable checks the table against a Go map through random inserts,
// deletes, removals by predicate and random removals. The hashes used
// crowd keys into long runs that wrap around the end of the slots, where
// backward-shift deletion is easy to get wrong. Keys start at 1: the zero
// key marks an empty slot.
func TestTable(t *testing.T) {
	hashes := []struct {
		name string
		hash func(uint64) uint64
	}{
		{"spread", userHash},
		{"clustered", func(k uint64) uint64 { return k % 4 << 62 }},
		{"last slots", func(k uint64) uint64 { return ^(k % 3) }},
		{"one home", func(uint64) uint64 { return 0 }},
	}
	for _, hh := range hashes {
		for _, limit := range []int{1, 2, 7, 64, 500} {
			t.Run(fmt.Sprintf("%s/limit=%d", hh.name, limit), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(limit), 1))
				tab := newTable[uint64, int64](limit, hh.hash)
				model := map[uint64]int64{}
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
						if tab.slots[i].used() {
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
				keys := uint64(3 * limit)
				for step := range 20 * limit * 10 {
					k := 1 + rng.Uint64N(keys)
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

// TestSlotSizes pins the slots' sizes, which the memory a full cache takes
// follows: a field added or widened shows here.
func TestSlotSizes(t *testing.T) {
	if n := unsafe.Sizeof(slot[sessionKey, sessionEntry]{}); n != 72 {
		t.Errorf("session slot: %d bytes, want 72", n)
	}
	if n := unsafe.Sizeof(slot[uint64, userEntry]{}); n != 40 {
		t.Errorf("user slot: %d bytes, want 40", n)
	}
}

// TestZeroKeys: the keys that stand for an empty slot, the all-zero digest
// and the user id math.MinInt64, are never cached, and leave the entries
// beside them alone.
func TestZeroKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1e9, 0)
	c := New(Options{MaxEntries: 64, Now: func() time.Time { return now }})
	s := latchkey.CachedSession{SessionID: "s", UserID: 1, ExpiresAt: now.Add(time.Hour)}
	other := latchkey.Digest{1}
	for _, d := range []latchkey.Digest{other, {}} {
		if err := c.PutSession(ctx, d, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{1, math.MinInt64} {
		if err := c.PutUser(ctx, latchkey.User{ID: id, Username: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := c.Session(ctx, latchkey.Digest{}); ok {
		t.Error("the all-zero digest is cached")
	}
	if _, ok, _ := c.User(ctx, math.MinInt64); ok {
		t.Error("user math.MinInt64 is cached")
	}
	if _, ok, _ := c.Session(ctx, other); !ok {
		t.Error("a session beside the zero digest is not cached")
	}
	if _, ok, _ := c.User(ctx, 1); !ok {
		t.Error("a user beside math.MinInt64 is not cached")
	}
	c.TouchSession(ctx, latchkey.Digest{}, now)
	c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{{}}, Users: []int64{math.MinInt64}})
	if sessions, users := c.Len(); sessions != 1 || users != 1 {
		t.Errorf("Len() = %d sessions, %d users; want 1, 1", sessions, users)
	}
}
