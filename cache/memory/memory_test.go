package memory_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/cachetest"
	"github.com/latchkeyhq/latchkey/cache/memory"
)

func TestCache(t *testing.T) {
	tests := []struct {
		name       string
		maxEntries int
	}{
		{"default", 0},
		{"one shard", 100}, // the least the suite asks for
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
				return memory.New(memory.Options{MaxEntries: tt.maxEntries, Now: now})
			})
		})
	}
}

// clock is a fake clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// key returns the i-th of a sequence of well-spread digests, cheaply
// (splitmix64), without hashing.
func key(i uint64) latchkey.Digest {
	var d latchkey.Digest
	for k := 0; k < len(d); k += 8 {
		i += 0x9e3779b97f4a7c15
		z := i
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(d[k:], z^z>>31)
	}
	return d
}

// session returns a realistic session: a 22-character id, as the
// Authenticator issues.
func session(i uint64, now time.Time) latchkey.CachedSession {
	d := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, i))
	return latchkey.CachedSession{
		SessionID:  base64.RawURLEncoding.EncodeToString(d[:16]),
		UserID:     int64(i + 1),
		CreatedAt:  now.Add(-time.Hour),
		LastUsedAt: now.Add(-time.Minute),
		ExpiresAt:  now.Add(24 * time.Hour),
	}
}

func user(id int64, now time.Time) latchkey.User {
	return latchkey.User{
		ID:         id,
		Username:   fmt.Sprint("user", id),
		Email:      fmt.Sprintf("user%d@example.com", id),
		FirstName:  "First",
		LastName:   "Last",
		Active:     true,
		LastLogin:  now.Add(-time.Hour),
		DateJoined: now.Add(-100 * 24 * time.Hour),
	}
}

func TestBound(t *testing.T) {
	for _, max := range []int{1, 10, 100, 1000, 5000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			ctx := t.Context()
			clk := newClock()
			now := clk.Now()
			c := memory.New(memory.Options{MaxEntries: max, Now: clk.Now})
			check := func() {
				t.Helper()
				if s, u := c.Len(); s > max || u > max {
					t.Fatalf("Len() = %d sessions, %d users, want at most %d each", s, u, max)
				}
			}
			for i := range uint64(10 * max) {
				d := key(i)
				if err := c.PutSession(ctx, d, session(i, now)); err != nil {
					t.Fatal(err)
				}
				id := int64(key(i)[0]) | int64(i)<<8
				if err := c.PutUser(ctx, user(id, now)); err != nil {
					t.Fatal(err)
				}
				// An insert evicts some other entry, never itself.
				if _, ok, _ := c.Session(ctx, d); !ok {
					t.Fatalf("session %d missing right after PutSession", i)
				}
				if _, ok, _ := c.User(ctx, id); !ok {
					t.Fatalf("user %d missing right after PutUser", id)
				}
				if i%97 == 0 {
					check()
				}
			}
			// Ten times over, every shard has filled: the shards' shares
			// add up to exactly MaxEntries.
			if s, u := c.Len(); s != max || u != max {
				t.Errorf("Len() = %d sessions, %d users after %d inserts each, want %d each", s, u, 10*max, max)
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		// Puts, reads and deletes from several goroutines while the clock
		// moves, so that shards fill, sweep and evict under the race
		// detector.
		const max = 1000
		ctx := t.Context()
		clk := newClock()
		c := memory.New(memory.Options{MaxEntries: max, Now: clk.Now})
		var wg sync.WaitGroup
		for w := range uint64(4) {
			wg.Go(func() {
				for i := w << 32; i < w<<32+5000; i++ {
					now := clk.Now()
					s := session(i, now)
					s.ExpiresAt = now.Add(time.Duration(i%8) * time.Millisecond)
					c.PutSession(ctx, key(i), s)
					c.PutUser(ctx, user(int64(i), now))
					// The cache read its clock after this.
					before := clk.Now()
					if got, ok, _ := c.Session(ctx, key(i-i%7)); ok && !before.Before(got.ExpiresAt) {
						t.Errorf("session %d: hit at or after ExpiresAt", i-i%7)
						return
					}
					switch i % 10 {
					case 0:
						clk.Advance(time.Millisecond)
					case 1:
						c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{key(i - 1), key(i - 2)}})
					case 2:
						c.TouchSession(ctx, key(i-1), now.Add(time.Second))
					case 3:
						c.Invalidate(ctx, latchkey.Invalidation{Users: []int64{int64(i - 3)}})
					}
				}
			})
		}
		wg.Wait()
		if s, u := c.Len(); s > max || u > max {
			t.Fatalf("Len() = %d sessions, %d users, want at most %d each", s, u, max)
		}
	})
}

