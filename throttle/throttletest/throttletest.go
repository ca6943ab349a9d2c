// Package throttletest is the conformance suite for
// latchkey.ThrottleStore. Every implementation runs it from its own tests,
// so that the in-process store and the shared one (Redis) give the limiter
// the same answers:
//
//	func TestStore(t *testing.T) {
//		throttletest.Run(t, func(t *testing.T) latchkey.ThrottleStore {
//			return memory.New(memory.Options{})
//		})
//	}
//
// The suite tests the interface contract only: nothing about bounds or
// speed, which belong to each implementation's own tests. It passes the
// time to every call; times and durations are whole milliseconds, which
// every store keeps exactly.
package throttletest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Open returns a new, empty store and releases it with t.Cleanup. A shared
// backend gives each call a namespace (a key prefix) of its own. The store
// must hold at least 100 entries without dropping a live one.
type Open func(t *testing.T) latchkey.ThrottleStore

// Run runs the conformance suite against stores made by open.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, latchkey.ThrottleStore)
	}{
		{"TakeBurstThenRate", testTakeBurstThenRate},
		{"TakeRefusedTakesNothing", testTakeRefusedTakesNothing},
		{"TakeRefund", testTakeRefund},
		{"TakeRefillsToBurstOnly", testTakeRefillsToBurstOnly},
		{"TakeClockBackwards", testTakeClockBackwards},
		{"AddCount", testAddCount},
		{"AddForgetsAfterTTL", testAddForgetsAfterTTL},
		{"EnterAbsentCreatesNothing", testEnterAbsentCreatesNothing},
		{"BackoffGate", testBackoffGate},
		{"BackoffCap", testBackoffCap},
		{"EnterReservesOnlyInBackoff", testEnterReservesOnlyInBackoff},
		{"CounterLivesWhileGateClosed", testCounterLivesWhileGateClosed},
		{"Reset", testReset},
		{"KeysIndependent", testKeysIndependent},
		{"ConcurrentTake", testConcurrentTake},
		{"ConcurrentEnter", testConcurrentEnter},
		{"ConcurrentAdd", testConcurrentAdd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tt.fn(t, s)
		})
	}
}

// start is a time the suite counts from: the real present to the
// millisecond, so that a store's server-side expiry (relative to its own
// clock) agrees with the times the suite passes.
func start() time.Time { return time.Now().Truncate(time.Millisecond) }

// Shapes the tests use. Durations are long enough that a store whose
// expiry runs on a real clock never drops a key the suite still uses.
var (
	bucket  = latchkey.Bucket{Burst: 3, Every: time.Minute}
	backoff = latchkey.Backoff{After: 2, Base: 10 * time.Second, Max: 80 * time.Second}
	ttl     = time.Hour
)

func take(t *testing.T, s latchkey.ThrottleStore, key string, b latchkey.Bucket, n int, now time.Time) time.Duration {
	t.Helper()
	w, err := s.Take(t.Context(), key, b, n, now)
	if err != nil {
		t.Fatalf("Take(%q, %d): %v", key, n, err)
	}
	if w < 0 {
		t.Fatalf("Take(%q, %d) = %v, want no negative wait", key, n, w)
	}
	return w
}

func mustTake(t *testing.T, s latchkey.ThrottleStore, key string, b latchkey.Bucket, now time.Time) {
	t.Helper()
	if w := take(t, s, key, b, 1, now); w != 0 {
		t.Fatalf("Take(%q) refused for %v, want taken", key, w)
	}
}

func wantWait(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: wait = %v, want %v", what, got, want)
	}
}

func add(t *testing.T, s latchkey.ThrottleStore, key string, b latchkey.Backoff, ttl time.Duration, now time.Time) int {
	t.Helper()
	n, err := s.Add(t.Context(), key, b, ttl, now)
	if err != nil {
		t.Fatalf("Add(%q): %v", key, err)
	}
	return n
}

