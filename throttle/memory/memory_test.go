package memory_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/throttle/memory"
	"github.com/latchkeyhq/latchkey/throttle/throttletest"
)

func TestStore(t *testing.T) {
	tests := []struct {
		name       string
		maxEntries int
	}{
		{"default", 0},
		{"one shard", 100}, // the least the suite asks for
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			throttletest.Run(t, func(t *testing.T) latchkey.ThrottleStore {
				return memory.New(memory.Options{MaxEntries: tt.maxEntries})
			})
		})
	}
}

var (
	bucket = latchkey.Bucket{Burst: 10, Every: 2 * time.Second}
	day    = 24 * time.Hour
)

// TestBound floods the store with new keys of every kind, from several
// goroutines, and checks that it never holds more than MaxEntries.
func TestBound(t *testing.T) {
	for _, max := range []int{1, 100, 1000, 20_000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			s := memory.New(memory.Options{MaxEntries: max})
			now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			const workers, perWorker = 4, 5000
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					ctx := t.Context()
					for i := range perWorker {
						k := fmt.Sprintf("%d-%d", w, i)
						s.Take(ctx, "b"+k, bucket, 1, now)
						s.Add(ctx, "c"+k, latchkey.Backoff{}, day, now)
						s.Enter(ctx, "e"+k, latchkey.Backoff{Base: time.Second}, now)
						s.Count(ctx, "n"+k, now)
					}
				})
			}
			wg.Wait()
			if n := s.Len(); n > max {
				t.Fatalf("after %d new keys: %d entries, want at most %d", workers*perWorker*2, n, max)
			}
			if max >= 1000 && s.Len() < max/2 {
				t.Fatalf("after a flood: %d entries of %d: the store does not fill", s.Len(), max)
			}
		})
	}
}

// TestStaleDropped checks that a full store drops its stale entries to
// make room before it evicts a live one, that a lookup drops a stale entry,
// and that a refilled bucket is not kept.
func TestStaleDropped(t *testing.T) {
	const max = 100 // one shard: which entries are where is known
	ctx := t.Context()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	t.Run("full store", func(t *testing.T) {
		s := memory.New(memory.Options{MaxEntries: max})
		for i := range max {
			s.Take(ctx, fmt.Sprint("old", i), bucket, 1, now)
		}
		// A bucket a token short is full again after Every: stale.
		later := now.Add(bucket.Every)
		for i := range max {
			s.Add(ctx, fmt.Sprint("new", i), latchkey.Backoff{}, day, later)
		}
		for i := range max {
			if n, _ := s.Count(ctx, fmt.Sprint("new", i), later); n != 1 {
				t.Fatalf("live entry new%d evicted while stale entries remained", i)
			}
		}
		if n := s.Len(); n != max {
			t.Fatalf("%d entries, want %d", n, max)
		}
	})

	t.Run("lookup", func(t *testing.T) {
		s := memory.New(memory.Options{MaxEntries: max})
		for i := range max / 2 {
			s.Add(ctx, fmt.Sprint("c", i), latchkey.Backoff{}, time.Minute, now)
		}
		later := now.Add(time.Minute)
		for i := range max / 2 {
			if n, _ := s.Count(ctx, fmt.Sprint("c", i), later); n != 0 {
				t.Fatalf("Count of a forgotten counter = %d, want 0", n)
			}
		}
		if n := s.Len(); n != 0 {
			t.Fatalf("after looking up every stale entry: %d entries, want 0", n)
		}
	})

	t.Run("refilled bucket", func(t *testing.T) {
		s := memory.New(memory.Options{MaxEntries: max})
		s.Take(ctx, "b", bucket, 1, now)
		s.Take(ctx, "b", bucket, -1, now)
		if n := s.Len(); n != 0 {
			t.Fatalf("after a take and its refund: %d entries, want 0", n)
		}
	})
}

func BenchmarkTake(b *testing.B) {
	s := memory.New(memory.Options{})
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	big := latchkey.Bucket{Burst: 1 << 20, Every: time.Nanosecond}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Take(b.Context(), "ip:203.0.113."+fmt.Sprint(i%256), big, 1, now)
			i++
		}
	})
}

// BenchmarkMemoryPerEntry reports the heap a full store takes per entry.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 200_000
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("p:%022d|2001:db8:%x::/64", i, i)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := memory.New(memory.Options{MaxEntries: n})
		for _, k := range keys {
			s.Add(b.Context(), k, latchkey.Backoff{}, day, now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(s.Len()), "B/entry")
		runtime.KeepAlive(s)
	}
}
