package memory

import (
	"math"
	"unsafe"
)

// arena holds the strings of one shard's entries end to end, so that the
// entries themselves hold no pointers: the garbage collector then neither
// scans the tables nor visits a string per entry, and a full cache of a
// million sessions and users costs it next to nothing (with pointers, each
// collection walked them all, which slowed every login that allocated
// argon2id's memory meanwhile).
//
// Bytes are only ever appended past the end of buf, within its capacity,
// and never written again; when buf is full the live strings move to a new
// buffer. So a string made over buf with unsafe.String stays what it was
// for as long as anyone holds it (and keeps the buffer it points into
// alive), and a hit builds its strings without allocating.
type arena struct {
	buf []byte
}

// ref is a string in an arena, of at most maxText bytes.
type ref struct {
	off uint32
	n   uint16
}

// minArena is the smallest buffer an arena allocates.
const minArena = 256

// maxArena bounds an arena's buffer so that offsets fit a uint32.
const maxArena = math.MaxUint32

// fits reports whether n more bytes fit without moving the live strings.
func (a *arena) fits(n int) bool { return n <= cap(a.buf)-len(a.buf) }

// add appends s, which must fit.
func (a *arena) add(s string) ref {
	off := len(a.buf)
	a.buf = append(a.buf, s...) // within capacity: never reallocates
	return ref{off: uint32(off), n: uint16(len(s))}
}

// str returns the string r refers to, without copying it.
func (a *arena) str(r ref) string {
	if r.n == 0 {
		return ""
	}
	return unsafe.String(&a.buf[r.off], int(r.n))
}

// compact moves the strings that t's entries refer to (field picks an
// entry's ref) to a new buffer with room for extra more bytes and half as
// much again as is live (so that each byte is copied about twice, all told),
// and reports false, changing nothing, when that would not fit maxArena.
// Strings of removed entries are left behind.
func compact[K comparable, V any](a *arena, t *table[K, V], field func(*V) *ref, extra int) bool {
	live := 0
	for i := range t.slots {
		if s := &t.slots[i]; s.used() {
			live += int(field(&s.val).n)
		}
	}
	size := max(live+live/2+2*extra, minArena)
	if size > maxArena {
		return false
	}
	buf := make([]byte, 0, size)
	for i := range t.slots {
		if s := &t.slots[i]; s.used() {
			r := field(&s.val)
			off := len(buf)
			buf = append(buf, a.buf[r.off:r.off+uint32(r.n)]...)
			r.off = uint32(off)
		}
	}
	a.buf = buf
	return true
}
