package tiered

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/cachetest"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
)

func TestCache(t *testing.T) {
	url := redistest.URL(t)
	t.Run("subscribed", func(t *testing.T) {
		cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
			return open(t, url, redis.Options{Prefix: redistest.Prefix(t, url), Now: now}, Options{})
		})
	})
	// Not started: the local layer never answers, and every read goes to
	// Redis. The contract holds all the same.
	t.Run("not subscribed", func(t *testing.T) {
		cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
			return openStopped(t, url, redis.Options{Prefix: redistest.Prefix(t, url), Now: now}, Options{})
		})
	})
}

// open returns a started cache on url, with a subscription already live.
func open(t testing.TB, url string, ro redis.Options, opts Options) *Cache {
	t.Helper()
	c := openStopped(t, url, ro, opts)
	c.Start(context.Background())
	waitLive(t, c, 5*time.Second)
	return c
}

// openStopped returns a cache whose subscriber is not started.
func openStopped(t testing.TB, url string, ro redis.Options, opts Options) *Cache {
	t.Helper()
	client, err := redis.NewClient(url)
	if err != nil {
		t.Fatalf("redis.NewClient: %v", err)
	}
	c := New(redis.New(client, ro), opts)
	clients.Store(c, client)
	t.Cleanup(func() {
		c.Close()
		client.Close()
		clients.Delete(c)
	})
	return c
}

// clients holds the Redis client of each cache a test opened.
var clients sync.Map // *Cache → *goredis.Client

