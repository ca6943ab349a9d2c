package throttle_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	cacheredis "github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/throttle"
	"github.com/latchkeyhq/latchkey/throttle/memory"
	"github.com/latchkeyhq/latchkey/throttle/redis"
)

// clock is a fake clock, safe for concurrent use. It starts at the real
// present, to the millisecond, so that Redis's own expiry agrees with it.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	c.ns.Store(time.Now().Truncate(time.Millisecond).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// openRedis returns a store on the test Redis, through the client a node
// opens, under a key prefix of its own that is cleaned when the test ends.
func openRedis(t *testing.T) latchkey.ThrottleStore {
	t.Helper()
	url := redistest.URL(t)
	c, err := cacheredis.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return redis.New(c, redis.Options{Prefix: redistest.Prefix(t, url)})
}

// forEachStore runs fn against a limiter on each store: memory always,
// Redis when the tests have one.
func forEachStore(t *testing.T, cfg throttle.Config, fn func(t *testing.T, l *throttle.Limiter, clk *clock)) {
	stores := []struct {
		name string
		open func(t *testing.T) latchkey.ThrottleStore
	}{
		{"memory", func(*testing.T) latchkey.ThrottleStore { return memory.New(memory.Options{}) }},
		{"redis", openRedis},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			clk := newClock()
			cfg := cfg
			cfg.Now = clk.Now
			cfg.Timeout = 5 * time.Second // a slow CI machine is not a failing store
			l, err := throttle.New(s.open(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, l, clk)
		})
	}
}

var ctx = context.Background()

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// nthAddr returns a distinct IPv4 address for each i.
func nthAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// loose lifts the limits a test is not about out of the way.
func loose() throttle.Config {
	return throttle.Config{
		IP:      latchkey.Bucket{Burst: 1_000_000, Every: time.Millisecond},
		Account: latchkey.Bucket{Burst: 1_000_000, Every: time.Millisecond},
		Known:   latchkey.Bucket{Burst: 1_000_000, Every: time.Millisecond},
	}
}

// mustPass checks that an attempt goes ahead, and records its outcome.
func mustPass(t *testing.T, l *throttle.Limiter, user string, ip netip.Addr, o latchkey.Outcome) {
	t.Helper()
	if err := l.Check(ctx, user, ip); err != nil {
		t.Fatalf("Check(%q, %v): %v, want nil", user, ip, err)
	}
	if err := l.Record(ctx, user, ip, o); err != nil {
		t.Fatalf("Record(%q, %v, %v): %v", user, ip, o, err)
	}
}

// mustRefuse checks that an attempt is throttled by limit, for wait.
func mustRefuse(t *testing.T, l *throttle.Limiter, user string, ip netip.Addr, limit throttle.Limit, wait time.Duration) {
	t.Helper()
	err := l.Check(ctx, user, ip)
	if err == nil {
		t.Fatalf("Check(%q, %v) = nil, want refused by %s", user, ip, limit)
	}
	var e *latchkey.Error
	if !errors.As(err, &e) || e.Kind != latchkey.KindThrottled || !errors.Is(err, latchkey.ErrThrottled) {
		t.Fatalf("Check(%q, %v) = %v, want a throttled error", user, ip, err)
	}
	if r := latchkey.ThrottleReason(err); r != string(limit) {
		t.Fatalf("Check(%q, %v): refused by %q, want %q", user, ip, r, limit)
	}
	if wait >= 0 && e.RetryAfter != wait {
		t.Fatalf("Check(%q, %v): RetryAfter = %v, want %v", user, ip, e.RetryAfter, wait)
	}
}

func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var e *latchkey.Error
	if !errors.As(err, &e) || e.Kind != latchkey.KindThrottled {
		t.Fatalf("%v: want a throttled error", err)
	}
	return e.RetryAfter
}

