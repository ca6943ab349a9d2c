// Package memory is the in-process cache, the embedded default: sessions by
// token digest and users by id, kept in this process's memory, bounded in
// number and safe for use by many goroutines.
//
// Every authenticated request does one Session and one User lookup, so
// those two are the design: a read lock on one of many shards and one probe
// into an open-addressing table, with no allocation. Shards are picked from
// the digest's bytes (already uniformly random) and from a mix of the user
// id, so that goroutines on different cores rarely meet on a lock. Entries
// are compact values (times as unix microseconds, the precision every store
// keeps) stored in the table's slots beside their keys, so that a hit on a
// cache too large for the CPU's caches costs one trip to memory.
//
// Each shard holds a fixed share of MaxEntries. Inserting into a full shard
// first drops its expired sessions, at most once per quarter of the shard's
// capacity of inserts so that the sweep costs O(1) amortised, and otherwise
// evicts by sampling: of a few entries from a random place, an expired one,
// or else the least recently used one. Reads never reorder anything, so a
// hit takes no write lock.
package memory

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"time"
	"unsafe"

	"github.com/latchkeyhq/latchkey"
)

// DefaultMaxEntries is the default bound on cached sessions, and
// separately on cached users.
const DefaultMaxEntries = 1_000_000

const (
	// maxShards bounds the shards of sessions, and of users. It is a
	// power of two no larger than 256, so that one digest byte picks a
	// session shard.
	maxShards = 256
	// minShardEntries keeps shards large enough that uneven filling
	// wastes little of MaxEntries: small caches get fewer shards.
	minShardEntries = 64
	// evictSample is how many entries an eviction looks at.
	evictSample = 5
	// cacheLine pads shards apart so that locking one never invalidates
	// the line holding its neighbour (128: adjacent-line prefetch).
	cacheLine = 128
)

// Options configures a Cache. Zero values take the defaults.
type Options struct {
	// MaxEntries bounds the cached sessions, and separately the cached
	// users; default DefaultMaxEntries. A cached session costs about 140
	// bytes in a full cache and up to about 180 in one still growing (see
	// BenchmarkMemoryPerSession), and its user about 90 more (a 40-byte
	// slot, a third of a slot free, and its text): 1,000,000 sessions of
	// as many users take about 220 MB, which the garbage collector does
	// not scan (see arena).
	MaxEntries int
	// Now is the clock session expiry is checked against; default time.Now.
	Now func() time.Time
}

// Cache is a latchkey.Cache in this process's memory. The zero value is
// not usable; call New.
//
// Its methods never wait on anything but a shard lock held for a few table
// operations, so they ignore their context: there is nothing to cancel,
// and an eviction must not be skipped because a request went away.
type Cache struct {
	now      func() time.Time
	sessions []sessionShard
	users    []userShard
	mask     uint64 // shards - 1
}

var _ latchkey.Cache = (*Cache)(nil)

// New returns an empty cache.
func New(opts Options) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n := shardCount(opts.MaxEntries)
	c := &Cache{
		now:      opts.Now,
		sessions: make([]sessionShard, n),
		users:    make([]userShard, n),
		mask:     uint64(n - 1),
	}
	for i := range n {
		// Shares that add up to exactly MaxEntries.
		limit := opts.MaxEntries / n
		if i < opts.MaxEntries%n {
			limit++
		}
		c.sessions[i].t = newTable[sessionKey, sessionEntry](limit, sessionHash)
		c.users[i].t = newTable[uint64, userEntry](limit, userHash)
	}
	return c
}

// shardCount returns the largest power of two up to maxShards that leaves
// each shard at least minShardEntries of max (and at least 1 shard).
func shardCount(max int) int {
	n := 1
	for n < maxShards && max/(2*n) >= minShardEntries {
		n *= 2
	}
	return n
}

// sessionShard is one lock and table of sessions, padded to its own cache
// lines.
type sessionShard struct {
	sessionShardState
	_ [cacheLine - unsafe.Sizeof(sessionShardState{})%cacheLine]byte
}

