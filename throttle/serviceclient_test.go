package throttle_test

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/throttle"
)

// clientAuth checks a service client's authentication from ip and, when
// it goes ahead, records o; it returns the check's error.
func clientAuth(t *testing.T, l *throttle.Limiter, ip netip.Addr, o latchkey.Outcome) error {
	t.Helper()
	err := l.CheckServiceClient(ctx, ip)
	if err != nil {
		return err
	}
	if err := l.RecordServiceClient(ctx, ip, o); err != nil {
		t.Fatalf("RecordServiceClient(%v, %v): %v", ip, o, err)
	}
	return nil
}

// wantClientRefused checks that an authentication from ip is refused by
// the service client limit for wait.
func wantClientRefused(t *testing.T, l *throttle.Limiter, ip netip.Addr, wait time.Duration) {
	t.Helper()
	err := l.CheckServiceClient(ctx, ip)
	if got := retryAfter(t, err); got != wait || latchkey.ThrottleReason(err) != string(throttle.LimitServiceClient) {
		t.Fatalf("CheckServiceClient(%v) = %v (RetryAfter %v), want refused by %s for %v", ip, err, got, throttle.LimitServiceClient, wait)
	}
}

// TestServiceClientFailures checks the bucket of failed service client
// authentications: per address, only failures counted, apart from the
// logins and the challenges, IPv6 clients by network.
func TestServiceClientFailures(t *testing.T) {
	cfg := loose()
	cfg.IP = latchkey.Bucket{Burst: 1, Every: time.Hour}
	cfg.Challenge = latchkey.Bucket{Burst: 1, Every: time.Hour}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		ip := addr("203.0.113.7")
		// Successes, and authentications abandoned before the secret was
		// judged, cost nothing, however many.
		for i := range 50 {
			o := latchkey.OutcomeSuccess
			if i%5 == 0 {
				o = latchkey.OutcomeAbandoned
			}
			if err := clientAuth(t, l, ip, o); err != nil {
				t.Fatalf("authentication %d (%v): %v", i, o, err)
			}
		}
		// The default: 30 failures a minute, burst 10.
		for i := range 10 {
			if err := clientAuth(t, l, ip, latchkey.OutcomeFailure); err != nil {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		// Refused before the secret is looked at: whatever it would be.
		wantClientRefused(t, l, ip, 2*time.Second)
		wantClientRefused(t, l, ip, 2*time.Second)
		// Logins and challenges are counted apart, both ways.
		mustPass(t, l, "alice", ip, latchkey.OutcomeFailure)
		if err := l.CheckChallenge(ctx, ip); err != nil {
			t.Fatalf("a challenge to an address refused as a service client: %v", err)
		}
		mustRefuse(t, l, "alice", ip, throttle.LimitIP, time.Hour)
		wantClientRefused(t, l, ip, 2*time.Second)
		// Another address is another client; an IPv6 network is one.
		if err := clientAuth(t, l, addr("203.0.113.8"), latchkey.OutcomeFailure); err != nil {
			t.Fatalf("another address: %v", err)
		}
		for i := range 10 {
			if err := clientAuth(t, l, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), latchkey.OutcomeFailure); err != nil {
				t.Fatalf("IPv6 failure %d: %v", i, err)
			}
		}
		wantClientRefused(t, l, addr("2001:db8::ff"), 2*time.Second)
		// One failure more every 2 s; a success in between costs nothing.
		clk.Advance(2 * time.Second)
		if err := clientAuth(t, l, ip, latchkey.OutcomeSuccess); err != nil {
			t.Fatalf("after 2s: %v", err)
		}
		if err := clientAuth(t, l, ip, latchkey.OutcomeFailure); err != nil {
			t.Fatalf("after 2s and a success: %v", err)
		}
		wantClientRefused(t, l, ip, 2*time.Second)
	})
}

// TestConcurrentServiceClients checks that failures in flight together
// cannot slip past the limit between the check and the record, and that
// a service's own calls in flight together are never refused while they
// are fewer than the burst.
func TestConcurrentServiceClients(t *testing.T) {
	cfg := loose()
	cfg.ServiceClient = latchkey.Bucket{Burst: 5, Every: time.Hour}
	forEachStore(t, cfg, func(t *testing.T, l *throttle.Limiter, clk *clock) {
		var (
			wg      sync.WaitGroup
			refused atomic.Int64
		)
		ip := addr("192.0.2.1")
		for range 5 {
			wg.Go(func() {
				for range 40 {
					if l.CheckServiceClient(ctx, ip) != nil {
						refused.Add(1)
						continue
					}
					if err := l.RecordServiceClient(ctx, ip, latchkey.OutcomeSuccess); err != nil {
						t.Errorf("RecordServiceClient: %v", err)
					}
				}
			})
		}
		wg.Wait()
		if n := refused.Load(); n != 0 {
			t.Fatalf("5 callers at once, 200 successes in all, with a burst of 5: %d refused", n)
		}
		var passed atomic.Int64
		for range 50 {
			wg.Go(func() {
				if l.CheckServiceClient(ctx, ip) == nil {
					passed.Add(1)
					l.RecordServiceClient(ctx, ip, latchkey.OutcomeFailure)
				}
			})
		}
		wg.Wait()
		if n := passed.Load(); n != 5 {
			t.Fatalf("50 concurrent failures on a burst of 5: %d went ahead", n)
		}
	})
}

func TestRecordServiceClientUnknownOutcome(t *testing.T) {
	forEachStore(t, loose(), func(t *testing.T, l *throttle.Limiter, clk *clock) {
		if err := l.RecordServiceClient(ctx, addr("192.0.2.1"), latchkey.Outcome(7)); err == nil {
			t.Fatal("RecordServiceClient with an unknown outcome: no error")
		}
	})
}