func TestExpiredDropped(t *testing.T) {
	t.Run("on read", func(t *testing.T) {
		ctx := t.Context()
		clk := newClock()
		c := memory.New(memory.Options{MaxEntries: 1000, Now: clk.Now})
		for i := range uint64(10) {
			s := session(i, clk.Now())
			s.ExpiresAt = clk.Now().Add(time.Minute)
			c.PutSession(ctx, key(i), s)
		}
		if n, _ := c.Len(); n != 10 {
			t.Fatalf("Len() = %d sessions, want 10", n)
		}
		clk.Advance(time.Minute)
		for i := range uint64(10) {
			if _, ok, _ := c.Session(ctx, key(i)); ok {
				t.Fatalf("session %d: hit after ExpiresAt", i)
			}
		}
		if n, _ := c.Len(); n != 0 {
			t.Errorf("Len() = %d sessions after reading expired ones, want 0", n)
		}
	})
	t.Run("on insert into a full shard", func(t *testing.T) {
		// 100 entries make one shard: the sweep must free the expired
		// half before any live entry is evicted.
		ctx := t.Context()
		clk := newClock()
		c := memory.New(memory.Options{MaxEntries: 100, Now: clk.Now})
		var live []uint64
		for i := range uint64(100) {
			s := session(i, clk.Now())
			if i%2 == 0 {
				s.ExpiresAt = clk.Now().Add(time.Minute)
			} else {
				live = append(live, i)
			}
			c.PutSession(ctx, key(i), s)
		}
		clk.Advance(2 * time.Minute)
		for i := range uint64(50) {
			c.PutSession(ctx, key(1000+i), session(1000+i, clk.Now()))
			live = append(live, 1000+i)
		}
		if n, _ := c.Len(); n != 100 {
			t.Errorf("Len() = %d sessions, want 100", n)
		}
		for _, i := range live {
			if _, ok, _ := c.Session(ctx, key(i)); !ok {
				t.Errorf("live session %d evicted while expired ones were held", i)
			}
		}
	})
}

func TestPurgeKeepsBound(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	c := memory.New(memory.Options{MaxEntries: 10, Now: clk.Now})
	for i := range uint64(100) {
		c.PutSession(ctx, key(i), session(i, clk.Now()))
		if i == 50 {
			c.Invalidate(ctx, latchkey.Invalidation{All: true})
		}
	}
	if s, _ := c.Len(); s != 10 {
		t.Errorf("Len() = %d sessions, want 10", s)
	}
}

// TestMemoryPerSession bounds what a cached session costs, generously: the
// numbers are for BenchmarkMemoryPerSession to report.
func TestMemoryPerSession(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 200,000 sessions")
	}
	for _, tt := range memoryCases {
		per := bytesPerSession(tt.limit, tt.puts)
		t.Logf("%s: %.0f bytes per cached session", tt.name, per)
		if per > 1024 {
			t.Errorf("%s: %.0f bytes per cached session, want at most 1024", tt.name, per)
		}
	}
}

// memoryCases measure a cache on its way to full (tables between half and
// three quarters empty, as after they last doubled) and a full one (tables
// at their final size, three quarters full).
var memoryCases = []struct {
	name        string
	limit, puts int
}{
	{"filling", 400_000, 200_000},
	{"full", 200_000, 400_000},
}

