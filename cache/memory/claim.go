package memory

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// DefaultMaxClaims is the default bound on unexpired claims.
const DefaultMaxClaims = 100_000

// ErrClaimsFull reports a Claims holding MaxEntries unexpired claims. It
// refuses a new claim rather than forget a live one, which would reopen a
// replay.
var ErrClaimsFull = errors.New("memory: replay guard full of unexpired claims")

// ClaimsOptions configures Claims. Zero values take the defaults.
type ClaimsOptions struct {
	// MaxEntries bounds the unexpired claims; default DefaultMaxClaims. A
	// claim costs about 110 bytes, whatever the length of its key.
	MaxEntries int
	// Now is the clock expiry is checked against; default time.Now.
	Now func() time.Time
}

// Claims is a latchkey.ReplayGuard in this process's memory, for a
// single node. It is kept apart from the session tables of Cache: a claim
// must never be evicted to make room, so a full Claims refuses new claims
// (ErrClaimsFull) instead. Expired claims are dropped as time passes, in
// expiry order, a little on every call.
//
// Claims do not outlive the process. A server that restarts forgets them,
// so a solution claimed before the restart could be used once more until
// it expires: pair Claims with captcha.PoWConfig.NotBefore set to the
// process start, and use a shared guard (Redis) for several nodes.
//
// Its methods never wait on anything but one lock held for a few map and
// heap operations, so they ignore their context. The zero value is not
// usable; call NewClaims.
type Claims struct {
	now func() time.Time
	max int

	mu sync.Mutex
	// live maps a key's SHA-256 to its claim's expiry (unix nanoseconds).
	live map[claimKey]int64
	// byExpiry holds the same claims as live, ordered by expiry.
	byExpiry claimHeap
}

var _ latchkey.ReplayGuard = (*Claims)(nil)

// NewClaims returns an empty replay guard.
func NewClaims(opts ClaimsOptions) *Claims {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxClaims
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Claims{now: opts.Now, max: opts.MaxEntries, live: make(map[claimKey]int64)}
}

// Claim records key until expires and reports whether it is the first
// unexpired claim of key. Keys are hashed: any length is fine. A claim
// whose expires is not after now records nothing and is never first. It
// fails with ErrClaimsFull when MaxEntries claims are live.
func (c *Claims) Claim(_ context.Context, key string, expires time.Time) (bool, error) {
	nowT := c.now()
	if !expires.After(nowT) {
		return false, nil
	}
	now, exp := nowT.UnixNano(), unixNano(expires)
	h := claimKey(sha256.Sum256([]byte(key)))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now)
	if _, ok := c.live[h]; ok {
		return false, nil
	}
	if len(c.live) >= c.max {
		return false, ErrClaimsFull
	}
	c.live[h] = exp
	heap.Push(&c.byExpiry, claim{key: h, expires: exp})
	return true, nil
}

// Len returns the number of unexpired claims.
func (c *Claims) Len() int {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now)
	return len(c.live)
}

// dropExpired removes the claims that expired at or before now. Each claim
// is pushed and popped once, so the cost is O(log n) amortised per claim.
// The caller holds mu.
func (c *Claims) dropExpired(now int64) {
	for len(c.byExpiry) > 0 && c.byExpiry[0].expires <= now {
		delete(c.live, heap.Pop(&c.byExpiry).(claim).key)
	}
	// After a burst of claims has expired, give the memory back.
	if len(c.byExpiry) == 0 && cap(c.byExpiry) > 1024 {
		c.byExpiry = nil
		c.live = make(map[claimKey]int64)
	}
}

// unixNano is t in unix nanoseconds, clamped to the int64 range (a time
// after 2262 never expires here, rather than wrap into the past).
func unixNano(t time.Time) int64 {
	switch {
	case t.After(maxNano):
		return math.MaxInt64
	case t.Before(minNano):
		return math.MinInt64
	}
	return t.UnixNano()
}

var (
	maxNano = time.Unix(0, math.MaxInt64)
	minNano = time.Unix(0, math.MinInt64)
)

// claimKey is the SHA-256 of a claimed key.
type claimKey [sha256.Size]byte

type claim struct {
	key     claimKey
	expires int64
}

// claimHeap is a min-heap of claims by expiry (container/heap).
type claimHeap []claim

func (h claimHeap) Len() int           { return len(h) }
func (h claimHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h claimHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *claimHeap) Push(x any)        { *h = append(*h, x.(claim)) }
func (h *claimHeap) Pop() any {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = claim{}
	*h = old[:n]
	return e
}