type sessionShardState struct {
	mu sync.RWMutex
	t  table[sessionKey, sessionEntry]
	a  arena // the session ids
	// untilSweep counts down the inserts before a full shard may again
	// sweep out every expired entry.
	untilSweep int
}

// sessionKey is a digest as four words, so that comparing two is four word
// comparisons. The zero key marks an empty slot: the all-zero digest, which
// no token hashes to in practice, is never cached.
type sessionKey struct{ a, b, c, d uint64 }

func keyOf(d latchkey.Digest) sessionKey {
	return sessionKey{
		binary.LittleEndian.Uint64(d[0:8]),
		binary.LittleEndian.Uint64(d[8:16]),
		binary.LittleEndian.Uint64(d[16:24]),
		binary.LittleEndian.Uint64(d[24:32]),
	}
}

// sessionEntry is a CachedSession with times as unix microseconds and
// its id in the shard's arena. With its key, a slot is 72 bytes.
type sessionEntry struct {
	user                       int64
	created, expires, lastUsed int64
	id                         ref
}

// userShard is one lock and table of users, padded to its own cache lines.
type userShard struct {
	userShardState
	_ [cacheLine - unsafe.Sizeof(userShardState{})%cacheLine]byte
}

type userShardState struct {
	mu sync.RWMutex
	t  table[uint64, userEntry]
	a  arena // the users' text
}

// userKey is the key of user id's entry: the id with its top bit flipped,
// so that the zero key, which marks an empty slot, stands for the id
// math.MinInt64, which no store hands out and which is never cached.
func userKey(id int64) uint64 { return uint64(id) ^ 1<<63 }

// userEntry is a User without its id (the key) and password hash. Its
// four strings are end to end in the shard's arena; ends marks where the
// first three end. With its key, a slot is 40 bytes.
type userEntry struct {
	lastLogin, dateJoined int64
	text                  ref
	ends                  [3]uint16
	active                bool
}

// sessionHash spreads digests over table slots. Digests are SHA-256
// outputs: any eight of their bytes are uniformly random already. Byte 0
// picks the shard; bytes 8 to 15 place the entry in the shard's table. A
// client can grind tokens to choose where its lookups start, but only
// sessions the server issued are ever inserted, so it cannot lengthen the
// runs it probes.
func sessionHash(k sessionKey) uint64 { return k.b }

