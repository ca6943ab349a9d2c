package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/cachetest"
	"github.com/latchkeyhq/latchkey/cache/guardtest"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/cache/tiered"
)

// TestCluster runs the cache, the replay guard and the tiered cache over
// NewClient's cluster client on a Redis Cluster of three masters, and
// checks what a cluster changes: a purge must reach every master, and an
// invalidation published at any node must reach a subscriber.
func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	url := patient(cl.URL())
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
	t.Run("Tiered", func(t *testing.T) {
		cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
			return openTiered(t, url, redis.Options{Prefix: redistest.RandomPrefix(), Now: now, Timeout: patientTimeout})
		})
	})
	t.Run("PurgeEveryMaster", func(t *testing.T) { testClusterPurge(t, cl) })
	t.Run("Subscription", func(t *testing.T) { testClusterSubscription(t, cl) })
}

// patientTimeout is the cache's Timeout for the conformance suites on a
// Redis of the test's own: they test what the calls do, not how fast, and
// a loaded machine (one linking a test binary beside the test, with the
// race detector on) can hold a call past the default's 250 ms.
const patientTimeout = 5 * time.Second

// patient returns url with the client's timeouts as patient.
func patient(url string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "dial_timeout=5s&read_timeout=5s&write_timeout=5s"
}

// openTiered returns a tiered cache on url whose local layer is live.
func openTiered(t *testing.T, url string, opts redis.Options) *tiered.Cache {
	t.Helper()
	c := tiered.New(open(t, url, opts), tiered.Options{})
	c.Start(context.Background())
	t.Cleanup(func() { c.Close() })
	for start := time.Now(); !c.Live(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("tiered cache: local layer not live after 5s")
		}
	}
	return c
}

// testClusterPurge fills every master with a prefix's sessions and users
// and checks that invalidating all removes them from each, and nothing
// else: not another prefix's entries, not the prefix's claims.
func testClusterPurge(t *testing.T, cl *redistest.Cluster) {
	ctx := t.Context()
	base := redistest.RandomPrefix()
	c, client := openClient(t, cl.URL(), redis.Options{Prefix: base + "a:"})
	other := open(t, cl.URL(), redis.Options{Prefix: base + "b:"})
	claims := redis.NewClaims(client, redis.Options{Prefix: base + "a:"})
	const n = 60
	now := time.Now()
	for i := range n {
		for _, c := range []*redis.Cache{c, other} {
			if err := c.PutSession(ctx, digest(fmt.Sprint(i)), session(now)); err != nil {
				t.Fatal(err)
			}
			if err := c.PutUser(ctx, latchkey.User{ID: int64(i + 1), Username: "u"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := claims.Claim(ctx, fmt.Sprint("captcha", i), now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	nodes := cl.Nodes()
	raw := make([]*goredis.Client, len(nodes))
	for i, s := range nodes {
		raw[i] = s.Client(t)
	}
	// count returns the keys matching pattern on each node, and their total.
	count := func(pattern string) ([]int, int) {
		t.Helper()
		per, total := make([]int, len(raw)), 0
		for i, r := range raw {
			keys, err := scanAll(ctx, r, pattern)
			if err != nil {
				t.Fatalf("SCAN %s: %v", nodes[i], err)
			}
			per[i] = len(keys)
			total += per[i]
		}
		return per, total
	}
	dbsize := func() int64 {
		t.Helper()
		var total int64
		for i, r := range raw {
			n, err := r.DBSize(ctx).Result()
			if err != nil {
				t.Fatalf("DBSIZE %s: %v", nodes[i], err)
			}
			total += n
		}
		return total
	}
	per, total := count(base + "a:[su]:*")
	if total != 2*n {
		t.Fatalf("%d entries under the prefix, want %d", total, 2*n)
	}
	for i, k := range per {
		if k == 0 {
			t.Fatalf("%s holds none of the prefix's entries (%v): the purge would not be tested there", nodes[i], per)
		}
	}
	t.Logf("entries per master: %v", per)
	before := dbsize()

	if err := c.Invalidate(ctx, latchkey.Invalidation{All: true}); err != nil {
		t.Fatal(err)
	}
	if per, total := count(base + "a:[su]:*"); total != 0 {
		t.Errorf("after the purge, entries left per master: %v", per)
	}
	if got := before - dbsize(); got != 2*n {
		t.Errorf("the purge removed %d keys in all, want the %d entries", got, 2*n)
	}
	if _, total := count(base + "b:*"); total != 2*n {
		t.Errorf("another prefix's entries: %d left of %d", total, 2*n)
	}
	if _, total := count(base + "a:c:*"); total != n {
		t.Errorf("the prefix's claims: %d left of %d", total, n)
	}
	if _, ok, err := c.Session(ctx, digest("0")); ok || err != nil {
		t.Errorf("Session after the purge: ok %t, err %v; want a miss", ok, err)
	}
}

// scanAll returns the keys matching pattern on one node.
func scanAll(ctx context.Context, c *goredis.Client, pattern string) ([]string, error) {
	var all []string
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
		if cursor = next; cursor == 0 {
			return all, nil
		}
	}
}

// testClusterSubscription checks that a subscriber on a cluster receives
// what another process's cache publishes, and a message published at any
// node: a cluster carries every PUBLISH to every node.
func testClusterSubscription(t *testing.T, cl *redistest.Cluster) {
	ctx := t.Context()
	prefix := redistest.RandomPrefix()
	c := open(t, cl.URL(), redis.Options{Prefix: prefix})
	publisher := open(t, cl.URL(), redis.Options{Prefix: prefix})
	sub := subscribe(t, c)

	// A plain subscriber on one node, to catch the message as sent.
	nodes := cl.Nodes()
	tap := nodes[0].Client(t).Subscribe(ctx, c.Channel())
	t.Cleanup(func() { tap.Close() })
	if _, err := tap.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	inv := latchkey.Invalidation{Sessions: []latchkey.Digest{digest("a"), digest("b")}, Users: []int64{7}}
	if err := publisher.Invalidate(ctx, inv); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%+v", inv)
	if got := next(t, sub); fmt.Sprintf("%+v", got) != want {
		t.Fatalf("received %+v, want %s", got, want)
	}
	msg, err := tap.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range nodes {
		if err := s.Client(t).Publish(ctx, c.Channel(), msg.Payload).Err(); err != nil {
			t.Fatal(err)
		}
		if got := next(t, sub); fmt.Sprintf("%+v", got) != want {
			t.Errorf("published at %s: received %+v, want %s", s, got, want)
		}
	}
}
