package memory

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// DefaultMaxChallenges is the default bound on stored challenges.
const DefaultMaxChallenges = 100_000

// ErrChallengesFull reports a Challenges holding MaxEntries challenges
// that have not expired yet.
var ErrChallengesFull = errors.New("memory: challenge store full")

// ChallengesOptions configures Challenges. Zero values take the defaults.
type ChallengesOptions struct {
	// MaxEntries bounds the challenges kept, taken ones included until
	// they would have expired; default DefaultMaxChallenges.
	MaxEntries int
	// Now is the clock expiry is checked against; default time.Now.
	Now func() time.Time
}

// Challenges is a latchkey.ChallengeStore in this process's memory, for a
// single node: the state of the WebAuthn ceremonies begun here, gone
// after a restart (whose ceremonies the browser then starts again). A
// full store refuses new challenges (ErrChallengesFull) rather than drop
// a live one. Expired challenges are dropped as time passes, in expiry
// order, a little on every call.
//
// Its methods never wait on anything but one lock, so they ignore their
// context. The zero value is not usable; call NewChallenges.
type Challenges struct {
	now func() time.Time
	max int

	mu sync.Mutex
	// live maps a key's SHA-256 to its challenge.
	live map[claimKey]challenge
	// byExpiry holds every challenge put and not expired yet, taken or
	// not, ordered by expiry: its length is what MaxEntries bounds.
	byExpiry claimHeap
}

type challenge struct {
	value   []byte
	expires int64
}

var _ latchkey.ChallengeStore = (*Challenges)(nil)

// NewChallenges returns an empty challenge store.
func NewChallenges(opts ChallengesOptions) *Challenges {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxChallenges
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Challenges{now: opts.Now, max: opts.MaxEntries, live: make(map[claimKey]challenge)}
}

// Put stores a copy of value under key until expires. A value whose
// expires is not after now is not stored. It fails with
// ErrChallengesFull when MaxEntries challenges are kept.
func (c *Challenges) Put(_ context.Context, key string, value []byte, expires time.Time) error {
	now, exp := c.now().UnixNano(), unixNano(expires)
	if exp <= now {
		return nil
	}
	h := claimKey(sha256.Sum256([]byte(key)))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now)
	if len(c.byExpiry) >= c.max {
		return ErrChallengesFull
	}
	c.live[h] = challenge{value: append([]byte(nil), value...), expires: exp}
	heap.Push(&c.byExpiry, claim{key: h, expires: exp})
	return nil
}

// Take returns and deletes the value under key, unless it expired.
func (c *Challenges) Take(_ context.Context, key string) ([]byte, bool, error) {
	now := c.now().UnixNano()
	h := claimKey(sha256.Sum256([]byte(key)))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now)
	ch, ok := c.live[h]
	if !ok {
		return nil, false, nil
	}
	delete(c.live, h)
	if ch.expires <= now {
		return nil, false, nil
	}
	return ch.value, true, nil
}

// Len returns the number of challenges kept and not taken.
func (c *Challenges) Len() int {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(now)
	return len(c.live)
}

// dropExpired removes the challenges that expired at or before now. A
// key put again with a later expiry keeps its newer value: only the
// entry that expired goes. The caller holds mu.
func (c *Challenges) dropExpired(now int64) {
	for len(c.byExpiry) > 0 && c.byExpiry[0].expires <= now {
		e := heap.Pop(&c.byExpiry).(claim)
		if ch, ok := c.live[e.key]; ok && ch.expires <= now {
			delete(c.live, e.key)
		}
	}
	if len(c.byExpiry) == 0 && cap(c.byExpiry) > 1024 {
		c.byExpiry = nil
		c.live = make(map[claimKey]challenge)
	}
}