func TestIPRate(t *testing.T) {
	cfg := loose()
	cfg.IP = latchkey.Bucket{} // the default: 30 a minute, burst 10
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("203.0.113.7")
		// Whatever the outcome, and whichever the username.
		outcomes := []latchkey.Outcome{latchkey.OutcomeSuccess, latchkey.OutcomeFailure, latchkey.OutcomeAbandoned}
		for i := range 10 {
			mustPass(t, l, fmt.Sprint("user", i), ip, outcomes[i%3])
		}
		mustRefuse(t, l, "user10", ip, throttle.LimitIP, 2*time.Second)
		mustRefuse(t, l, "user10", ip, throttle.LimitIP, 2*time.Second)
		// Another address is another client.
		mustPass(t, l, "user10", addr("203.0.113.8"), latchkey.OutcomeFailure)
		clk.Advance(2 * time.Second)
		mustPass(t, l, "user10", ip, latchkey.OutcomeSuccess)
		mustRefuse(t, l, "user11", ip, throttle.LimitIP, 2*time.Second)
		// A minute restores 30 attempts, but the burst caps them at 10.
		clk.Advance(time.Minute)
		for i := range 10 {
			mustPass(t, l, fmt.Sprint("later", i), ip, latchkey.OutcomeSuccess)
		}
		mustRefuse(t, l, "later10", ip, throttle.LimitIP, 2*time.Second)
	})
}

// TestChallengeRate checks the bucket of captcha challenges: per address,
// apart from the login attempts, IPv6 clients by network.
func TestChallengeRate(t *testing.T) {
	cfg := loose()
	cfg.IP = latchkey.Bucket{Burst: 1, Every: time.Hour}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		refused := func(ip netip.Addr, wait time.Duration) {
			t.Helper()
			err := l.CheckChallenge(ctx, ip)
			if got := retryAfter(t, err); got != wait || latchkey.ThrottleReason(err) != string(throttle.LimitChallenge) {
				t.Fatalf("CheckChallenge(%v) = %v (RetryAfter %v), want refused by %s for %v", ip, err, got, throttle.LimitChallenge, wait)
			}
		}
		ip := addr("203.0.113.7")
		for i := range 10 { // the default: 30 a minute, burst 10
			if err := l.CheckChallenge(ctx, ip); err != nil {
				t.Fatalf("challenge %d: %v", i, err)
			}
		}
		refused(ip, 2*time.Second)
		// The login attempts are counted apart, both ways.
		mustPass(t, l, "alice", ip, latchkey.OutcomeSuccess)
		mustRefuse(t, l, "alice", ip, throttle.LimitIP, time.Hour)
		refused(ip, 2*time.Second)
		// Another address is another client; an IPv6 network is one.
		if err := l.CheckChallenge(ctx, addr("203.0.113.8")); err != nil {
			t.Fatalf("another address: %v", err)
		}
		for i := range 10 {
			if err := l.CheckChallenge(ctx, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})); err != nil {
				t.Fatalf("IPv6 challenge %d: %v", i, err)
			}
		}
		refused(addr("2001:db8::ff"), 2*time.Second)
		clk.Advance(2 * time.Second)
		if err := l.CheckChallenge(ctx, ip); err != nil {
			t.Fatalf("after 2s: %v", err)
		}
		refused(ip, 2*time.Second)
	})
}

func TestRetryAfterRoundedUp(t *testing.T) {
	cfg := loose()
	cfg.IP = latchkey.Bucket{Burst: 1, Every: 2500 * time.Millisecond}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("198.51.100.1")
		mustPass(t, l, "u", ip, latchkey.OutcomeSuccess)
		steps := []struct {
			advance time.Duration
			want    time.Duration
			detail  string
		}{
			{0, 3 * time.Second, "Too many attempts; retry in 3 seconds."},
			{500 * time.Millisecond, 2 * time.Second, "Too many attempts; retry in 2 seconds."},
			{time.Millisecond, 2 * time.Second, "Too many attempts; retry in 2 seconds."},
			{999 * time.Millisecond, time.Second, "Too many attempts; retry in 1 second."},
			{999 * time.Millisecond, time.Second, "Too many attempts; retry in 1 second."},
		}
		for _, s := range steps {
			clk.Advance(s.advance)
			err := l.Check(ctx, "u", ip)
			if got := retryAfter(t, err); got != s.want {
				t.Fatalf("RetryAfter = %v, want %v", got, s.want)
			}
			if d := latchkey.AsError(err).Detail; d != s.detail {
				t.Fatalf("Detail = %q, want %q", d, s.detail)
			}
		}
		clk.Advance(time.Millisecond) // 2.5s in all
		mustPass(t, l, "u", ip, latchkey.OutcomeSuccess)
	})
}