func waitLive(t testing.TB, c *Cache, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !c.Live() {
		if time.Since(start) > within {
			t.Fatalf("local layer not live after %v", within)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func digest(i int) latchkey.Digest {
	return sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
}

func session(i int, now time.Time) latchkey.CachedSession {
	return latchkey.CachedSession{
		SessionID:  fmt.Sprintf("session%015d", i),
		UserID:     int64(i%100 + 1),
		CreatedAt:  now.Add(-time.Hour),
		LastUsedAt: now.Add(-time.Minute),
		ExpiresAt:  now.Add(24 * time.Hour),
	}
}

func user(id int64, now time.Time) latchkey.User {
	return latchkey.User{
		ID:         id,
		Username:   fmt.Sprint("user", id),
		Email:      fmt.Sprintf("user%d@example.com", id),
		Active:     true,
		LastLogin:  now.Add(-time.Hour),
		DateJoined: now.Add(-100 * 24 * time.Hour),
	}
}

// calls counts the commands a client sends, but for those that set up a
// new connection.
type calls struct{ n atomic.Int64 }

var setup = map[string]bool{"hello": true, "client": true, "auth": true, "select": true}

func (h *calls) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *calls) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if !setup[cmd.Name()] {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *calls) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			if !setup[cmd.Name()] {
				h.n.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

func countCalls(c *Cache) *calls {
	h := new(calls)
	client, _ := clients.Load(c)
	client.(*goredis.Client).AddHook(h)
	return h
}

func TestLocalHitNoRedisCall(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	prefix := redistest.Prefix(t, url)
	now := time.Now()

	// Two processes: a fills Redis, b reads it once (filling its local
	// layer) and then answers from memory alone.
	a := open(t, url, redis.Options{Prefix: prefix}, Options{})
	b := open(t, url, redis.Options{Prefix: prefix}, Options{})
	h := countCalls(b)
	const n = 50
	for i := range n {
		if err := a.PutSession(ctx, digest(i), session(i, now)); err != nil {
			t.Fatal(err)
		}
		if err := a.PutUser(ctx, user(int64(i+1), now)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, ok, err := b.Session(ctx, digest(i)); !ok || err != nil {
			t.Fatalf("Session %d on b: ok %t, err %v", i, ok, err)
		}
		if _, ok, err := b.User(ctx, int64(i+1)); !ok || err != nil {
			t.Fatalf("User %d on b: ok %t, err %v", i+1, ok, err)
		}
	}
	if got := h.n.Load(); got != 2*n {
		t.Errorf("first reads made %d Redis calls, want %d", got, 2*n)
	}
	h.n.Store(0)
	for range 20 {
		for i := range n {
			if _, ok, _ := b.Session(ctx, digest(i)); !ok {
				t.Fatalf("Session %d: miss", i)
			}
			if _, ok, _ := b.User(ctx, int64(i+1)); !ok {
				t.Fatalf("User %d: miss", i+1)
			}
		}
	}
	if got := h.n.Load(); got != 0 {
		t.Errorf("local hits made %d Redis calls, want 0", got)
	}

	t.Run("not before subscribed", func(t *testing.T) {
		c := openStopped(t, url, redis.Options{Prefix: prefix}, Options{})
		h := countCalls(c)
		for range 3 {
			if _, ok, err := c.Session(ctx, digest(0)); !ok || err != nil {
				t.Fatalf("Session: ok %t, err %v", ok, err)
			}
		}
		if got := h.n.Load(); got != 3 {
			t.Errorf("3 reads before the subscription made %d Redis calls, want 3 (no local answers)", got)
		}
	})
}

// TestPropagation measures how long a revocation on one process takes to
// leave another process's local layer.
func TestPropagation(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	a := open(t, url, redis.Options{Prefix: prefix}, Options{})
	b := open(t, url, redis.Options{Prefix: prefix}, Options{})

	const n = 200
	sessions := make([]time.Duration, 0, n)
	users := make([]time.Duration, 0, n)
	wait := func(gone func() bool, start time.Time) time.Duration {
		t.Helper()
		for !gone() {
			if time.Since(start) > time.Second {
				t.Fatal("revocation did not reach the other process within 1s")
			}
			runtime.Gosched()
		}
		return time.Since(start)
	}
	for i := range n {
		d, id := digest(i), int64(i+1)
		if err := a.PutSession(ctx, d, session(i, now)); err != nil {
			t.Fatal(err)
		}
		if err := a.PutUser(ctx, user(id, now)); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := b.Session(ctx, d); !ok {
			t.Fatalf("Session %d on b: miss", i)
		}
		if _, ok, _ := b.User(ctx, id); !ok {
			t.Fatalf("User %d on b: miss", id)
		}
		if _, ok, _ := b.local.Session(ctx, d); !ok {
			t.Fatalf("session %d not in b's local layer", i)
		}

		start := time.Now()
		if err := a.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{d}}); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, wait(func() bool { _, ok, _ := b.local.Session(ctx, d); return !ok }, start))

		start = time.Now()
		if err := a.Invalidate(ctx, latchkey.Invalidation{Users: []int64{id}}); err != nil {
			t.Fatal(err)
		}
		users = append(users, wait(func() bool { _, ok, _ := b.local.User(ctx, id); return !ok }, start))

		// b no longer answers it, from either layer.
		if _, ok, _ := b.Session(ctx, d); ok {
			t.Fatalf("Session %d on b after revocation: hit", i)
		}
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"Invalidate(session)", sessions}, {"Invalidate(user)", users}} {
		slices.Sort(m.ds)
		t.Logf("%s on one process to gone from another's local layer, over %d: p50 %v, p99 %v, max %v",
			m.name, len(m.ds), m.ds[len(m.ds)/2], m.ds[len(m.ds)*99/100], m.ds[len(m.ds)-1])
	}

	t.Run("purge", func(t *testing.T) {
		for i := range 10 {
			a.PutSession(ctx, digest(i), session(i, now))
			b.Session(ctx, digest(i))
		}
		start := time.Now()
		if err := a.Invalidate(ctx, latchkey.Invalidation{All: true}); err != nil {
			t.Fatal(err)
		}
		d := wait(func() bool { s, _ := b.local.Len(); return s == 0 }, start)
		t.Logf("Invalidate(all) reached the other local layer in %v", d)
	})
}

// TestFillRace checks that a fill from Redis that overlaps an
// invalidation does not leave the revoked entry in the local layer.
func TestFillRace(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	a := open(t, url, redis.Options{Prefix: prefix}, Options{})
	b := open(t, url, redis.Options{Prefix: prefix}, Options{})
	for i := range 300 {
		d := digest(i)
		a.PutSession(ctx, d, session(i, now))
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 3 {
				b.Session(ctx, d)
			}
		})
		a.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{d}})
		wg.Wait()
		// Whatever the interleaving, once a's delete has been announced
		// and applied, b holds nothing.
		deadline := time.Now().Add(time.Second)
		for {
			_, inLocal, _ := b.local.Session(ctx, d)
			_, inAny, _ := b.Session(ctx, d)
			if !inLocal && !inAny {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("session %d: still cached on b 1s after its revocation (local %t)", i, inLocal)
			}
			runtime.Gosched()
		}
	}
}