func count(t *testing.T, s latchkey.ThrottleStore, key string, now time.Time) int {
	t.Helper()
	n, err := s.Count(t.Context(), key, now)
	if err != nil {
		t.Fatalf("Count(%q): %v", key, err)
	}
	return n
}

func enter(t *testing.T, s latchkey.ThrottleStore, key string, b latchkey.Backoff, now time.Time) time.Duration {
	t.Helper()
	w, err := s.Enter(t.Context(), key, b, now)
	if err != nil {
		t.Fatalf("Enter(%q): %v", key, err)
	}
	if w < 0 {
		t.Fatalf("Enter(%q) = %v, want no negative wait", key, w)
	}
	return w
}

func testTakeBurstThenRate(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	for i := range bucket.Burst {
		if w := take(t, s, "b", bucket, 1, now); w != 0 {
			t.Fatalf("take %d of a full bucket refused for %v", i+1, w)
		}
	}
	wantWait(t, "take from an empty bucket", take(t, s, "b", bucket, 1, now), bucket.Every)
	now = now.Add(20 * time.Second)
	wantWait(t, "take a third of a period later", take(t, s, "b", bucket, 1, now), 40*time.Second)
	now = now.Add(40 * time.Second)
	wantWait(t, "take a period later", take(t, s, "b", bucket, 1, now), 0)
	wantWait(t, "take again at once", take(t, s, "b", bucket, 1, now), bucket.Every)
}

func testTakeRefusedTakesNothing(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	for range bucket.Burst {
		take(t, s, "b", bucket, 1, now)
	}
	// Refusals while empty do not push the next token further away.
	for i := range 10 {
		wantWait(t, fmt.Sprintf("refusal %d", i), take(t, s, "b", bucket, 1, now), bucket.Every)
	}
	wantWait(t, "take when a token is back", take(t, s, "b", bucket, 1, now.Add(bucket.Every)), 0)
}

func testTakeRefund(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	for range bucket.Burst {
		take(t, s, "b", bucket, 1, now)
	}
	wantWait(t, "refund", take(t, s, "b", bucket, -1, now), 0)
	wantWait(t, "take the refunded token", take(t, s, "b", bucket, 1, now), 0)
	wantWait(t, "take again", take(t, s, "b", bucket, 1, now), bucket.Every)

	// A refund never fills a bucket past its burst.
	for range 10 {
		take(t, s, "full", bucket, -1, now)
	}
	for i := range bucket.Burst {
		if w := take(t, s, "full", bucket, 1, now); w != 0 {
			t.Fatalf("take %d after refunds to a full bucket refused for %v", i+1, w)
		}
	}
	wantWait(t, "take past the burst after refunds to a full bucket", take(t, s, "full", bucket, 1, now), bucket.Every)
}

func testTakeRefillsToBurstOnly(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	take(t, s, "b", bucket, 1, now)
	now = now.Add(24 * time.Hour)
	for range bucket.Burst {
		mustTake(t, s, "b", bucket, now)
	}
	wantWait(t, "take past the burst a day later", take(t, s, "b", bucket, 1, now), bucket.Every)
}

func testTakeClockBackwards(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	for range bucket.Burst {
		take(t, s, "b", bucket, 1, now)
	}
	// A node whose clock is behind sees the bucket no fuller.
	if w := take(t, s, "b", bucket, 1, now.Add(-time.Minute)); w < bucket.Every {
		t.Fatalf("take a minute in the past: wait = %v, want at least %v", w, bucket.Every)
	}
	wantWait(t, "take back in the present", take(t, s, "b", bucket, 1, now), bucket.Every)
}

