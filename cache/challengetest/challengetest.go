// Package challengetest is the conformance suite for
// latchkey.ChallengeStore. Every implementation runs it from its own
// tests, so that the in-process store and a shared one (Redis) hand a
// challenge out once in the same way:
//
//	func TestChallenges(t *testing.T) {
//		challengetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ChallengeStore {
//			return memory.NewChallenges(memory.ChallengesOptions{Now: now})
//		})
//	}
//
// The suite tests the interface contract only: nothing about bounds,
// which belong to each implementation's own tests.
package challengetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Open returns a new, empty store that checks expiry against now, and
// releases it with t.Cleanup. A shared backend should give each call a
// namespace of its own (a key prefix or a flushed database).
type Open func(t *testing.T, now func() time.Time) latchkey.ChallengeStore

// Run runs the conformance suite against stores made by open.
//
// The clock passed to open starts at the real present and moves only when
// the suite moves it, so that a backend that also expires keys on its own
// clock (Redis PXAT) sees the same future. The one test that needs a
// challenge to expire waits, polling, for the backend to agree.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"PutTake", testPutTake},
		{"TakeOnce", testTakeOnce},
		{"Missing", testMissing},
		{"KeysIndependent", testKeysIndependent},
		{"PutReplaces", testPutReplaces},
		{"Expired", testExpired},
		{"ConcurrentTake", testConcurrentTake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func setup(t *testing.T, open Open) (latchkey.ChallengeStore, *clock) {
	t.Helper()
	c := new(clock)
	c.ns.Store(time.Now().UnixNano())
	return open(t, c.Now), c
}

func key(t *testing.T, i int) string { return fmt.Sprintf("webauthn:%s/%d", t.Name(), i) }

func put(t *testing.T, s latchkey.ChallengeStore, k string, v []byte, exp time.Time) {
	t.Helper()
	if err := s.Put(context.Background(), k, v, exp); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func take(t *testing.T, s latchkey.ChallengeStore, k string) ([]byte, bool) {
	t.Helper()
	v, ok, err := s.Take(context.Background(), k)
	if err != nil {
		t.Fatalf("Take(%q): %v", k, err)
	}
	return v, ok
}

func testPutTake(t *testing.T, open Open) {
	s, c := setup(t, open)
	// Any bytes, a NUL and invalid UTF-8 included, come back as they were.
	v := []byte("{\"challenge\":\"x\"}\x00\xff\xfe")
	put(t, s, key(t, 0), v, c.Now().Add(time.Minute))
	got, ok := take(t, s, key(t, 0))
	if !ok || !bytes.Equal(got, v) {
		t.Fatalf("Take = %q, %t; want %q, true", got, ok, v)
	}
}

func testTakeOnce(t *testing.T, open Open) {
	s, c := setup(t, open)
	put(t, s, key(t, 0), []byte("v"), c.Now().Add(time.Minute))
	if _, ok := take(t, s, key(t, 0)); !ok {
		t.Fatal("first Take: ok = false")
	}
	for i := range 3 {
		if v, ok := take(t, s, key(t, 0)); ok {
			t.Fatalf("Take %d of a taken challenge = %q, true", i+2, v)
		}
	}
}

func testMissing(t *testing.T, open Open) {
	s, _ := setup(t, open)
	if v, ok := take(t, s, key(t, 0)); ok {
		t.Fatalf("Take of a key never put = %q, true", v)
	}
}

func testKeysIndependent(t *testing.T, open Open) {
	s, c := setup(t, open)
	exp := c.Now().Add(time.Minute)
	for i := range 50 {
		put(t, s, key(t, i), []byte(fmt.Sprint(i)), exp)
	}
	for i := 49; i >= 0; i-- {
		v, ok := take(t, s, key(t, i))
		if !ok || string(v) != fmt.Sprint(i) {
			t.Fatalf("key %d: Take = %q, %t", i, v, ok)
		}
	}
}

func testPutReplaces(t *testing.T, open Open) {
	s, c := setup(t, open)
	put(t, s, key(t, 0), []byte("old"), c.Now().Add(time.Minute))
	put(t, s, key(t, 0), []byte("new"), c.Now().Add(2*time.Minute))
	if v, ok := take(t, s, key(t, 0)); !ok || string(v) != "new" {
		t.Fatalf("Take = %q, %t; want \"new\", true", v, ok)
	}
	if v, ok := take(t, s, key(t, 0)); ok {
		t.Fatalf("second Take = %q, true", v)
	}
}

func testExpired(t *testing.T, open Open) {
	s, c := setup(t, open)
	// Already expired: nothing to take.
	_ = s.Put(context.Background(), key(t, 0), []byte("v"), c.Now().Add(-time.Second))
	if v, ok := take(t, s, key(t, 0)); ok {
		t.Fatalf("Take of a challenge put expired = %q, true", v)
	}
	put(t, s, key(t, 1), []byte("v"), c.Now().Add(200*time.Millisecond))
	// The suite's clock, and the backend's own (Redis's), both pass the
	// expiry.
	c.Advance(time.Second)
	time.Sleep(300 * time.Millisecond)
	if v, ok := take(t, s, key(t, 1)); ok {
		t.Fatalf("Take after expiry = %q, true", v)
	}
}

func testConcurrentTake(t *testing.T, open Open) {
	s, c := setup(t, open)
	const goroutines, keys = 16, 30
	exp := c.Now().Add(time.Minute)
	for i := range keys {
		put(t, s, key(t, i), []byte("v"), exp)
	}
	var (
		wins [keys]atomic.Int32
		errs atomic.Int32
		wg   sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			for i := range keys {
				_, ok, err := s.Take(context.Background(), key(t, i))
				if err != nil {
					errs.Add(1)
				}
				if ok {
					wins[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := errs.Load(); n > 0 {
		t.Fatalf("%d takes failed", n)
	}
	for i := range keys {
		if n := wins[i].Load(); n != 1 {
			t.Errorf("key %d taken %d times, want 1", i, n)
		}
	}
}
