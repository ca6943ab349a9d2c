package api

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/latchkeyhq/latchkey"
)

// recentSlots is the size of a recent table: enough for the principals
// that ask again and again (every asset of a page load carries the same
// token), a few KiB of pointers.
const recentSlots = 1024

// formatted is what a recent table keeps: something formatted of a
// principal, which says whether it was made of exactly the principal at
// hand.
type formatted interface {
	is(latchkey.Principal) bool
}

// recent keeps the answers last formatted, one per slot, the slot chosen
// by the token's digest: a forward-auth answer's identity headers, a
// /v1/me answer's body. A slot's value is used only when it was made of
// exactly the principal at hand (is), so a changed email or name, or
// another token in the same slot, is formatted anew: the table saves work
// and never decides anything; the token check is made before it, every
// time. Values are never changed once made.
type recent[T any, PT interface {
	*T
	formatted
}] struct {
	slots [recentSlots]atomic.Pointer[T]
}

// of returns p's value, made by make when the slot holds none of p.
func (t *recent[T, PT]) of(p latchkey.Principal, make func(latchkey.Principal) PT) PT {
	slot := &t.slots[binary.LittleEndian.Uint16(p.Digest[:2])%recentSlots]
	if v := PT(slot.Load()); v != nil && v.is(p) {
		return v
	}
	v := make(p)
	slot.Store((*T)(v))
	return v
}