// userHash mixes a user key (a sequential or strided id) into 64
// well-spread bits: the low ones pick the shard, the high ones the slot
// (splitmix64's finalizer).
func userHash(k uint64) uint64 {
	z := k * 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// sessionShard returns the shard of k: the one its digest's byte 0 picks.
func (c *Cache) sessionShard(k sessionKey) *sessionShard {
	return &c.sessions[k.a&c.mask]
}

// Session returns the live entry for d. An entry at or past its ExpiresAt
// is a miss, and is dropped.
func (c *Cache) Session(_ context.Context, d latchkey.Digest) (latchkey.CachedSession, bool, error) {
	now := c.now().UnixMicro()
	k := keyOf(d)
	sh := c.sessionShard(k)
	h := sessionHash(k)
	sh.mu.RLock()
	p := sh.t.get(h, k)
	if p == nil {
		sh.mu.RUnlock()
		return latchkey.CachedSession{}, false, nil
	}
	e := *p
	id := sh.a.str(e.id)
	sh.mu.RUnlock()
	if now >= e.expires {
		sh.mu.Lock()
		if p := sh.t.get(h, k); p != nil && now >= p.expires {
			sh.t.delete(h, k)
		}
		sh.mu.Unlock()
		return latchkey.CachedSession{}, false, nil
	}
	return latchkey.CachedSession{
		SessionID:  id,
		UserID:     e.user,
		CreatedAt:  fromMicro(e.created),
		ExpiresAt:  fromMicro(e.expires),
		LastUsedAt: fromMicro(e.lastUsed),
	}, true, nil
}

// PutSession caches s under d, replacing any entry. Times are kept at
// microsecond precision. An s already expired is not kept, and removes
// the entry it would have replaced.
// The all-zero digest is never cached (see sessionKey).
func (c *Cache) PutSession(_ context.Context, d latchkey.Digest, s latchkey.CachedSession) error {
	now := c.now().UnixMicro()
	e := sessionEntry{
		user:     s.UserID,
		created:  s.CreatedAt.UnixMicro(),
		expires:  s.ExpiresAt.UnixMicro(),
		lastUsed: s.LastUsedAt.UnixMicro(),
	}
	k := keyOf(d)
	if k == (sessionKey{}) {
		return nil
	}
	sh := c.sessionShard(k)
	h := sessionHash(k)
	if now >= e.expires {
		sh.mu.Lock()
		sh.t.delete(h, k)
		sh.mu.Unlock()
		return nil
	}
	sh.mu.Lock()
	if len(s.SessionID) > maxText ||
		!sh.a.fits(len(s.SessionID)) && !compact(&sh.a, &sh.t, sessionID, len(s.SessionID)) {
		sh.t.delete(h, k)
		sh.mu.Unlock()
		return nil
	}
	e.id = sh.a.add(s.SessionID)
	if p := sh.t.get(h, k); p != nil {
		*p = e
	} else {
		if sh.untilSweep > 0 {
			sh.untilSweep--
		}
		if sh.t.n >= sh.t.limit {
			sh.makeRoom(now)
		}
		sh.t.insert(h, k, e)
	}
	sh.mu.Unlock()
	return nil
}

// makeRoom frees at least one entry of a full shard. The caller holds the
// write lock.
func (sh *sessionShard) makeRoom(now int64) {
	t := &sh.t
	if sh.untilSweep <= 0 {
		sh.untilSweep = max(t.limit/4, 1)
		t.removeIf(func(e *sessionEntry) bool { return now >= e.expires })
		if t.n < t.limit {
			return
		}
	}
	// Of a few entries from a random place, the first expired one, or else
	// the least recently used.
	victim, oldest := -1, int64(0)
	i := rand.IntN(len(t.slots))
	for range min(evictSample, t.n) {
		i = t.next(i)
		e := &t.slots[i].val
		if now >= e.expires {
			victim = i
			break
		}
		if victim < 0 || e.lastUsed < oldest {
			victim, oldest = i, e.lastUsed
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	t.removeAt(victim)
}

// TouchSession moves the LastUsedAt of d's entry forward to at. It never
// moves it backward and never creates an entry.
func (c *Cache) TouchSession(_ context.Context, d latchkey.Digest, at time.Time) error {
	us := at.UnixMicro()
	k := keyOf(d)
	sh := c.sessionShard(k)
	sh.mu.Lock()
	if p := sh.t.get(sessionHash(k), k); p != nil && us > p.lastUsed {
		p.lastUsed = us
	}
	sh.mu.Unlock()
	return nil
}

// Invalidate drops the entries inv names; unknown ones are ignored. With
// inv.All it drops every entry and gives back the memory the tables had
// grown to. Nothing is shared, so there is nobody to announce it to.
func (c *Cache) Invalidate(_ context.Context, inv latchkey.Invalidation) error {
	if inv.All {
		c.purge()
		return nil
	}
	for _, d := range inv.Sessions {
		k := keyOf(d)
		sh := c.sessionShard(k)
		sh.mu.Lock()
		sh.t.delete(sessionHash(k), k)
		sh.mu.Unlock()
	}
	for _, id := range inv.Users {
		k := userKey(id)
		h := userHash(k)
		sh := &c.users[h&c.mask]
		sh.mu.Lock()
		sh.t.delete(h, k)
		sh.mu.Unlock()
	}
	return nil
}

// User returns the cached user id, without password hash.
func (c *Cache) User(_ context.Context, id int64) (latchkey.User, bool, error) {
	k := userKey(id)
	h := userHash(k)
	sh := &c.users[h&c.mask]
	sh.mu.RLock()
	p := sh.t.get(h, k)
	if p == nil {
		sh.mu.RUnlock()
		return latchkey.User{}, false, nil
	}
	e := *p
	text := sh.a.str(e.text)
	sh.mu.RUnlock()
	return latchkey.User{
		ID:         id,
		Username:   text[:e.ends[0]],
		Email:      text[e.ends[0]:e.ends[1]],
		FirstName:  text[e.ends[1]:e.ends[2]],
		LastName:   text[e.ends[2]:],
		Active:     e.active,
		LastLogin:  fromMicro(e.lastLogin),
		DateJoined: fromMicro(e.dateJoined),
	}, true, nil
}

// PutUser caches u without its password hash, replacing any entry. Times
// are kept at microsecond precision. A user of id math.MinInt64 is
// not cached (see userKey).
func (c *Cache) PutUser(_ context.Context, u latchkey.User) error {
	k := userKey(u.ID)
	if k == 0 {
		return nil
	}
	h := userHash(k)
	sh := &c.users[h&c.mask]
	n := len(u.Username) + len(u.Email) + len(u.FirstName) + len(u.LastName)
	e := userEntry{
		active:     u.Active,
		lastLogin:  u.LastLogin.UnixMicro(),
		dateJoined: u.DateJoined.UnixMicro(),
	}
	e.ends[0] = uint16(len(u.Username))
	e.ends[1] = e.ends[0] + uint16(len(u.Email))
	e.ends[2] = e.ends[1] + uint16(len(u.FirstName))
	sh.mu.Lock()
	if n > maxText || !sh.a.fits(n) && !compact(&sh.a, &sh.t, userText, n) {
		// Surely not a real user: not cached.
		sh.t.delete(h, k)
		sh.mu.Unlock()
		return nil
	}
	e.text = ref{off: uint32(len(sh.a.buf)), n: uint16(n)}
	sh.a.add(u.Username)
	sh.a.add(u.Email)
	sh.a.add(u.FirstName)
	sh.a.add(u.LastName)
	if p := sh.t.get(h, k); p != nil {
		*p = e
	} else {
		if sh.t.n >= sh.t.limit {
			// Users neither expire nor carry a use time: evict a
			// random one.
			sh.t.removeAt(sh.t.next(rand.IntN(len(sh.t.slots))))
		}
		sh.t.insert(h, k, e)
	}
	sh.mu.Unlock()
	return nil
}

// purge drops every entry and gives back the memory the tables had grown
// to.
func (c *Cache) purge() {
	for i := range c.sessions {
		sh := &c.sessions[i]
		sh.mu.Lock()
		sh.t.reset()
		sh.a = arena{}
		sh.untilSweep = 0
		sh.mu.Unlock()
	}
	for i := range c.users {
		sh := &c.users[i]
		sh.mu.Lock()
		sh.t.reset()
		sh.a = arena{}
		sh.mu.Unlock()
	}
}

// Ping reports that the cache answers, which it always does.
func (c *Cache) Ping(context.Context) error { return nil }

// Len returns how many sessions and users the cache holds, counting
// expired sessions not yet dropped. It is for tests and metrics: it takes
// every shard's lock in turn.
func (c *Cache) Len() (sessions, users int) {
	for i := range c.sessions {
		sh := &c.sessions[i]
		sh.mu.RLock()
		sessions += sh.t.n
		sh.mu.RUnlock()
	}
	for i := range c.users {
		sh := &c.users[i]
		sh.mu.RLock()
		users += sh.t.n
		sh.mu.RUnlock()
	}
	return sessions, users
}

// maxText bounds the text of an entry: a session id, or a user's four
// strings together, so that its length fits a ref. Anything longer is not
// cached.
const maxText = math.MaxUint16

// sessionID and userText pick an entry's ref, for compact.
func sessionID(e *sessionEntry) *ref { return &e.id }
func userText(e *userEntry) *ref     { return &e.text }

// fromMicro is the inverse of time.Time.UnixMicro, in UTC. The zero
// time.Time survives the round trip.
func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }
