// Package memory is the in-process throttle store: token buckets and
// failure counters in this process's memory, bounded in number and safe for
// use by many goroutines. It is the store of a single node, and the
// fallback a node counts in while a shared store (Redis) fails.
//
// Keys are not kept: each is reduced to 128 bits by two hashes seeded at
// random per Store, so that an entry costs the same whatever its key (about
// 64 bytes: BenchmarkMemoryPerEntry), and nobody outside can aim keys at one
// shard or one map bucket.
//
// Each shard holds a fixed share of MaxEntries. An entry is stale once it
// means no more than its absence (a bucket refilled, a count forgotten) and
// is dropped when next touched. Inserting into a full shard first sweeps
// its stale entries out, at most once per quarter of the shard's capacity
// of inserts so that the sweep costs O(1) amortised, and otherwise evicts,
// of a few entries sampled from a random place, the one that goes stale
// first: a flood of new keys displaces short-lived entries (a bucket a
// token short) before long-lived ones (a known client, a deep backoff).
package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
	"unsafe"

	"github.com/latchkeyhq/latchkey"
)

// DefaultMaxEntries is the default bound on entries.
const DefaultMaxEntries = 1_000_000

const (
	// maxShards bounds the shards; a power of two.
	maxShards = 256
	// minShardEntries keeps shards large enough that uneven filling
	// wastes little of MaxEntries: small stores get fewer shards.
	minShardEntries = 64
	// evictSample is how many entries an eviction looks at.
	evictSample = 8
	// cacheLine pads shards apart so that locking one never invalidates
	// the line holding its neighbour.
	cacheLine = 128
)

// Options configures a Store. Zero values take the defaults.
type Options struct {
	// MaxEntries bounds the entries kept; default DefaultMaxEntries. At
	// about 64 bytes an entry, 1,000,000 take about 64 MB.
	MaxEntries int
}

// Store is a latchkey.ThrottleStore in this process's memory. The zero
// value is not usable; call New.
//
// Its methods never wait on anything but a shard lock held for one map
// operation (or an amortised sweep), so they ignore their context.
type Store struct {
	seed1, seed2 maphash.Seed
	shards       []shard
	mask         uint64
}

var _ latchkey.ThrottleStore = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	n := 1
	for n < maxShards && opts.MaxEntries/(2*n) >= minShardEntries {
		n *= 2
	}
	s := &Store{
		seed1:  maphash.MakeSeed(),
		seed2:  maphash.MakeSeed(),
		shards: make([]shard, n),
		mask:   uint64(n - 1),
	}
	for i := range s.shards {
		// Shares that add up to exactly MaxEntries.
		limit := opts.MaxEntries / n
		if i < opts.MaxEntries%n {
			limit++
		}
		sh := &s.shards[i]
		sh.limit = limit
		sh.m = make(map[hkey]entry)
	}
	return s
}

// hkey is a key reduced to 128 bits.
type hkey [2]uint64

// entry is a bucket or a counter. Times are unix nanoseconds.
type entry struct {
	// at is a bucket's theoretical arrival time (when it is full again:
	// GCRA) or the time a counter's gate opens.
	at int64
	// stale is when the entry means no more than its absence.
	stale int64
	count int64
}

type shard struct {
	shardState
	_ [cacheLine - unsafe.Sizeof(shardState{})%cacheLine]byte
}

type shardState struct {
	mu    sync.Mutex
	m     map[hkey]entry
	limit int
	// untilSweep counts down the inserts before a full shard may again
	// sweep out every stale entry.
	untilSweep int
}

func (s *Store) locate(key string) (*shard, hkey) {
	k := hkey{maphash.String(s.seed1, key), maphash.String(s.seed2, key)}
	return &s.shards[k[0]&s.mask], k
}

// get returns k's entry when it is live at now, and drops it when stale.
// The caller holds sh.mu.
func (sh *shard) get(k hkey, now int64) (entry, bool) {
	e, ok := sh.m[k]
	if !ok {
		return entry{}, false
	}
	if e.stale <= now {
		delete(sh.m, k)
		return entry{}, false
	}
	return e, true
}

// put stores e at k, making room in a full shard when k is new. The caller
// holds sh.mu.
func (sh *shard) put(k hkey, e entry, now int64) {
	if _, ok := sh.m[k]; !ok && len(sh.m) >= sh.limit {
		sh.makeRoom(now)
	}
	sh.m[k] = e
}

// makeRoom drops stale entries, or failing that evicts one.
func (sh *shard) makeRoom(now int64) {
	if sh.untilSweep <= 0 {
		sh.untilSweep = sh.limit/4 + 1
		for k, e := range sh.m {
			if e.stale <= now {
				delete(sh.m, k)
			}
		}
		if len(sh.m) < sh.limit {
			return
		}
	}
	sh.untilSweep--
	// Map iteration starts at a random place: the first few entries are
	// a sample.
	var (
		victim hkey
		first  = int64(1<<63 - 1)
		i      int
	)
	for k, e := range sh.m {
		if e.stale < first {
			victim, first = k, e.stale
		}
		if i++; i == evictSample || first <= now {
			break
		}
	}
	delete(sh.m, victim)
}

// Take implements latchkey.ThrottleStore.Take as GCRA: the bucket is the
// time at which it will be full again.
func (s *Store) Take(_ context.Context, key string, b latchkey.Bucket, n int, now time.Time) (time.Duration, error) {
	t := now.UnixNano()
	every := int64(b.Every)
	sh, k := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat := t
	if e, ok := sh.get(k, t); ok && e.at > t {
		tat = e.at
	}
	next := tat + int64(n)*every
	if n > 0 {
		if over := next - t - int64(b.Burst)*every; over > 0 {
			return time.Duration(over), nil
		}
	}
	if next <= t {
		delete(sh.m, k) // full again
		return 0, nil
	}
	sh.put(k, entry{at: next, stale: next}, t)
	return 0, nil
}

// Add implements latchkey.ThrottleStore.Add.
func (s *Store) Add(_ context.Context, key string, b latchkey.Backoff, ttl time.Duration, now time.Time) (int, error) {
	t := now.UnixNano()
	sh, k := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, _ := sh.get(k, t)
	e.count++
	if d := int64(b.Delay(int(min(e.count, 1<<31)))); d > 0 && t+d > e.at {
		e.at = t + d
	}
	e.stale = max(e.stale, t+int64(ttl), e.at)
	sh.put(k, e, t)
	return int(e.count), nil
}

// Count implements latchkey.ThrottleStore.Count.
func (s *Store) Count(_ context.Context, key string, now time.Time) (int, error) {
	sh, k := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, _ := sh.get(k, now.UnixNano())
	return int(e.count), nil
}

// Enter implements latchkey.ThrottleStore.Enter.
func (s *Store) Enter(_ context.Context, key string, b latchkey.Backoff, now time.Time) (time.Duration, error) {
	t := now.UnixNano()
	sh, k := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.get(k, t)
	if !ok {
		return 0, nil // nothing counted: nothing to create
	}
	if t < e.at {
		return time.Duration(e.at - t), nil
	}
	if d := int64(b.Delay(int(min(e.count, 1<<31)))); d > 0 {
		e.at = t + d
		e.stale = max(e.stale, e.at)
		sh.m[k] = e
	}
	return 0, nil
}

// Reset implements latchkey.ThrottleStore.Reset.
func (s *Store) Reset(_ context.Context, key string) error {
	sh, k := s.locate(key)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
	return nil
}

// Len returns the number of entries kept, stale ones included until they
// are dropped.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