func TestBackoff(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip, other := addr("192.0.2.1"), addr("192.0.2.2")
		for range 5 {
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		// After the 5th failure, 1s, doubling up to 15 minutes.
		for n := 5; n < 20; n++ {
			want := min(time.Second<<(n-5), 15*time.Minute)
			mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, want)
			// Another address, and another username, are not delayed.
			mustPass(t, l, "alice", other, latchkey.OutcomeAbandoned)
			mustPass(t, l, "bob", ip, latchkey.OutcomeAbandoned)
			clk.Advance(want - time.Millisecond)
			mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
			clk.Advance(time.Millisecond)
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		// A success ends it: five failures are free again.
		clk.Advance(15 * time.Minute)
		mustPass(t, l, "alice", ip, latchkey.OutcomeSuccess)
		for range 5 {
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
		// It is forgotten a day after the last failure.
		clk.Advance(24 * time.Hour)
		for range 5 {
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
	})
}

// TestBackoffAbandoned checks that an attempt in backoff that was let
// through and then abandoned leaves the delay where it was.
func TestBackoffAbandoned(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("192.0.2.1")
		for range 6 {
			clk.Advance(time.Hour)
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		clk.Advance(2 * time.Second)
		mustPass(t, l, "alice", ip, latchkey.OutcomeAbandoned)
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, 2*time.Second)
		clk.Advance(2 * time.Second)
		mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, 4*time.Second)
	})
}

func TestAccountCap(t *testing.T) {
	cfg := loose()
	cfg.Account = latchkey.Bucket{} // the default: 100 an hour, burst 100
	cfg.Known = latchkey.Bucket{}   // 10 an hour, burst 10
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		owner := addr("198.51.100.10")
		mustPass(t, l, "alice", owner, latchkey.OutcomeSuccess)

		// A spray: 100 failures, each from another address.
		for i := range 100 {
			mustPass(t, l, "alice", nthAddr(i), latchkey.OutcomeFailure)
		}
		// The account's logins from other addresses are delayed...
		mustRefuse(t, l, "alice", nthAddr(100), throttle.LimitAccount, 36*time.Second)
		mustRefuse(t, l, "alice", addr("203.0.113.99"), throttle.LimitAccount, 36*time.Second)
		// ...not locked: one attempt every 36 seconds.
		clk.Advance(36 * time.Second)
		mustPass(t, l, "alice", nthAddr(100), latchkey.OutcomeFailure)
		mustRefuse(t, l, "alice", nthAddr(101), throttle.LimitAccount, 36*time.Second)
		// The owner, from an address it logged in from, is not delayed.
		mustPass(t, l, "alice", owner, latchkey.OutcomeSuccess)
		// Nor is another account.
		mustPass(t, l, "bob", nthAddr(102), latchkey.OutcomeFailure)
		// Successes and abandoned attempts from the spent account's
		// addresses give their allowance back: they are not failures.
		clk.Advance(36 * time.Second)
		for range 3 {
			mustPass(t, l, "alice", addr("203.0.113.50"), latchkey.OutcomeAbandoned)
		}
		// An hour later, the allowance is whole again.
		clk.Advance(time.Hour)
		for i := range 100 {
			mustPass(t, l, "alice", nthAddr(200+i), latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "alice", nthAddr(300), throttle.LimitAccount, 36*time.Second)
	})
}

