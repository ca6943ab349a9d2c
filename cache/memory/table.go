package memory

import "math/bits"

// table is an open-addressing hash table with linear probing and
// backward-shift deletion (no tombstones), for keys that come with a
// well-spread 64-bit hash. It exists because a hit is then one probe into
// one slot that holds key and value side by side: at a million entries,
// where every lookup misses the CPU caches, that is one memory round trip
// where a Go map makes two dependent ones (control word, then slot).
//
// A slot is empty when its key is K's zero value, so that a slot is its key
// and value and nothing else (a flag would cost a word of padding): the
// zero key is never inserted, and the caller keeps it out of its keys.
//
// A table grows by doubling up to the capacity that holds limit entries at
// a load of 3/4, and never holds more than limit: the caller evicts before
// inserting into a full table. It is not safe for concurrent use; a shard's
// lock guards it.
type table[K comparable, V any] struct {
	slots []slot[K, V]
	n     int // used slots
	limit int
	hash  func(K) uint64
}

type slot[K comparable, V any] struct {
	key K
	val V
}

// used reports whether s holds an entry.
func (s *slot[K, V]) used() bool {
	var zero K
	return s.key != zero
}

// minSlots is the capacity a table starts at.
const minSlots = 8

func newTable[K comparable, V any](limit int, hash func(K) uint64) table[K, V] {
	return table[K, V]{limit: limit, hash: hash}
}

// maxSlots is the capacity that holds limit entries at a load of 3/4,
// leaving at least one slot free.
func (t *table[K, V]) maxSlots() int { return t.limit + (t.limit+2)/3 + 1 }

// home returns the slot where a probe for hash h starts: the high bits of
// h scaled to the capacity, which need not be a power of two.
func (t *table[K, V]) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(t.slots)))
	return int(hi)
}

// get returns a pointer to k's value, valid until the table changes, or
// nil. h is t.hash(k), passed in so that the hot path inlines it.
func (t *table[K, V]) get(h uint64, k K) *V {
	if t.n == 0 {
		return nil
	}
	i := t.home(h)
	for {
		s := &t.slots[i]
		if !s.used() {
			return nil
		}
		if s.key == k {
			return &s.val
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// insert adds k, which must be absent and not the zero key, with v. The
// caller has made room: t.n < t.limit.
func (t *table[K, V]) insert(h uint64, k K, v V) {
	if 4*(t.n+1) > 3*len(t.slots) && len(t.slots) < t.maxSlots() {
		t.grow()
	}
	i := t.home(h)
	for t.slots[i].used() {
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	t.slots[i] = slot[K, V]{key: k, val: v}
	t.n++
}

func (t *table[K, V]) grow() {
	n := min(max(2*len(t.slots), minSlots), t.maxSlots())
	old := t.slots
	t.slots = make([]slot[K, V], n)
	t.n = 0
	for i := range old {
		if s := &old[i]; s.used() {
			t.insert(t.hash(s.key), s.key, s.val)
		}
	}
}

// delete removes k and reports whether it was there.
func (t *table[K, V]) delete(h uint64, k K) bool {
	if t.n == 0 {
		return false
	}
	i := t.home(h)
	for {
		s := &t.slots[i]
		if !s.used() {
			return false
		}
		if s.key == k {
			t.removeAt(i)
			return true
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// removeAt empties slot i, then moves back the entries after it in the
// same run that may take its place, so that every probe still reaches its
// key without crossing an empty slot. Entries only ever move to slots at or
// after i in probe order.
func (t *table[K, V]) removeAt(i int) {
	n := len(t.slots)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		s := &t.slots[j]
		if !s.used() {
			break
		}
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j]: then it would sit before its home.
		h := t.home(t.hash(s.key))
		if i <= j && (h <= i || h > j) || i > j && h <= i && h > j {
			t.slots[i] = *s
			i = j
		}
	}
	t.slots[i] = slot[K, V]{} // also lets go of the value's pointers
	t.n--
}

// removeIf removes every entry for which drop returns true, in one pass.
func (t *table[K, V]) removeIf(drop func(*V) bool) {
	for i := 0; i < len(t.slots); {
		if s := &t.slots[i]; s.used() && drop(&s.val) {
			// removeAt may move a later entry into i: look again.
			t.removeAt(i)
			continue
		}
		i++
	}
}

// next returns the first used slot at or after i in probe order. The table
// must not be empty.
func (t *table[K, V]) next(i int) int {
	for !t.slots[i].used() {
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	return i
}

// reset empties the table and gives back its memory.
func (t *table[K, V]) reset() {
	t.slots = nil
	t.n = 0
}