func testAddCount(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	if n := count(t, s, "c", now); n != 0 {
		t.Fatalf("Count of an absent key = %d, want 0", n)
	}
	for want := 1; want <= 5; want++ {
		if n := add(t, s, "c", latchkey.Backoff{}, ttl, now); n != want {
			t.Fatalf("Add = %d, want %d", n, want)
		}
		now = now.Add(time.Minute)
	}
	if n := count(t, s, "c", now); n != 5 {
		t.Fatalf("Count = %d, want 5", n)
	}
	if w := enter(t, s, "c", latchkey.Backoff{}, now); w != 0 {
		t.Fatalf("Enter with no backoff: wait = %v, want 0", w)
	}
}

func testAddForgetsAfterTTL(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	add(t, s, "c", latchkey.Backoff{}, ttl, now)
	now = now.Add(ttl - time.Minute)
	add(t, s, "c", latchkey.Backoff{}, ttl, now)
	// The ttl runs from the last Add.
	now = now.Add(ttl - time.Millisecond)
	if n := count(t, s, "c", now); n != 2 {
		t.Fatalf("Count just before the ttl after the last Add = %d, want 2", n)
	}
	now = now.Add(time.Millisecond)
	if n := count(t, s, "c", now); n != 0 {
		t.Fatalf("Count at the ttl after the last Add = %d, want 0", n)
	}
	if n := add(t, s, "c", latchkey.Backoff{}, ttl, now); n != 1 {
		t.Fatalf("Add after forgetting = %d, want 1", n)
	}
}

func testEnterAbsentCreatesNothing(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	b := latchkey.Backoff{After: 0, Base: time.Minute, Max: time.Hour}
	for range 3 {
		if w := enter(t, s, "g", b, now); w != 0 {
			t.Fatalf("Enter an absent key: wait = %v, want 0", w)
		}
	}
	if n := count(t, s, "g", now); n != 0 {
		t.Fatalf("Count after Enter on an absent key = %d, want 0", n)
	}
}

func testBackoffGate(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	// Below After: no delay.
	add(t, s, "g", backoff, ttl, now)
	wantWait(t, "enter after 1 failure", enter(t, s, "g", backoff, now), 0)
	// The After-th failure closes the gate for Base.
	add(t, s, "g", backoff, ttl, now)
	wantWait(t, "enter after 2 failures", enter(t, s, "g", backoff, now), 10*time.Second)
	wantWait(t, "enter 4s later", enter(t, s, "g", backoff, now.Add(4*time.Second)), 6*time.Second)
	now = now.Add(10 * time.Second)
	wantWait(t, "enter when the gate opens", enter(t, s, "g", backoff, now), 0)
	// Passing reserved the next Base; the failure that follows doubles it.
	wantWait(t, "enter again at once", enter(t, s, "g", backoff, now), 10*time.Second)
	now = now.Add(time.Second)
	if n := add(t, s, "g", backoff, ttl, now); n != 3 {
		t.Fatalf("Add = %d, want 3", n)
	}
	wantWait(t, "enter after 3 failures", enter(t, s, "g", backoff, now), 20*time.Second)
}

func testBackoffCap(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 80 * time.Second, 80 * time.Second}
	for i, w := range want {
		add(t, s, "g", backoff, ttl, now)
		wantWait(t, fmt.Sprintf("enter after %d failures", i+1), enter(t, s, "g", backoff, now), w)
		if d := backoff.Delay(i + 1); d != w {
			t.Fatalf("Backoff.Delay(%d) = %v, want %v", i+1, d, w)
		}
	}
	// A long run of failures stays at the cap.
	for range 100 {
		add(t, s, "g", backoff, ttl, now)
	}
	wantWait(t, "enter after 107 failures", enter(t, s, "g", backoff, now), 80*time.Second)
}

func testEnterReservesOnlyInBackoff(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	add(t, s, "g", backoff, ttl, now)
	for i := range 5 {
		if w := enter(t, s, "g", backoff, now); w != 0 {
			t.Fatalf("enter %d below After: wait = %v, want 0", i+1, w)
		}
	}
	if n := count(t, s, "g", now); n != 1 {
		t.Fatalf("Count after Enter = %d, want 1 (Enter counts nothing)", n)
	}
}