// TestOwnerNotLockedOut: an attacker on one address, failing as fast as
// the limits let it, cannot keep the owner (who logged in before from
// another address) out; nor can one spraying from many addresses.
func TestOwnerNotLockedOut(t *testing.T) {
	cfg := throttle.Config{} // every default
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		owner, attacker := addr("198.51.100.10"), addr("203.0.113.66")
		mustPass(t, l, "alice", owner, latchkey.OutcomeSuccess)

		failures := 0
		for failures < 100 {
			if err := l.Check(ctx, "alice", attacker); err != nil {
				clk.Advance(retryAfter(t, err))
				continue
			}
			if err := l.Record(ctx, "alice", attacker, latchkey.OutcomeFailure); err != nil {
				t.Fatal(err)
			}
			failures++
			// The owner logs in at once, every time.
			if err := l.Check(ctx, "alice", owner); err != nil {
				t.Fatalf("after %d failures from the attacker: the owner is refused: %v", failures, err)
			}
			if err := l.Record(ctx, "alice", owner, latchkey.OutcomeSuccess); err != nil {
				t.Fatal(err)
			}
		}

		// A spray from many addresses spends the account's allowance...
		for i := 0; ; i++ {
			err := l.Check(ctx, "alice", nthAddr(i))
			if err != nil {
				if r := latchkey.ThrottleReason(err); r != string(throttle.LimitAccount) {
					t.Fatalf("spray: refused by %s, want %s", r, throttle.LimitAccount)
				}
				break
			}
			l.Record(ctx, "alice", nthAddr(i), latchkey.OutcomeFailure)
			if i > 1000 {
				t.Fatal("a spray from 1000 addresses is not capped")
			}
		}
		// ...and the owner still logs in.
		mustPass(t, l, "alice", owner, latchkey.OutcomeSuccess)
		// The owner's allowance is its own: the attacker, from elsewhere,
		// cannot spend it; from the owner's address (a shared NAT, say) it
		// gets 10 failures an hour.
		failures = 0
		for failures < 10 {
			if err := l.Check(ctx, "alice", owner); err != nil {
				if r := latchkey.ThrottleReason(err); r == string(throttle.LimitKnown) {
					t.Fatalf("failure %d from the owner's address: refused by %s", failures+1, r)
				}
				clk.Advance(retryAfter(t, err))
				continue
			}
			l.Record(ctx, "alice", owner, latchkey.OutcomeFailure)
			failures++
		}
		mustRefuse(t, l, "alice", owner, throttle.LimitKnown, -1)
	})
}

// TestUnknownLikeKnown checks that a username that exists and one that
// does not get the same decisions for the same attempts: the limiter never
// looks users up.
func TestUnknownLikeKnown(t *testing.T) {
	cfg := throttle.Config{Account: latchkey.Bucket{Burst: 20, Every: time.Minute}}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		trace := func(user string, base int) []string {
			var got []string
			for i := range 60 {
				ip := nthAddr(base + i%7)
				err := l.Check(ctx, user, ip)
				if err == nil {
					l.Record(ctx, user, ip, latchkey.OutcomeFailure)
				}
				got = append(got, fmt.Sprintf("%s %v", latchkey.ThrottleReason(err), latchkey.AsError(err).RetryAfter))
				clk.Advance(700 * time.Millisecond)
			}
			return got
		}
		start := clk.Now()
		known := trace("alice", 0) // say alice exists
		clk.Advance(start.Sub(clk.Now()))
		unknown := trace("no-such-user", 1000)
		if strings.Join(known, "\n") != strings.Join(unknown, "\n") {
			t.Fatalf("decisions differ:\nknown:   %q\nunknown: %q", known, unknown)
		}
		if !strings.Contains(strings.Join(known, ","), string(throttle.LimitAccount)) {
			t.Fatalf("the trace never reaches the account limit: %q", known)
		}
	})
}

func TestUsernameFolded(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("192.0.2.9")
		// K (U+212A KELVIN SIGN) folds to k.
		for _, u := range []string{"Kate", "kate", "KATE", "\u212Aate", "kAtE"} {
			mustPass(t, l, u, ip, latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "kate", ip, throttle.LimitBackoff, time.Second)
		mustPass(t, l, "kate2", ip, latchkey.OutcomeFailure)
		n, _, err := l.FailureCounts(ctx, "KATE", ip)
		if err != nil || n != 5 {
			t.Fatalf("FailureCounts(KATE) = %d, %v; want 5", n, err)
		}
	})
}

