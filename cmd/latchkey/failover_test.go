package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// TestSentinelFailover runs three nodes on PostgreSQL and a Redis master
// with one replica and three Sentinels, and makes the failover lose
// deletes, as asynchronous replication can: the replica is frozen, tokens
// are logged out (their deletes reach the master only), the master is
// killed and the frozen replica, which still holds the revoked tokens'
// entries, is promoted. No node may accept a revoked token at any time,
// during the failover or after; tokens not revoked keep working; logins,
// checks and logouts work after the failover, through the same URL.
func TestSentinelFailover(t *testing.T) {
	needCluster(t)
	ctx := t.Context()
	pgURL, _ := pgtest.NewSchema(t)
	s := redistest.StartSentinel(t)
	env := append([]string{"LATCHKEY_DATABASE_URL=" + pgURL, "LATCHKEY_CACHE_URL=" + s.URL()}, throttleEnv...)
	addUser(t, env, "alice")
	c := &cluster{env: env, client: newClient(t), password: e2ePassword}
	for range 3 {
		c.nodes = append(c.nodes, serve(t, env))
	}

	// Tokens cached everywhere: in Redis (and so on the replica) and in
	// every node's local layer.
	const n = 24
	toks := make([]issued, n)
	for i := range toks {
		toks[i] = c.login(t, c.nodes[i%3])
		c.accepted(t, toks[i].token, c.nodes...)
	}
	master := s.Master().Client(t)
	if got, err := master.Do(ctx, "wait", 1, 5000).Int(); err != nil || got != 1 {
		t.Fatalf("WAIT for the replica: %d, %v", got, err)
	}

	// The replica stops receiving; half the tokens are logged out on
	// the master alone.
	replica := s.Replica()
	replica.Pause()
	// A frozen replica's kernel still takes what the master sends, up to
	// its socket buffers (a few MB): fill them, so that what follows
	// stays in the master's own output buffer and dies with it.
	junk := strings.Repeat("x", 8<<20)
	for i := range 4 {
		if err := master.Set(ctx, fmt.Sprintf("junk:%d", i), junk, 0).Err(); err != nil {
			replica.Resume()
			t.Fatal(err)
		}
	}
	revoked, live := toks[:n/2], toks[n/2:]
	for i, tok := range revoked {
		p := c.nodes[i%3]
		if a := request(c.client, p, "POST", "/v1/logout", tok.token, nil); a.status != http.StatusNoContent {
			replica.Resume()
			t.Fatalf("logout on %s: %v", p.url, a)
		}
	}
	for _, tok := range revoked {
		for _, p := range c.nodes {
			if a := request(c.client, p, "GET", "/v1/me", tok.token, nil); !a.refused() {
				replica.Resume()
				t.Fatalf("revoked token on %s before the failover: %v", p.url, a)
			}
		}
	}

	// Watch every node with every revoked token from now until well
	// after the failover.
	var stale, checks atomic.Int64
	var mu sync.Mutex
	var firstStale []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range c.nodes {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := revoked[i%len(revoked)]
				a := request(c.client, p, "GET", "/v1/me", tok.token, nil)
				checks.Add(1)
				if a.status == http.StatusOK {
					stale.Add(1)
					mu.Lock()
					if len(firstStale) < 5 {
						firstStale = append(firstStale, fmt.Sprintf("%s at %s: %v", p.url, a.end.Format("15:04:05.000"), a))
					}
					mu.Unlock()
				}
			}
		})
	}
	halt := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	old := s.Master()
	s.KillMaster()
	killed := time.Now()
	replica.Resume()
	// The promoted replica holds the entries of the revoked tokens:
	// the failover did lose their deletes, or this test proves nothing.
	held := 0
	rc := replica.Client(t)
	for _, tok := range revoked {
		d := latchkey.Token(tok.token).Digest()
		if n, err := rc.Exists(ctx, "latchkey:s:"+d.Hex()).Result(); err == nil && n == 1 {
			held++
		}
	}
	if held == 0 {
		t.Fatal("the replica holds none of the revoked tokens' entries: the failover lost no delete")
	}
	addr := s.WaitFailover(30 * time.Second)
	t.Logf("failover to %s %v after the kill of %s; the new master held %d of %d revoked entries",
		addr, time.Since(killed).Round(time.Millisecond), old, held, len(revoked))

	// Logins, checks and logouts work again through the same URL, on
	// every node.
	deadline := time.Now().Add(20 * time.Second)
	for i, p := range c.nodes {
		for {
			a := request(c.client, p, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": c.password})
			if a.status == http.StatusOK {
				tok := a.body["token"].(string)
				c.accepted(t, tok, c.nodes...)
				q := c.nodes[(i+1)%3]
				if a := request(c.client, q, "POST", "/v1/logout", tok, nil); a.status != http.StatusNoContent {
					t.Fatalf("logout on %s after the failover: %v", q.url, a)
				}
				for _, r := range c.nodes {
					if a := request(c.client, r, "GET", "/v1/me", tok, nil); !a.refused() {
						t.Fatalf("token logged out after the failover, on %s: %v", r.url, a)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("login on %s 20s after the failover: %v", p.url, a)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Caching resumed: the Redis entries come back for a live token.
	live0 := latchkey.Token(live[0].token).Digest()
	newMaster := goredis.NewClient(&goredis.Options{Addr: addr})
	defer newMaster.Close()
	for {
		c.accepted(t, live[0].token, c.nodes...)
		if n, _ := newMaster.Exists(ctx, "latchkey:s:"+live0.Hex()).Result(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no node caches in the new master 20s after the failover")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	halt()
	for _, tok := range live {
		c.accepted(t, tok.token, c.nodes...)
	}
	held = 0
	for _, tok := range revoked {
		d := latchkey.Token(tok.token).Digest()
		if n, _ := newMaster.Exists(ctx, "latchkey:s:"+d.Hex()).Result(); n == 1 {
			held++
		}
	}
	t.Logf("%d checks of revoked tokens during and after the failover: %d answered 200; %d revoked entries left in Redis",
		checks.Load(), stale.Load(), held)
	if stale.Load() > 0 {
		t.Fatalf("revoked tokens accepted %d times after a failover:\n%v", stale.Load(), firstStale)
	}
	if held > 0 {
		t.Errorf("%d entries of revoked tokens are still in Redis after the nodes replayed the feed", held)
	}
}

// TestRedisCluster runs three nodes on PostgreSQL and a Redis Cluster of
// three masters, through a redis+cluster:// URL: revocations reach every
// node (the propagation rounds of TestMultiNode, and the CLI's), and the
// throttle's counts, spread over the cluster's slots, are shared by every
// node.
func TestRedisCluster(t *testing.T) {
	needCluster(t)
	pgURL, _ := pgtest.NewSchema(t)
	rc := redistest.StartCluster(t, 3)
	env := append([]string{"LATCHKEY_DATABASE_URL=" + pgURL, "LATCHKEY_CACHE_URL=" + rc.URL(),
		"LATCHKEY_THROTTLE_BACKOFF_AFTER=3", "LATCHKEY_THROTTLE_BACKOFF_BASE=1m"}, throttleEnv...)
	addUser(t, env, "alice")
	addUser(t, env, "bob")
	c := &cluster{env: env, client: newClient(t), password: e2ePassword}
	for range 3 {
		c.nodes = append(c.nodes, serve(t, env))
	}

	t.Run("propagation", func(t *testing.T) { propagation(t, c) })
	t.Run("cli", func(t *testing.T) { cliPropagation(t, c) })
	t.Run("throttle", func(t *testing.T) {
		// Three failures for bob, one per node: the fourth attempt, on
		// any node, waits.
		for i, p := range c.nodes {
			a := request(c.client, p, "POST", "/v1/login", "", map[string]string{"username": "bob", "password": "wrong password " + fmt.Sprint(i)})
			if a.status != http.StatusUnauthorized {
				t.Fatalf("failure %d on %s: %v", i+1, p.url, a)
			}
		}
		for _, p := range c.nodes {
			a := request(c.client, p, "POST", "/v1/login", "", map[string]string{"username": "bob", "password": e2ePassword})
			if a.status != http.StatusTooManyRequests || a.code() != "throttled" {
				t.Fatalf("bob's fourth attempt on %s: %v, want 429 throttled", p.url, a)
			}
		}
	})
	// Every master holds some of what the nodes wrote: the keys are
	// spread, not pinned to one slot.
	ctx := t.Context()
	for _, n := range rc.Nodes() {
		if size, err := n.Client(t).DBSize(ctx).Result(); err != nil || size == 0 {
			t.Errorf("%s holds %d keys (%v): want some", n, size, err)
		}
	}
}
