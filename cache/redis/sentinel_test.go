package redis_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/cachetest"
	"github.com/latchkeyhq/latchkey/cache/guardtest"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
)

// TestSentinel runs the cache and the replay guard over NewClient's
// failover client, on a master and replica under three Sentinels.
func TestSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	url := patient(s.URL())
	t.Run("Cache", func(t *testing.T) {
		cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
			return open(t, url, redis.Options{Prefix: redistest.RandomPrefix(), Now: now, Timeout: patientTimeout})
		})
	})
	t.Run("Claims", func(t *testing.T) {
		guardtest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ReplayGuard {
			_, client := openClient(t, url, redis.Options{Prefix: redistest.RandomPrefix()})
			return redis.NewClaims(client, redis.Options{Prefix: redistest.RandomPrefix(), Now: now, Timeout: patientTimeout})
		})
	})
}

// TestSentinelFailover kills the master under a cache and a subscription
// on the failover client: once the Sentinels have promoted the replica,
// the same client must read what it wrote before (replicated) and write
// again, and the subscription must come back by itself and receive an
// invalidation published after the failover.
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	ctx := t.Context()
	c := open(t, s.URL(), redis.Options{Prefix: redistest.RandomPrefix()})
	sub := subscribe(t, c)
	before, after := digest("before"), digest("after")
	fill(t, c, 1, before)
	old, replica := s.Master(), s.Replica()
	// On the replica, so that the promotion keeps it.
	onReplica := replica.Client(t)
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		n, err := onReplica.Exists(ctx, sessionKey(c, before), userKey(c, 1)).Result()
		if err == nil && n == 2 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the entries are not on the replica 5s after they were written: EXISTS = %d, %v", n, err)
		}
	}

	s.KillMaster()
	killed := time.Now()
	addr := s.WaitFailover(30 * time.Second)
	t.Logf("the Sentinels promoted %s %v after the kill", addr, time.Since(killed).Round(time.Millisecond))
	if addr != replica.Addr() || s.Master() != replica || s.Replica() != old {
		t.Fatalf("after the failover: %s named, master %s, replica %s; want %s promoted", addr, s.Master(), s.Replica(), replica)
	}

	// The client finds the new master by itself, within a bound.
	promoted := time.Now()
	var err error
	for {
		var ok bool
		_, ok, err = c.Session(ctx, before)
		if err == nil && !ok {
			t.Fatal("Session of the entry written before the failover: a miss")
		}
		if err == nil {
			err = c.PutSession(ctx, after, session(time.Now()))
		}
		if err == nil {
			break
		}
		if time.Since(promoted) > 10*time.Second {
			t.Fatalf("the client did not reach the new master within 10s of the failover: %v\n%s", err, s.Master().Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the client read and wrote %v after the failover", time.Since(promoted).Round(time.Millisecond))
	if n, err := s.Master().Client(t).Exists(ctx, sessionKey(c, after)).Result(); err != nil || n != 1 {
		t.Errorf("the write after the failover is not on the new master: EXISTS = %d, %v", n, err)
	}

	// The subscription lost its connection with the master: Receive
	// reports errors until it has subscribed again on the new one.
	var errs []string
	for {
		ev, err := sub.Receive(ctx, time.Second)
		if err == nil && ev.Kind == redis.EventSubscribed {
			break
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			errs = append(errs, err.Error())
		}
		if time.Since(promoted) > 10*time.Second {
			t.Fatalf("the subscription was not renewed within 10s of the failover: last %+v, %v; errors %q", ev, err, errs)
		}
		if err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("subscribed again %v after the failover, through the errors %q", time.Since(promoted).Round(time.Millisecond), errs)
	inv := latchkey.Invalidation{Sessions: []latchkey.Digest{before}, Users: []int64{1}}
	if err := c.Invalidate(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if got := next(t, sub); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", inv) {
		t.Errorf("received %+v after the failover, want %+v", got, inv)
	}
	if _, ok, err := c.Session(ctx, before); ok || err != nil {
		t.Errorf("Session after the invalidation: ok %t, err %v; want a miss", ok, err)
	}
}
