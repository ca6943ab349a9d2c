package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/challengetest"
	"github.com/latchkeyhq/latchkey/cache/guardtest"
	"github.com/latchkeyhq/latchkey/cache/memory"
)

func TestClaims(t *testing.T) {
	guardtest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ReplayGuard {
		return memory.NewClaims(memory.ClaimsOptions{Now: now})
	})
}

// claimClock is a fake clock for the claim tests, safe for concurrent use.
type claimClock struct{ ns atomic.Int64 }

func newClaimClock() *claimClock {
	c := new(claimClock)
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *claimClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *claimClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func mustClaim(t *testing.T, g *memory.Claims, key string, expires time.Time) bool {
	t.Helper()
	first, err := g.Claim(context.Background(), key, expires)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	return first
}

// TestClaimsBound checks that a full guard refuses new claims, never
// forgets a live one, and takes claims again once some have expired.
func TestClaimsBound(t *testing.T) {
	c := newClaimClock()
	g := memory.NewClaims(memory.ClaimsOptions{MaxEntries: 3, Now: c.Now})
	ctx := context.Background()
	for i := range 3 {
		if !mustClaim(t, g, fmt.Sprint("k", i), c.Now().Add(time.Duration(i+1)*time.Minute)) {
			t.Fatalf("k%d: first = false", i)
		}
	}
	first, err := g.Claim(ctx, "k3", c.Now().Add(time.Hour))
	if !errors.Is(err, memory.ErrClaimsFull) || first {
		t.Fatalf("claim into a full guard = %v, %v; want false, ErrClaimsFull", first, err)
	}
	// Full, but the live claims still answer: no replay reopens.
	for i := range 3 {
		if mustClaim(t, g, fmt.Sprint("k", i), c.Now().Add(time.Hour)) {
			t.Fatalf("k%d in a full guard: first = true", i)
		}
	}
	// k0 expires: there is room for one.
	c.Advance(time.Minute)
	if !mustClaim(t, g, "k3", c.Now().Add(time.Hour)) {
		t.Fatal("k3 after k0 expired: first = false")
	}
	if _, err := g.Claim(ctx, "k4", c.Now().Add(time.Hour)); !errors.Is(err, memory.ErrClaimsFull) {
		t.Fatalf("k4: err = %v, want ErrClaimsFull", err)
	}
	if n := g.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
}

// TestClaimsDropExpired checks that expired claims are dropped as time
// passes, and that a dropped key can be claimed again.
func TestClaimsDropExpired(t *testing.T) {
	c := newClaimClock()
	g := memory.NewClaims(memory.ClaimsOptions{Now: c.Now})
	const n = 1000
	start := c.Now()
	// Expiries in shuffled order: i-th second for key i*7 mod n.
	for i := range n {
		j := i * 7 % n
		if !mustClaim(t, g, fmt.Sprint("k", j), start.Add(time.Duration(j+1)*time.Second)) {
			t.Fatalf("k%d: first = false", j)
		}
	}
	for _, step := range []int{1, 10, 250, 999, 1000} {
		c.ns.Store(start.Add(time.Duration(step) * time.Second).UnixNano())
		if got, want := g.Len(), n-step; got != want {
			t.Fatalf("after %ds: Len = %d, want %d", step, got, want)
		}
	}
	if !mustClaim(t, g, "k0", c.Now().Add(time.Second)) {
		t.Fatal("k0 after expiry: first = false")
	}
}

// TestClaimsExpiredArgument checks that a claim already expired records
// nothing.
func TestClaimsExpiredArgument(t *testing.T) {
	c := newClaimClock()
	g := memory.NewClaims(memory.ClaimsOptions{MaxEntries: 1, Now: c.Now})
	for _, exp := range []time.Time{c.Now(), c.Now().Add(-time.Hour), {}} {
		if mustClaim(t, g, "k", exp) {
			t.Fatalf("claim expiring %v: first = true", exp)
		}
	}
	if n := g.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}

// TestClaimsFarFuture checks that an expiry beyond what unix nanoseconds
// hold is kept, not wrapped into the past.
func TestClaimsFarFuture(t *testing.T) {
	c := newClaimClock()
	g := memory.NewClaims(memory.ClaimsOptions{Now: c.Now})
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if !mustClaim(t, g, "k", far) || mustClaim(t, g, "k", far) {
		t.Fatal("want first, then not")
	}
	c.Advance(100 * 365 * 24 * time.Hour)
	if mustClaim(t, g, "k", far) {
		t.Fatal("a claim until 3000 expired within a century")
	}
}

// TestClaimsKeys checks that keys of any length, the empty one
// included, are claimed once.
func TestClaimsKeys(t *testing.T) {
	c := newClaimClock()
	g := memory.NewClaims(memory.ClaimsOptions{Now: c.Now})
	exp := c.Now().Add(time.Minute)
	for _, k := range []string{"", "k", strings.Repeat("k", 4096)} {
		if !mustClaim(t, g, k, exp) || mustClaim(t, g, k, exp) {
			t.Fatalf("key of %d bytes: want first, then not", len(k))
		}
	}
}

func BenchmarkClaim(b *testing.B) {
	g := memory.NewClaims(memory.ClaimsOptions{})
	exp := time.Now().Add(time.Hour)
	keys := make([]string, memory.DefaultMaxClaims)
	for i := range keys {
		keys[i] = fmt.Sprintf("captcha:pow:%064x", i)
	}
	for i := 0; b.Loop(); i++ {
		if i%len(keys) == 0 {
			g = memory.NewClaims(memory.ClaimsOptions{})
		}
		g.Claim(context.Background(), keys[i%len(keys)], exp)
	}
}

func TestChallenges(t *testing.T) {
	challengetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ChallengeStore {
		return memory.NewChallenges(memory.ChallengesOptions{Now: now})
	})
}

// TestChallengesBound checks that a full store refuses new challenges
// and takes them again once some have expired.
func TestChallengesBound(t *testing.T) {
	c := newClaimClock()
	s := memory.NewChallenges(memory.ChallengesOptions{MaxEntries: 2, Now: c.Now})
	ctx := context.Background()
	for i := range 2 {
		if err := s.Put(ctx, fmt.Sprint("k", i), []byte("v"), c.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Put k%d: %v", i, err)
		}
	}
	if err := s.Put(ctx, "k2", []byte("v"), c.Now().Add(time.Minute)); !errors.Is(err, memory.ErrChallengesFull) {
		t.Fatalf("Put into a full store = %v, want ErrChallengesFull", err)
	}
	if _, ok, _ := s.Take(ctx, "k0"); !ok {
		t.Fatal("Take k0 from a full store: ok = false")
	}
	c.Advance(2 * time.Minute)
	if err := s.Put(ctx, "k2", []byte("v"), c.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Put after expiry: %v", err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}