func TestIPv6Network(t *testing.T) {
	cfg := loose()
	cfg.IP = latchkey.Bucket{Burst: 2, Every: time.Minute}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		// One /64 is one client.
		mustPass(t, l, "a", addr("2001:db8:1:2::1"), latchkey.OutcomeSuccess)
		mustPass(t, l, "b", addr("2001:db8:1:2:ffff::9"), latchkey.OutcomeSuccess)
		mustRefuse(t, l, "c", addr("2001:db8:1:2:abcd::1"), throttle.LimitIP, time.Minute)
		mustPass(t, l, "c", addr("2001:db8:1:3::1"), latchkey.OutcomeSuccess)
		// An IPv4 address is one client, however written.
		mustPass(t, l, "a", addr("192.0.2.1"), latchkey.OutcomeSuccess)
		mustPass(t, l, "b", addr("::ffff:192.0.2.1"), latchkey.OutcomeSuccess)
		mustRefuse(t, l, "c", addr("192.0.2.1"), throttle.LimitIP, time.Minute)
		// An unknown address is one shared client.
		mustPass(t, l, "a", netip.Addr{}, latchkey.OutcomeSuccess)
		mustPass(t, l, "b", netip.Addr{}, latchkey.OutcomeSuccess)
		mustRefuse(t, l, "c", netip.Addr{}, throttle.LimitIP, time.Minute)
	})
}

func TestFailureCounts(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		a, b := addr("192.0.2.1"), addr("192.0.2.2")
		check := func(user string, ip netip.Addr, wantUser, wantIP int) {
			t.Helper()
			u, i, err := l.FailureCounts(ctx, user, ip)
			if err != nil || u != wantUser || i != wantIP {
				t.Fatalf("FailureCounts(%q, %v) = %d, %d, %v; want %d, %d", user, ip, u, i, err, wantUser, wantIP)
			}
		}
		check("alice", a, 0, 0)
		mustPass(t, l, "alice", a, latchkey.OutcomeFailure)
		mustPass(t, l, "alice", b, latchkey.OutcomeFailure)
		mustPass(t, l, "bob", a, latchkey.OutcomeFailure)
		mustPass(t, l, "bob", a, latchkey.OutcomeAbandoned)
		check("alice", a, 2, 2)
		check("alice", b, 2, 1)
		check("bob", b, 1, 1)
		check("carol", a, 0, 2)
		// Successes do not reset them...
		mustPass(t, l, "alice", a, latchkey.OutcomeSuccess)
		check("alice", a, 2, 2)
		// ...time does, a day after the last failure.
		clk.Advance(23 * time.Hour)
		mustPass(t, l, "alice", b, latchkey.OutcomeFailure)
		clk.Advance(time.Hour)
		check("alice", a, 3, 0)
		clk.Advance(23 * time.Hour)
		check("alice", b, 0, 0)
	})
}

// concurrently runs n checks at once and returns how many went ahead.
func concurrently(l *throttle.Limiter, n int, user func(i int) string, ip func(i int) netip.Addr) int {
	var passed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if l.Check(ctx, user(i), ip(i)) == nil {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(passed.Load())
}

// TestConcurrentAccount checks that attempts in flight together cannot
// slip past the account's allowance between Check and Record.
func TestConcurrentAccount(t *testing.T) {
	cfg := loose()
	cfg.Account = latchkey.Bucket{Burst: 5, Every: time.Hour}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		if n := concurrently(l, 50, func(int) string { return "alice" }, nthAddr); n != 5 {
			t.Fatalf("50 concurrent attempts from 50 addresses on an allowance of 5: %d went ahead", n)
		}
	})
}

// TestConcurrentBackoff checks that a pair in backoff gets one attempt
// per delay, however many it sends at once.
func TestConcurrentBackoff(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("192.0.2.1")
		for range 5 {
			mustPass(t, l, "bob", ip, latchkey.OutcomeFailure)
		}
		clk.Advance(time.Second)
		if n := concurrently(l, 20, func(int) string { return "bob" }, func(int) netip.Addr { return ip }); n != 1 {
			t.Fatalf("20 concurrent attempts of a pair in backoff: %d went ahead, want 1", n)
		}
	})
}