// bytesPerSession puts sessions into a new cache and returns the heap it
// grew by, per session held.
func bytesPerSession(limit, puts int) float64 {
	ctx := context.Background()
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := memory.New(memory.Options{MaxEntries: limit})
	for i := range uint64(puts) {
		c.PutSession(ctx, key(i), session(i, now))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held, _ := c.Len()
	runtime.KeepAlive(c)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(held)
}

// filled returns a cache holding n sessions, and their digests.
func filled(b *testing.B, n int) (*memory.Cache, []latchkey.Digest) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	c := memory.New(memory.Options{})
	ds := make([]latchkey.Digest, n)
	for i := range ds {
		ds[i] = key(uint64(i))
		if err := c.PutSession(ctx, ds[i], session(uint64(i), now)); err != nil {
			b.Fatal(err)
		}
		if err := c.PutUser(ctx, user(int64(i+1), now)); err != nil {
			b.Fatal(err)
		}
	}
	return c, ds
}

// benchSizes are the cache sizes hits are measured at: one that fits in the
// CPU's caches, where a hit costs its instructions, and one that does not,
// where it costs a trip to memory.
var benchSizes = []struct {
	name string
	n    int
}{
	{"1k", 1_000},
	{"100k", 100_000},
}

// benchHits runs hit(i) for i cycling over [0, n), serially and from
// GOMAXPROCS goroutines.
func benchHits(b *testing.B, n int, hit func(i int) bool) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !hit(i) {
				b.Fatal("miss")
			}
			if i++; i == n {
				i = 0
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var start atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(7919)) % n
			for pb.Next() {
				if !hit(i) {
					b.Error("miss")
					return
				}
				if i++; i == n {
					i = 0
				}
			}
		})
	})
}

func BenchmarkSessionHit(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			c, ds := filled(b, size.n)
			benchHits(b, size.n, func(i int) bool {
				_, ok, _ := c.Session(ctx, ds[i])
				return ok
			})
		})
	}
}

func BenchmarkUserHit(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			c, _ := filled(b, size.n)
			benchHits(b, size.n, func(i int) bool {
				_, ok, _ := c.User(ctx, int64(i+1))
				return ok
			})
		})
	}
}

// BenchmarkAuthenticateHit is what Authenticate asks of the cache on every
// request: the session, then its user.
func BenchmarkAuthenticateHit(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			c, ds := filled(b, size.n)
			benchHits(b, size.n, func(i int) bool {
				s, ok, _ := c.Session(ctx, ds[i])
				if !ok {
					return false
				}
				_, ok, _ = c.User(ctx, s.UserID)
				return ok
			})
		})
	}
}

func BenchmarkPutSession(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	s := session(0, now)
	b.Run("insert", func(b *testing.B) {
		// New digests into a cache with room (evicting once past
		// DefaultMaxEntries).
		b.ReportAllocs()
		c := memory.New(memory.Options{})
		i := uint64(0)
		for b.Loop() {
			c.PutSession(ctx, key(i), s)
			i++
		}
	})
	b.Run("replace", func(b *testing.B) {
		b.ReportAllocs()
		c := memory.New(memory.Options{})
		i := uint64(0)
		for b.Loop() {
			c.PutSession(ctx, key(i%100_000), s)
			i++
		}
	})
	b.Run("evict", func(b *testing.B) {
		// New digests into a full cache: every put evicts.
		b.ReportAllocs()
		c := memory.New(memory.Options{MaxEntries: 10_000})
		for i := range uint64(20_000) {
			c.PutSession(ctx, key(1<<40+i), s)
		}
		i := uint64(0)
		for b.Loop() {
			c.PutSession(ctx, key(i), s)
			i++
		}
	})
}

func BenchmarkMemoryPerSession(b *testing.B) {
	for _, tt := range memoryCases {
		b.Run(tt.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = bytesPerSession(tt.limit, tt.puts)
			}
			b.ReportMetric(per, "bytes/session")
		})
	}
}