func testCounterLivesWhileGateClosed(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	long := latchkey.Backoff{After: 1, Base: 2 * time.Hour, Max: 2 * time.Hour}
	add(t, s, "g", long, ttl, now)
	// The gate closes past the ttl: the counter lives until it opens.
	now = now.Add(ttl + time.Minute)
	wantWait(t, "enter past the ttl", enter(t, s, "g", long, now), time.Hour-time.Minute)
	if n := count(t, s, "g", now); n != 1 {
		t.Fatalf("Count while the gate is closed = %d, want 1", n)
	}
}

func testReset(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	for range 3 {
		add(t, s, "g", backoff, ttl, now)
	}
	if err := s.Reset(t.Context(), "g"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if n := count(t, s, "g", now); n != 0 {
		t.Fatalf("Count after Reset = %d, want 0", n)
	}
	wantWait(t, "enter after Reset", enter(t, s, "g", backoff, now), 0)
	if err := s.Reset(t.Context(), "absent"); err != nil {
		t.Fatalf("Reset an absent key: %v", err)
	}
	for range bucket.Burst {
		take(t, s, "b", bucket, 1, now)
	}
	if err := s.Reset(t.Context(), "b"); err != nil {
		t.Fatalf("Reset a bucket: %v", err)
	}
	wantWait(t, "take after Reset", take(t, s, "b", bucket, 1, now), 0)
}

func testKeysIndependent(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	keys := []string{"k", "k2", "K", "k:", "a:b|c", "{slot}", "with space", strings.Repeat("x", 200), "é"}
	for i, k := range keys {
		for range i + 1 {
			add(t, s, "c"+k, latchkey.Backoff{}, ttl, now)
		}
		for range bucket.Burst {
			take(t, s, "b"+k, bucket, 1, now)
		}
	}
	for i, k := range keys {
		if n := count(t, s, "c"+k, now); n != i+1 {
			t.Errorf("Count(%q) = %d, want %d", "c"+k, n, i+1)
		}
		if w := take(t, s, "b"+k, bucket, 1, now); w != bucket.Every {
			t.Errorf("Take(%q) wait = %v, want %v", "b"+k, w, bucket.Every)
		}
	}
}

func testConcurrentTake(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	b := latchkey.Bucket{Burst: 10, Every: time.Minute}
	var taken atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			w, err := s.Take(t.Context(), "b", b, 1, now)
			if err != nil {
				errs <- err
				return
			}
			if w == 0 {
				taken.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Take: %v", err)
	}
	if n := taken.Load(); n != int64(b.Burst) {
		t.Fatalf("50 concurrent takes from a bucket of %d: %d taken", b.Burst, n)
	}
}

func testConcurrentEnter(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	for range backoff.After {
		add(t, s, "g", backoff, ttl, now)
	}
	now = now.Add(backoff.Base)
	var passed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			w, err := s.Enter(t.Context(), "g", backoff, now)
			if err != nil {
				errs <- err
				return
			}
			if w == 0 {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Enter: %v", err)
	}
	if n := passed.Load(); n != 1 {
		t.Fatalf("20 concurrent attempts at an open gate in backoff: %d passed, want 1", n)
	}
}

func testConcurrentAdd(t *testing.T, s latchkey.ThrottleStore) {
	now := start()
	var wg sync.WaitGroup
	seen := make([]atomic.Bool, 51)
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			n, err := s.Add(t.Context(), "c", backoff, ttl, now)
			if err != nil {
				errs <- err
				return
			}
			if n < 1 || n > 50 || seen[n].Swap(true) {
				errs <- fmt.Errorf("Add returned %d twice or out of range", n)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := count(t, s, "c", now); n != 50 {
		t.Fatalf("Count after 50 concurrent Adds = %d, want 50", n)
	}
}
