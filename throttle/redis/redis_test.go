package redis_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	cacheredis "github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/throttle/redis"
	"github.com/latchkeyhq/latchkey/throttle/throttletest"
)

// openStore returns a store under a random key prefix of its own, whose
// keys are deleted when the test ends.
func openStore(t *testing.T) *redis.Store {
	t.Helper()
	s, _, _ := openStoreClient(t)
	return s
}

// openStoreClient is openStore that also returns the client, the one a
// node opens, and the prefix.
func openStoreClient(t *testing.T) (*redis.Store, goredis.UniversalClient, string) {
	t.Helper()
	url := redistest.URL(t)
	c, err := cacheredis.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	prefix := redistest.Prefix(t, url)
	return redis.New(c, redis.Options{Prefix: prefix}), c, prefix
}

func TestStore(t *testing.T) {
	redistest.URL(t)
	throttletest.Run(t, func(t *testing.T) latchkey.ThrottleStore { return openStore(t) })
}

// TestExpiry checks that Redis drops what is stale by the real clock, so
// that a shared store does not grow with every key it ever saw.
func TestExpiry(t *testing.T) {
	s, c, prefix := openStoreClient(t)
	ctx := t.Context()
	now := time.Now()
	b := latchkey.Bucket{Burst: 10, Every: time.Second}
	if _, err := s.Take(ctx, "bucket", b, 1, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "counter", latchkey.Backoff{}, time.Second, now); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bucket", "counter"} {
		ttl, err := c.PTTL(ctx, prefix+k).Result()
		if err != nil {
			t.Fatal(err)
		}
		// Stale in 1s, dropped a second of slack later.
		if ttl <= 0 || ttl > 2*time.Second {
			t.Errorf("%s: PTTL = %v, want a TTL of about 2s", k, ttl)
		}
	}
	// A refunded bucket is full again: nothing to keep.
	if _, err := s.Take(ctx, "bucket", b, -1, now); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, prefix+"bucket").Result(); err != nil || n != 0 {
		t.Errorf("a refilled bucket: Exists = %d, %v; want 0", n, err)
	}
	if n, err := s.Count(ctx, "counter", now.Add(time.Second)); err != nil || n != 0 {
		t.Fatalf("Count after its ttl = %d, %v; want 0", n, err)
	}
}

// TestDown checks that a store whose Redis does not answer returns errors
// (which the limiter turns into its fallback), and does not hang.
func TestDown(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	s := redis.New(c, redis.Options{})
	ctx := t.Context()
	now := time.Now()
	b := latchkey.Bucket{Burst: 1, Every: time.Second}
	if _, err := s.Take(ctx, "k", b, 1, now); err == nil {
		t.Error("Take on a closed port: no error")
	}
	if _, err := s.Add(ctx, "k", latchkey.Backoff{}, time.Second, now); err == nil {
		t.Error("Add on a closed port: no error")
	}
	if _, err := s.Count(ctx, "k", now); err == nil {
		t.Error("Count on a closed port: no error")
	}
	if _, err := s.Enter(ctx, "k", latchkey.Backoff{}, now); err == nil {
		t.Error("Enter on a closed port: no error")
	}
	if err := s.Reset(ctx, "k"); err == nil {
		t.Error("Reset on a closed port: no error")
	}
}
