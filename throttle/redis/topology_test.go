package redis_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	cacheredis "github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/throttle/redis"
	"github.com/latchkeyhq/latchkey/throttle/throttletest"
)

// openOn returns a store on url, a Redis of the test's own, under a key
// prefix of its own, through the client a node opens. The client's
// timeouts are patient: the suite tests what the scripts do, not how
// fast, and a loaded machine (one linking a test binary beside the test,
// with the race detector on) can hold a call past the defaults.
func openOn(t *testing.T, url string) (*redis.Store, string) {
	t.Helper()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	c, err := cacheredis.NewClient(url + sep + "dial_timeout=5s&read_timeout=5s&write_timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	prefix := redistest.RandomPrefix()
	return redis.New(c, redis.Options{Prefix: prefix}), prefix
}

// TestStoreCluster runs the suite on a Redis Cluster of three masters:
// each script names its one key, so that the cluster client sends it to
// the key's master, and no script touches a key of another slot.
func TestStoreCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	throttletest.Run(t, func(t *testing.T) latchkey.ThrottleStore {
		s, _ := openOn(t, cl.URL())
		return s
	})

	// Every script, on keys spread over every master.
	t.Run("EveryMaster", func(t *testing.T) {
		s, prefix := openOn(t, cl.URL())
		ctx := t.Context()
		now := time.Now()
		b := latchkey.Bucket{Burst: 5, Every: time.Second}
		off := latchkey.Backoff{After: 1, Base: time.Second, Max: time.Minute}
		const n = 30
		for i := range n {
			if _, err := s.Take(ctx, fmt.Sprint("bucket", i), b, 1, now); err != nil {
				t.Fatalf("Take: %v", err)
			}
			counter := fmt.Sprint("counter", i)
			for range 2 {
				if _, err := s.Add(ctx, counter, off, time.Minute, now); err != nil {
					t.Fatalf("Add: %v", err)
				}
			}
			if c, err := s.Count(ctx, counter, now); err != nil || c != 2 {
				t.Fatalf("Count = %d, %v; want 2", c, err)
			}
			if wait, err := s.Enter(ctx, counter, off, now); err != nil || wait <= 0 {
				t.Fatalf("Enter in backoff = %v, %v; want a wait", wait, err)
			}
		}
		total := 0
		for _, node := range cl.Nodes() {
			var keys []string
			it := node.Client(t).Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for it.Next(ctx) {
				keys = append(keys, it.Val())
			}
			if err := it.Err(); err != nil {
				t.Fatalf("SCAN %s: %v", node, err)
			}
			if len(keys) == 0 {
				t.Errorf("%s holds none of the keys: the scripts ran on fewer masters than the cluster has", node)
			}
			total += len(keys)
		}
		if total != 2*n {
			t.Errorf("%d keys on the masters, want %d", total, 2*n)
		}
		if err := s.Reset(ctx, "counter0"); err != nil {
			t.Fatalf("Reset: %v", err)
		}
	})
}

// TestStoreSentinel runs the suite through the failover client, on a
// master and replica under three Sentinels.
func TestStoreSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t)
	throttletest.Run(t, func(t *testing.T) latchkey.ThrottleStore {
		s, _ := openOn(t, sn.URL())
		return s
	})
}
