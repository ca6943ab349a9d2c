// Package guardtest is the conformance suite for latchkey.ReplayGuard.
// Every implementation runs it from its own tests, so that the in-process
// guard and a shared one (Redis) accept a proof once in the same way:
//
//	func TestClaims(t *testing.T) {
//		guardtest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ReplayGuard {
//			return memory.NewClaims(memory.ClaimsOptions{Now: now})
//		})
//	}
//
// The suite tests the interface contract only: nothing about bounds,
// which belong to each implementation's own tests.
package guardtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Open returns a new, empty guard that checks expiry against now, and
// releases it with t.Cleanup. A shared backend should give each call a
// namespace of its own (a key prefix or a flushed database).
type Open func(t *testing.T, now func() time.Time) latchkey.ReplayGuard

// Run runs the conformance suite against guards made by open.
//
// The clock passed to open starts at the real present and moves only when
// the suite moves it, so that a backend that also expires keys on its own
// clock (Redis PXAT) sees the same future. The one test that needs a claim
// to expire waits, polling, for the backend to agree (at most a few
// seconds, for a backend on real time).
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"FirstClaimOnly", testFirstClaimOnly},
		{"KeysIndependent", testKeysIndependent},
		{"ClaimAfterExpiry", testClaimAfterExpiry},
		{"ExpiredClaimNotFirst", testExpiredClaimNotFirst},
		{"LaterExpiryDoesNotReopen", testLaterExpiryDoesNotReopen},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// clock is a fake clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func setup(t *testing.T, open Open) (latchkey.ReplayGuard, *clock) {
	t.Helper()
	c := newClock()
	return open(t, c.Now), c
}

// key returns a key shaped like the proof-of-work claims: a prefix and 64
// hex digits.
func key(t *testing.T, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", t.Name(), i))
	return "captcha:pow:" + hex.EncodeToString(sum[:])
}

func claim(t *testing.T, g latchkey.ReplayGuard, k string, expires time.Time) bool {
	t.Helper()
	first, err := g.Claim(context.Background(), k, expires)
	if err != nil {
		t.Fatalf("Claim(%q): %v", k, err)
	}
	return first
}

func testFirstClaimOnly(t *testing.T, open Open) {
	g, c := setup(t, open)
	k, exp := key(t, 0), c.Now().Add(time.Minute)
	if !claim(t, g, k, exp) {
		t.Fatal("first claim: first = false")
	}
	for i := range 3 {
		if claim(t, g, k, exp) {
			t.Fatalf("claim %d of the same key: first = true", i+2)
		}
	}
}

func testKeysIndependent(t *testing.T, open Open) {
	g, c := setup(t, open)
	exp := c.Now().Add(time.Minute)
	for i := range 100 {
		if !claim(t, g, key(t, i), exp) {
			t.Fatalf("key %d: first = false", i)
		}
	}
	for i := range 100 {
		if claim(t, g, key(t, i), exp) {
			t.Fatalf("key %d again: first = true", i)
		}
	}
}

func testClaimAfterExpiry(t *testing.T, open Open) {
	g, c := setup(t, open)
	k := key(t, 0)
	if !claim(t, g, k, c.Now().Add(200*time.Millisecond)) {
		t.Fatal("first claim: first = false")
	}
	if claim(t, g, k, c.Now().Add(time.Minute)) {
		t.Fatal("claim before expiry: first = true")
	}
	c.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for !claim(t, g, k, c.Now().Add(time.Minute)) {
		if time.Now().After(deadline) {
			t.Fatal("claim after expiry: still not first")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if claim(t, g, k, c.Now().Add(time.Minute)) {
		t.Fatal("second claim after expiry: first = true")
	}
}

// testExpiredClaimNotFirst: a claim whose expiry has passed guards
// nothing. It must not be first; it may record nothing, or fail.
func testExpiredClaimNotFirst(t *testing.T, open Open) {
	g, c := setup(t, open)
	k := key(t, 0)
	for _, exp := range []time.Time{c.Now().Add(-time.Second), {}} {
		if first, _ := g.Claim(context.Background(), k, exp); first {
			t.Fatalf("claim expiring %v: first = true", exp)
		}
	}
	if !claim(t, g, k, c.Now().Add(time.Minute)) {
		t.Fatal("live claim after an expired one: first = false")
	}
}

func testLaterExpiryDoesNotReopen(t *testing.T, open Open) {
	g, c := setup(t, open)
	k := key(t, 0)
	if !claim(t, g, k, c.Now().Add(time.Hour)) {
		t.Fatal("first claim: first = false")
	}
	// A second claim with a shorter expiry must not shorten the first.
	if claim(t, g, k, c.Now().Add(time.Second)) {
		t.Fatal("second claim: first = true")
	}
	c.Advance(time.Minute)
	if claim(t, g, k, c.Now().Add(time.Hour)) {
		t.Fatal("claim after the second claim's expiry: first = true")
	}
}

func testConcurrent(t *testing.T, open Open) {
	g, c := setup(t, open)
	const goroutines, keys = 16, 50
	exp := c.Now().Add(time.Minute)
	var (
		firsts   [keys]atomic.Int32
		wg       sync.WaitGroup
		errs     atomic.Int32
		firstErr atomic.Value
	)
	for range goroutines {
		wg.Go(func() {
			for i := range keys {
				first, err := g.Claim(context.Background(), key(t, i), exp)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				if first {
					firsts[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := errs.Load(); n > 0 {
		t.Fatalf("%d claims failed, the first with: %v", n, firstErr.Load())
	}
	for i := range keys {
		if n := firsts[i].Load(); n != 1 {
			t.Errorf("key %d: %d first claims, want 1", i, n)
		}
	}
}