// counter counts log records by level.
type counter struct {
	mu     sync.Mutex
	levels map[slog.Level][]string
}

func (c *counter) Enabled(context.Context, slog.Level) bool { return true }
func (c *counter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.levels == nil {
		c.levels = make(map[slog.Level][]string)
	}
	c.levels[r.Level] = append(c.levels[r.Level], r.Message)
	return nil
}
func (c *counter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *counter) WithGroup(string) slog.Handler      { return c }
func (c *counter) get(l slog.Level) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.levels[l])
}

// TestFailClosed stops a Redis of the test's own under a live cache: the
// local layer must stop answering, every read must fail or miss (so that
// the Authenticator asks the store), writes must not fail, the outage must
// be logged once, and caching must resume by itself when Redis is back.
func TestFailClosed(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := t.Context()
	now := time.Now()
	rlog, tlog := new(counter), new(counter)
	c := open(t, srv.URL(), redis.Options{Logger: slog.New(rlog)}, Options{Logger: slog.New(tlog), HealthCheck: 200 * time.Millisecond})
	h := countCalls(c)
	var losses atomic.Int64
	c.OnLoss(func() { losses.Add(1) })

	d := digest(1)
	if err := c.PutSession(ctx, d, session(1, now)); err != nil {
		t.Fatal(err)
	}
	if err := c.PutUser(ctx, user(1, now)); err != nil {
		t.Fatal(err)
	}
	h.n.Store(0)
	if _, ok, _ := c.Session(ctx, d); !ok || h.n.Load() != 0 {
		t.Fatalf("before the kill: hit %t with %d Redis calls, want a local hit", ok, h.n.Load())
	}

	srv.Kill()
	killed := time.Now()
	for c.Live() {
		if time.Since(killed) > 2*time.Second {
			t.Fatal("local layer still live 2s after Redis was killed")
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Logf("local layer off %v after the kill", time.Since(killed).Round(10*time.Microsecond))
	// The loss is reported by the time the layer is off (the
	// subscription's), or at the first failed call.
	if n := losses.Load(); n < 1 {
		t.Errorf("%d losses reported by the time the local layer went off, want at least 1", n)
	}

	down := time.Now()
	for i := range 100 {
		if s, ok, err := c.Session(ctx, d); ok || err == nil {
			t.Fatalf("read %d with Redis down: Session = %+v, %t, %v; want an error", i, s, ok, err)
		}
		if u, ok, err := c.User(ctx, 1); ok || err == nil {
			t.Fatalf("read %d with Redis down: User = %+v, %t, %v; want an error", i, u, ok, err)
		}
		// What a login and a revocation do must not fail.
		if err := c.PutSession(ctx, digest(2), session(2, now)); err != nil {
			t.Fatalf("PutSession with Redis down: %v", err)
		}
		if err := c.TouchSession(ctx, d, now); err != nil {
			t.Fatalf("TouchSession with Redis down: %v", err)
		}
		if err := c.Invalidate(ctx, latchkey.Invalidation{Users: []int64{1}}); err != nil {
			t.Fatalf("Invalidate with Redis down: %v", err)
		}
	}
	t.Logf("with Redis down, a round of Session, User, PutSession, TouchSession, Invalidate took %v on average",
		time.Since(down)/100)
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping with Redis down: nil")
	}
	// Give the subscriber time to retry a few times, so that a log per
	// attempt would show.
	time.Sleep(time.Second)
	if got := rlog.get(slog.LevelError); len(got) != 1 {
		t.Errorf("redis cache logged %d errors over one outage, want 1: %q", len(got), got)
	}
	if got := tlog.get(slog.LevelWarn); len(got) != 1 {
		t.Errorf("tiered cache logged %d warnings over one outage, want 1: %q", len(got), got)
	}

	srv.Start()
	restarted := time.Now()
	d3 := digest(3)
	for {
		if time.Since(restarted) > 5*time.Second {
			t.Fatalf("caching did not resume within 5s of Redis's return (live %t)", c.Live())
		}
		// Redis takes writes again (the tiered cache does not report a
		// failed write), and the local layer answers.
		if c.Live() && c.remote.PutSession(ctx, d3, session(3, now)) == nil && c.PutSession(ctx, d3, session(3, now)) == nil {
			h.n.Store(0)
			if _, ok, err := c.Session(ctx, d3); ok && err == nil && h.n.Load() == 0 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("caching resumed %v after Redis restarted", time.Since(restarted).Round(time.Millisecond))
	// The entry cached before the outage was purged with the layer: it is
	// in neither layer now (the new Redis is empty).
	if _, ok, _ := c.local.Session(ctx, d); ok {
		t.Error("entry cached before the outage survived the resubscription")
	}
	if _, ok, err := c.Session(ctx, d); ok || err != nil {
		t.Errorf("Session of the pre-outage entry: ok %t, err %v; want a miss", ok, err)
	}
	if got := tlog.get(slog.LevelInfo); len(got) != 1 {
		t.Errorf("tiered cache logged %d infos on recovery, want 1: %q", len(got), got)
	}
	// One for the subscription, one for the calls that failed; not one
	// per retry or per failed call.
	if n := losses.Load(); n != 2 {
		t.Errorf("%d losses reported over one outage, want 2 (the subscription's and the calls')", n)
	}
}

// TestSilentOutage freezes Redis without closing its connections, as a
// network partition would: the subscriber's ping goes unanswered, and the
// local layer must go off within two health-check intervals, then come
// back by itself once Redis answers again.
func TestSilentOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := t.Context()
	const check = 200 * time.Millisecond
	c := open(t, srv.URL(), redis.Options{}, Options{HealthCheck: check})
	d := digest(1)
	c.PutSession(ctx, d, session(1, time.Now()))

	srv.Pause()
	paused := time.Now()
	for c.Live() {
		if time.Since(paused) > 2*check+500*time.Millisecond {
			t.Fatalf("local layer still live %v after Redis froze (health check %v)", time.Since(paused), check)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("local layer off %v after Redis froze (health check %v)", time.Since(paused).Round(time.Millisecond), check)
	start := time.Now()
	if _, ok, err := c.Session(ctx, d); ok || err == nil {
		t.Errorf("Session with Redis frozen: ok %t, err %v; want an error", ok, err)
	}
	t.Logf("a read with Redis frozen failed after %v", time.Since(start).Round(time.Millisecond))

	srv.Resume()
	t.Logf("live again %v after Redis resumed", waitLive(t, c, 5*time.Second).Round(time.Millisecond))
}

// TestCloseStops checks that Close stops the subscriber and the local
// layer, and that the cache still answers from Redis afterwards.
func TestCloseStops(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	c := open(t, url, redis.Options{Prefix: redistest.Prefix(t, url)}, Options{})
	c.PutSession(ctx, digest(1), session(1, time.Now()))
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return within 2s")
	}
	if c.Live() {
		t.Error("live after Close")
	}
	h := countCalls(c)
	if _, ok, err := c.Session(ctx, digest(1)); !ok || err != nil || h.n.Load() == 0 {
		t.Errorf("Session after Close: ok %t, err %v, %d Redis calls; want a Redis hit", ok, err, h.n.Load())
	}
}

// BenchmarkTieredLocalHit compares a local hit with the memory cache's
// hit, for Session and for what Authenticate asks (Session, then User).
func BenchmarkTieredLocalHit(b *testing.B) {
	url := redistest.URL(b)
	ctx := context.Background()
	now := time.Now()
	for _, n := range []int{1_000, 100_000} {
		mem := memory.New(memory.Options{MaxEntries: 2 * n})
		tc := open(b, url, redis.Options{Prefix: redistest.Prefix(b, url)}, Options{MaxEntries: 2 * n})
		ds := make([]latchkey.Digest, n)
		for i := range ds {
			ds[i] = digest(i)
			s, u := session(i, now), user(int64(i+1), now)
			s.UserID = u.ID
			for _, c := range []*memory.Cache{mem, tc.local} {
				c.PutSession(ctx, ds[i], s)
				c.PutUser(ctx, u)
			}
		}
		for _, c := range []struct {
			name  string
			cache latchkey.Cache
		}{{"memory", mem}, {"tiered", tc}} {
			b.Run(fmt.Sprintf("%s/%d/session", c.name, n), func(b *testing.B) {
				benchHits(b, n, func(i int) bool {
					_, ok, _ := c.cache.Session(ctx, ds[i])
					return ok
				})
			})
			b.Run(fmt.Sprintf("%s/%d/authenticate", c.name, n), func(b *testing.B) {
				benchHits(b, n, func(i int) bool {
					s, ok, _ := c.cache.Session(ctx, ds[i])
					if !ok {
						return false
					}
					_, ok, _ = c.cache.User(ctx, s.UserID)
					return ok
				})
			})
		}
	}
}

// BenchmarkTieredRemoteHit is the cost of a read the local layer cannot
// answer: one Redis round trip.
func BenchmarkTieredRemoteHit(b *testing.B) {
	url := redistest.URL(b)
	ctx := context.Background()
	c := openStopped(b, url, redis.Options{Prefix: redistest.Prefix(b, url)}, Options{})
	const n = 1000
	for i := range n {
		if err := c.PutSession(ctx, digest(i), session(i, time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	benchHits(b, n, func(i int) bool {
		_, ok, _ := c.Session(ctx, digest(i))
		return ok
	})
}

// benchHits runs hit(i) for i cycling over [0, n), serially and from
// GOMAXPROCS goroutines.
func benchHits(b *testing.B, n int, hit func(i int) bool) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !hit(i) {
				b.Fatal("miss")
			}
			if i++; i == n {
				i = 0
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var start atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(7919)) % n
			for pb.Next() {
				if !hit(i) {
					b.Error("miss")
					return
				}
				if i++; i == n {
					i = 0
				}
			}
		})
	})
}

// TestEchoWait: while the subscription is live, Invalidate returns only
// after its announcement came back from Redis, one wait per invalidation
// whatever it names; without a live subscription it does not wait.
func TestEchoWait(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	// A wait as long as this never runs out here: a wait that ends is one
	// that heard its echo.
	a := open(t, url, redis.Options{Prefix: prefix}, Options{EchoWait: time.Minute})
	b := open(t, url, redis.Options{Prefix: prefix}, Options{})
	const n = 20
	for i := range n {
		d, id := digest(i), int64(i+1)
		a.PutSession(ctx, d, session(i, now))
		a.PutUser(ctx, user(id, now))
		b.Session(ctx, d)
		b.User(ctx, id)
		if err := a.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{d}}); err != nil {
			t.Fatal(err)
		}
		if err := a.Invalidate(ctx, latchkey.Invalidation{Users: []int64{id}}); err != nil {
			t.Fatal(err)
		}
		// A password change: sessions and the user, one announcement.
		if err := a.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{d, digest(i + 1000)}, Users: []int64{id}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, missed := a.echoed.Load(), a.unechoed.Load(); got != 3*n || missed != 0 {
		t.Errorf("%d waits heard their echo and %d did not, want %d and 0", got, missed, 3*n)
	}
	for _, e := range []int{len(a.sessionEchoes.w), len(a.userEchoes.w)} {
		if e != 0 {
			t.Errorf("%d keys still have waiters", e)
		}
	}

	// A replay of the change feed is not announced: nothing to wait for.
	before := a.echoed.Load() + a.unechoed.Load()
	a.PutSession(ctx, digest(n), session(n, now))
	if err := a.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{digest(n)}, Users: []int64{1}, Replay: true}); err != nil {
		t.Fatal(err)
	}
	if w := a.echoed.Load() + a.unechoed.Load(); w != before {
		t.Errorf("a replayed invalidation waited %d times", w-before)
	}
	if _, ok, _ := a.Session(ctx, digest(n)); ok {
		t.Error("a replayed invalidation left the session")
	}

	// Not subscribed: nothing to wait for.
	c := openStopped(t, url, redis.Options{Prefix: prefix}, Options{EchoWait: time.Minute})
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{digest(0)}, Users: []int64{1}}); err != nil {
		t.Fatal(err)
	}
	if got, missed := c.echoed.Load(), c.unechoed.Load(); got != 0 || missed != 0 {
		t.Errorf("without a subscription: %d and %d waits, want none", got, missed)
	}
}