// TestRecordAfterCancel checks that a client that hangs up once its
// password was hashed is still counted.
func TestRecordAfterCancel(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("192.0.2.1")
		for range 5 {
			c, cancel := context.WithCancel(ctx)
			if err := l.Check(c, "alice", ip); err != nil {
				t.Fatal(err)
			}
			cancel()
			if err := l.Record(c, "alice", ip, latchkey.OutcomeFailure); err != nil {
				t.Fatalf("Record with a cancelled context: %v", err)
			}
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
	})
}

// TestMemoryBounded floods a limiter with random usernames and addresses.
func TestMemoryBounded(t *testing.T) {
	const max = 1000
	s := memory.New(memory.Options{MaxEntries: max})
	clk := newClock()
	l, err := throttle.New(s, throttle.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 * max {
		user := rand.Text()
		a := [16]byte{0x20, 0x01, 0x0d, 0xb8}
		a[4], a[5] = byte(i>>8), byte(i)
		ip := netip.AddrFrom16(a)
		if l.Check(ctx, user, ip) == nil {
			l.Record(ctx, user, ip, latchkey.OutcomeFailure)
		}
		if n := s.Len(); n > max {
			t.Fatalf("after %d attempts: %d entries, want at most %d", i+1, n, max)
		}
		clk.Advance(time.Millisecond)
	}
}

// flaky is a store that fails while told to: a Redis that goes away and
// comes back, which the tests cannot arrange for a real one.
type flaky struct {
	latchkey.ThrottleStore
	down atomic.Bool
}

var errDown = errors.New("store down")

func (f *flaky) Take(ctx context.Context, key string, b latchkey.Bucket, n int, now time.Time) (time.Duration, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.ThrottleStore.Take(ctx, key, b, n, now)
}

func (f *flaky) Count(ctx context.Context, key string, now time.Time) (int, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.ThrottleStore.Count(ctx, key, now)
}

func (f *flaky) Add(ctx context.Context, key string, b latchkey.Backoff, ttl time.Duration, now time.Time) (int, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.ThrottleStore.Add(ctx, key, b, ttl, now)
}

func TestFallback(t *testing.T) {
	t.Run("redis unreachable", func(t *testing.T) {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { c.Close() })
		clk := newClock()
		l, err := throttle.New(redis.New(c, redis.Options{}), throttle.Config{
			Fallback: memory.New(memory.Options{}),
			Now:      clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		// Limits still apply, counted in this process.
		ip := addr("192.0.2.1")
		for range 5 {
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
		clk.Advance(10 * time.Second) // the store is tried again, and fails again
		mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, 2*time.Second)
		if u, _, err := l.FailureCounts(ctx, "alice", ip); err != nil || u != 6 {
			t.Fatalf("FailureCounts = %d, %v; want 6", u, err)
		}
		// Challenges too.
		for i := range 10 {
			if err := l.CheckChallenge(ctx, ip); err != nil {
				t.Fatalf("challenge %d: %v", i, err)
			}
		}
		if err := l.CheckChallenge(ctx, ip); latchkey.ThrottleReason(err) != string(throttle.LimitChallenge) {
			t.Fatalf("challenge 11 in the fallback: %v, want refused", err)
		}
		// And service clients' failures.
		for i := range 10 {
			if err := l.CheckServiceClient(ctx, ip); err != nil {
				t.Fatalf("service client failure %d: %v", i, err)
			}
			if err := l.RecordServiceClient(ctx, ip, latchkey.OutcomeFailure); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.CheckServiceClient(ctx, ip); latchkey.ThrottleReason(err) != string(throttle.LimitServiceClient) {
			t.Fatalf("service client failure 11 in the fallback: %v, want refused", err)
		}
	})

	t.Run("redis hangs", func(t *testing.T) {
		// A server that accepts connections and never answers. Were the
		// limiter's Timeout not honoured, this test would hang: the
		// client's own timeouts are an hour.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns sync.WaitGroup
		done := make(chan struct{})
		t.Cleanup(func() {
			close(done)
			ln.Close()
			conns.Wait()
		})
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns.Go(func() {
					<-done
					c.Close()
				})
			}
		}()
		c := goredis.NewClient(&goredis.Options{
			Addr: ln.Addr().String(), MaxRetries: -1, DialerRetries: 1,
			DialTimeout: time.Hour, ReadTimeout: time.Hour, WriteTimeout: time.Hour,
			ContextTimeoutEnabled: true,
		})
		t.Cleanup(func() { c.Close() })
		clk := newClock()
		l, err := throttle.New(redis.New(c, redis.Options{}), throttle.Config{
			Fallback: memory.New(memory.Options{}),
			Timeout:  100 * time.Millisecond,
			Now:      clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		ip := addr("192.0.2.1")
		for range 5 {
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
	})

	t.Run("no fallback", func(t *testing.T) {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { c.Close() })
		l, err := throttle.New(redis.New(c, redis.Options{}), throttle.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ip := addr("192.0.2.1")
		err = l.Check(ctx, "alice", ip)
		if k := latchkey.ErrorKind(err); k != latchkey.KindUnavailable {
			t.Fatalf("Check on a store that fails, without fallback: %v (kind %v), want unavailable", err, k)
		}
		if err := l.Record(ctx, "alice", ip, latchkey.OutcomeFailure); latchkey.ErrorKind(err) != latchkey.KindUnavailable {
			t.Fatalf("Record: %v, want unavailable", err)
		}
		if _, _, err := l.FailureCounts(ctx, "alice", ip); latchkey.ErrorKind(err) != latchkey.KindUnavailable {
			t.Fatalf("FailureCounts: %v, want unavailable", err)
		}
		if err := l.CheckChallenge(ctx, ip); latchkey.ErrorKind(err) != latchkey.KindUnavailable {
			t.Fatalf("CheckChallenge: %v, want unavailable", err)
		}
		if err := l.CheckServiceClient(ctx, ip); latchkey.ErrorKind(err) != latchkey.KindUnavailable {
			t.Fatalf("CheckServiceClient: %v, want unavailable", err)
		}
	})

	t.Run("recovery", func(t *testing.T) {
		var logs bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
		primary := &flaky{ThrottleStore: memory.New(memory.Options{})}
		clk := newClock()
		l, err := throttle.New(primary, throttle.Config{
			Fallback: memory.New(memory.Options{}),
			Now:      clk.Now,
			Logger:   logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		ip := addr("192.0.2.1")
		primary.down.Store(true)
		for range 5 {
			clk.Advance(10 * time.Second)
			mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitBackoff, time.Second)
		primary.down.Store(false)
		clk.Advance(10 * time.Second)
		// Back on the store, which did not see the failures.
		mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		primary.down.Store(true)
		mustPass(t, l, "bob", ip, latchkey.OutcomeFailure)
		primary.down.Store(false)
		clk.Advance(10 * time.Second)
		mustPass(t, l, "bob", ip, latchkey.OutcomeFailure)

		mu.Lock()
		out := logs.String()
		mu.Unlock()
		if n := strings.Count(out, "throttle store failing"); n != 2 {
			t.Errorf("failure logged %d times for 2 outages, want 2:\n%s", n, out)
		}
		if n := strings.Count(out, "throttle store answers again"); n != 2 {
			t.Errorf("recovery logged %d times, want 2:\n%s", n, out)
		}
		if strings.Contains(out, "alice") {
			t.Errorf("usernames in the store's log:\n%s", out)
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRecordUnknownOutcome(t *testing.T) {
	// An outcome Record does not know is the caller's bug, not a store
	// failure: no fallback, no 503.
	l, err := throttle.New(memory.New(memory.Options{}), throttle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Record(ctx, "alice", addr("192.0.2.1"), latchkey.Outcome(9))
	if err == nil || latchkey.ErrorKind(err) == latchkey.KindUnavailable {
		t.Errorf("Record(outcome 9) = %v, want a plain error", err)
	}
}
