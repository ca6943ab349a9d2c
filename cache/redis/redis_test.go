package redis_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/cachetest"
	"github.com/latchkeyhq/latchkey/cache/challengetest"
	"github.com/latchkeyhq/latchkey/cache/guardtest"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
)

func TestCache(t *testing.T) {
	url := redistest.URL(t)
	cachetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.Cache {
		return open(t, url, redis.Options{Now: now})
	})
}

// open returns a cache on url under a prefix of the test's own.
func open(t testing.TB, url string, opts redis.Options) *redis.Cache {
	t.Helper()
	c, _ := openClient(t, url, opts)
	return c
}

// openClient is open that also returns the cache's client, a NewClient
// of the test's own.
func openClient(t testing.TB, url string, opts redis.Options) (*redis.Cache, goredis.UniversalClient) {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = redistest.Prefix(t, url)
	}
	client, err := redis.NewClient(url)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return redis.New(client, opts), client
}

func digest(s string) latchkey.Digest { return sha256.Sum256([]byte(s)) }

func sessionKey(c *redis.Cache, d latchkey.Digest) string {
	return c.Prefix() + "s:" + hex.EncodeToString(d[:])
}
func userKey(c *redis.Cache, id int64) string { return fmt.Sprintf("%su:%d", c.Prefix(), id) }

func session(now time.Time) latchkey.CachedSession {
	return latchkey.CachedSession{
		SessionID:  "q1w2e3r4t5y6u7i8o9p0aA",
		UserID:     42,
		CreatedAt:  now.Add(-time.Hour),
		LastUsedAt: now.Add(-time.Minute),
		ExpiresAt:  now.Add(24 * time.Hour),
	}
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		name       string
		url        string
		pool       int
		dial, read time.Duration
	}{
		{"defaults", "redis://127.0.0.1:6379/3", redis.DefaultPoolSize, time.Second, 500 * time.Millisecond},
		{"from the URL", "redis://127.0.0.1:6379/0?pool_size=4&dial_timeout=3s&read_timeout=1s", 4, 3 * time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, err := redis.NewClient(tt.url)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			defer client.Close()
			o := client.(*goredis.Client).Options()
			if o.PoolSize != tt.pool || o.MaxActiveConns != tt.pool {
				t.Errorf("PoolSize, MaxActiveConns = %d, %d, want %d, %d", o.PoolSize, o.MaxActiveConns, tt.pool, tt.pool)
			}
			if o.DialTimeout != tt.dial || o.ReadTimeout != tt.read {
				t.Errorf("DialTimeout, ReadTimeout = %v, %v, want %v, %v", o.DialTimeout, o.ReadTimeout, tt.dial, tt.read)
			}
			if !o.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is off: the per-call timeout would not reach the socket")
			}
			if c := redis.New(client, redis.Options{}); c.Prefix() != redis.DefaultPrefix || c.Channel() != redis.DefaultPrefix+"invalidate" {
				t.Errorf("Prefix, Channel = %q, %q", c.Prefix(), c.Channel())
			}
		})
	}
	t.Run("sentinel", func(t *testing.T) {
		c, err := redis.ParseURL("redis+sentinel://app:s3cret@127.0.0.1:26379/2?master_name=main&addr=127.0.0.2:26379&sentinel_password=sp&pool_size=5")
		if err != nil {
			t.Fatalf("ParseURL: %v", err)
		}
		o := c.Failover
		if o == nil || c.Single != nil || c.Cluster != nil {
			t.Fatalf("ParseURL = %+v, want a failover config only", c)
		}
		if o.MasterName != "main" || o.DB != 2 || len(o.SentinelAddrs) != 2 || o.SentinelAddrs[1] != "127.0.0.2:26379" {
			t.Errorf("MasterName, DB, SentinelAddrs = %q, %d, %v", o.MasterName, o.DB, o.SentinelAddrs)
		}
		if o.Username != "app" || o.Password != "s3cret" || o.SentinelUsername != "" || o.SentinelPassword != "sp" {
			t.Errorf("credentials: master %q/%q, sentinel %q/%q", o.Username, o.Password, o.SentinelUsername, o.SentinelPassword)
		}
		if o.PoolSize != 5 || o.MaxActiveConns != 5 || o.MaxRetries != -1 || !o.ContextTimeoutEnabled || o.TLSConfig != nil {
			t.Errorf("PoolSize, MaxActiveConns, MaxRetries, ContextTimeoutEnabled, TLS = %d, %d, %d, %v, %v",
				o.PoolSize, o.MaxActiveConns, o.MaxRetries, o.ContextTimeoutEnabled, o.TLSConfig)
		}
		tc, err := redis.ParseURL("rediss+sentinel://127.0.0.1:26379?master_name=main")
		if err != nil || tc.Failover == nil || tc.Failover.TLSConfig == nil {
			t.Errorf("rediss+sentinel: %+v, %v; want TLS", tc, err)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		c, err := redis.ParseURL("redis+cluster://:pw@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002")
		if err != nil {
			t.Fatalf("ParseURL: %v", err)
		}
		o := c.Cluster
		if o == nil || c.Single != nil || c.Failover != nil {
			t.Fatalf("ParseURL = %+v, want a cluster config only", c)
		}
		if len(o.Addrs) != 3 || o.Addrs[0] != "127.0.0.1:7000" || o.Password != "pw" {
			t.Errorf("Addrs, Password = %v, %q", o.Addrs, o.Password)
		}
		if o.PoolSize != redis.DefaultPoolSize || o.MaxActiveConns != redis.DefaultPoolSize || o.DialTimeout != time.Second || !o.ContextTimeoutEnabled {
			t.Errorf("PoolSize, MaxActiveConns, DialTimeout, ContextTimeoutEnabled = %d, %d, %v, %v", o.PoolSize, o.MaxActiveConns, o.DialTimeout, o.ContextTimeoutEnabled)
		}
		client, err := redis.NewClient("rediss+cluster://127.0.0.1:7000/0")
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		defer client.Close()
		if _, ok := client.(*goredis.ClusterClient); !ok {
			t.Errorf("NewClient = %T, want a cluster client", client)
		}
	})
	for _, bad := range []string{
		"http://user:hunter2@127.0.0.1:6379/0",
		"redis://user:hunter2@127.0.0.1:6379/zero",
		"redis://user:hunter2@[::1/0",
		"redis://user:hunter2@127.0.0.1:6379/0?bogus=1",
		"redis+sentinel://user:hunter2@127.0.0.1:26379/0",
		"redis+sentinel://127.0.0.1:26379/0?master_name=m&password=hunter2",
		"redis+sentinel://user:hunter2@127.0.0.1:26379/x?master_name=m",
		"redis+cluster://user:hunter2@127.0.0.1:7000/3",
		"redis+cluster://user:hunter2@127.0.0.1:7000?addr=nonsense",
		"redis+ring://user:hunter2@127.0.0.1:7000",
		"unix+sentinel://user:hunter2@/tmp/redis.sock",
		"redis://:hun/hunter2@127.0.0.1:6379/0",
		"redis+sentinel://:hun?hunter2@127.0.0.1:26379/0?master_name=m",
	} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := redis.NewClient(bad)
			if err == nil {
				t.Fatal("NewClient: no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("NewClient error shows the password: %v", err)
			}
		})
	}
}

// TestSessionTTL watches Redis drop an entry at its ExpiresAt, in real
// time: the entry must never outlive its token.
func TestSessionTTL(t *testing.T) {
	url := redistest.URL(t)
	c := open(t, url, redis.Options{})
	raw := redistest.Client(t, url)
	ctx := t.Context()

	now := time.Now()
	s := session(now)
	s.ExpiresAt = now.Add(time.Second).Truncate(time.Millisecond).Add(999 * time.Microsecond)
	d := digest("ttl")
	if err := c.PutSession(ctx, d, s); err != nil {
		t.Fatal(err)
	}
	at, err := raw.PExpireTime(ctx, sessionKey(c, d)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := s.ExpiresAt.Truncate(time.Millisecond); at != time.Duration(want.UnixMilli())*time.Millisecond {
		t.Errorf("PEXPIRETIME = %d ms, want %d (ExpiresAt rounded down)", at/time.Millisecond, want.UnixMilli())
	}
	if _, ok, err := c.Session(ctx, d); err != nil || !ok {
		t.Fatalf("Session before ExpiresAt: ok %t, err %v", ok, err)
	}
	time.Sleep(time.Until(s.ExpiresAt) + 50*time.Millisecond)
	if n, err := raw.Exists(ctx, sessionKey(c, d)).Result(); err != nil || n != 0 {
		t.Errorf("after ExpiresAt: EXISTS = %d, %v; want 0", n, err)
	}
	// The key is gone, not only stale: a touch does not bring it back.
	if err := c.TouchSession(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := raw.Exists(ctx, sessionKey(c, d)).Result(); n != 0 {
		t.Error("TouchSession recreated an expired key")
	}
}

func TestUserEntry(t *testing.T) {
	url := redistest.URL(t)
	c := open(t, url, redis.Options{UserTTL: time.Minute})
	raw := redistest.Client(t, url)
	ctx := t.Context()
	u := latchkey.User{
		ID: 7, Username: "alice", Email: "alice@example.com", Active: true,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		DateJoined:   time.Now(),
	}
	if err := c.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	b, err := raw.Get(ctx, userKey(c, 7)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("argon2")) || bytes.Contains(b, []byte("c2FsdA")) {
		t.Errorf("stored user carries the password hash: %q", b)
	}
	ttl, err := raw.PTTL(ctx, userKey(c, 7)).Result()
	if err != nil || ttl <= 50*time.Second || ttl > time.Minute {
		t.Errorf("PTTL = %v, %v; want about UserTTL (1m)", ttl, err)
	}
}

func TestTouchKeepsTTL(t *testing.T) {
	url := redistest.URL(t)
	c := open(t, url, redis.Options{})
	raw := redistest.Client(t, url)
	ctx := t.Context()
	now := time.Now()
	s := session(now)
	s.ExpiresAt = now.Add(time.Hour)
	d := digest("touch")
	if err := c.PutSession(ctx, d, s); err != nil {
		t.Fatal(err)
	}
	if err := c.TouchSession(ctx, d, now); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Session(ctx, d)
	if err != nil || !ok || !got.LastUsedAt.Equal(now.Truncate(time.Microsecond)) {
		t.Fatalf("Session after touch = %+v, %t, %v", got, ok, err)
	}
	if ttl, _ := raw.PTTL(ctx, sessionKey(c, d)).Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("PTTL after touch = %v, want the hour it had", ttl)
	}
}

func TestMalformedEntry(t *testing.T) {
	url := redistest.URL(t)
	c := open(t, url, redis.Options{})
	raw := redistest.Client(t, url)
	ctx := t.Context()
	d := digest("junk")
	raw.Set(ctx, sessionKey(c, d), "{json?}", time.Minute)
	raw.Set(ctx, userKey(c, 3), "\x01", time.Minute)
	if _, ok, err := c.Session(ctx, d); ok || err == nil {
		t.Errorf("Session of a malformed entry: ok %t, err %v; want an error", ok, err)
	}
	if _, ok, err := c.User(ctx, 3); ok || err == nil {
		t.Errorf("User of a malformed entry: ok %t, err %v; want an error", ok, err)
	}
	// A touch leaves what it cannot read alone.
	if err := c.TouchSession(ctx, d, time.Now()); err != nil {
		t.Error(err)
	}
	if v, _ := raw.Get(ctx, sessionKey(c, d)).Result(); v != "{json?}" {
		t.Errorf("TouchSession changed a malformed entry to %q", v)
	}
}

// TestPurgeScope checks that invalidating all entries deletes this
// prefix's sessions and users only: not another prefix's keys, not the
// claims kept under this prefix.
func TestPurgeScope(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	base := redistest.Prefix(t, url)
	a, client := openClient(t, url, redis.Options{Prefix: base + "a*:"}) // glob characters are quoted
	b := open(t, url, redis.Options{Prefix: base + "ab:"})
	claims := redis.NewClaims(client, redis.Options{Prefix: base + "a*:"})
	now := time.Now()
	for _, c := range []*redis.Cache{a, b} {
		if err := c.PutSession(ctx, digest("x"), session(now)); err != nil {
			t.Fatal(err)
		}
		if err := c.PutUser(ctx, latchkey.User{ID: 1, Username: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	if first, err := claims.Claim(ctx, "captcha", now.Add(time.Minute)); err != nil || !first {
		t.Fatalf("Claim = %t, %v", first, err)
	}
	if err := a.Invalidate(ctx, latchkey.Invalidation{All: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Session(ctx, digest("x")); ok {
		t.Error("purged session still there")
	}
	if _, ok, _ := a.User(ctx, 1); ok {
		t.Error("purged user still there")
	}
	if _, ok, _ := b.Session(ctx, digest("x")); !ok {
		t.Error("the purge removed another prefix's session")
	}
	if _, ok, _ := b.User(ctx, 1); !ok {
		t.Error("the purge removed another prefix's user")
	}
	if first, err := claims.Claim(ctx, "captcha", now.Add(time.Minute)); err != nil || first {
		t.Errorf("Claim after the purge = %t, %v; want the claim kept", first, err)
	}
}

func TestClaims(t *testing.T) {
	url := redistest.URL(t)
	guardtest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ReplayGuard {
		_, client := openClient(t, url, redis.Options{})
		return redis.NewClaims(client, redis.Options{Prefix: redistest.Prefix(t, url), Now: now})
	})
}

func TestChallenges(t *testing.T) {
	url := redistest.URL(t)
	challengetest.Run(t, func(t *testing.T, now func() time.Time) latchkey.ChallengeStore {
		_, client := openClient(t, url, redis.Options{})
		return redis.NewChallenges(client, redis.Options{Prefix: redistest.Prefix(t, url), Now: now})
	})
}

func TestClaim(t *testing.T) {
	url := redistest.URL(t)
	_, client := openClient(t, url, redis.Options{})
	c := redis.NewClaims(client, redis.Options{Prefix: redistest.Prefix(t, url)})
	ctx := t.Context()
	now := time.Now()
	claim := func(key string, exp time.Time) bool {
		t.Helper()
		first, err := c.Claim(ctx, key, exp)
		if err != nil {
			t.Fatalf("Claim(%q): %v", key, err)
		}
		return first
	}
	tests := []struct {
		name string
		key  string
		want bool
	}{
		{"first", "a", true},
		{"again", "a", false},
		{"other key", "b", true},
		{"long key", strings.Repeat("t", 4096), true},
		{"long key again", strings.Repeat("t", 4096), false},
		{"empty key", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := claim(tt.key, now.Add(time.Minute)); got != tt.want {
				t.Errorf("Claim = %t, want %t", got, tt.want)
			}
		})
	}
	t.Run("expiry in the past", func(t *testing.T) {
		for _, exp := range []time.Time{now.Add(-time.Second), {}} {
			if first, err := c.Claim(ctx, "past", exp); err == nil || first {
				t.Errorf("Claim(expires %v) = %t, %v; want an error", exp, first, err)
			}
		}
	})
	t.Run("claimable again after expiry", func(t *testing.T) {
		exp := time.Now().Add(200 * time.Millisecond)
		if !claim("short", exp) || claim("short", exp) {
			t.Fatal("want first, then not")
		}
		time.Sleep(time.Until(exp) + 50*time.Millisecond)
		if !claim("short", time.Now().Add(time.Minute)) {
			t.Error("Claim after the first claim expired = false, want true")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				first, err := c.Claim(ctx, "race", now.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if n := firsts.Load(); n != 1 {
			t.Errorf("%d of 16 concurrent claims were first, want 1", n)
		}
	})
}

// faults makes chosen commands fail as if Redis were unreachable.
type faults struct {
	mu   sync.Mutex
	fail map[string]bool // command name → fail; "*" fails all
}

var errUnreachable = errors.New("injected: connection refused")

func (f *faults) set(cmds ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = make(map[string]bool)
	for _, c := range cmds {
		f.fail[c] = true
	}
}

func (f *faults) fails(cmd goredis.Cmder) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail["*"] || f.fail[cmd.Name()]
}

func (f *faults) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (f *faults) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if f.fails(cmd) {
			cmd.SetErr(errUnreachable)
			return errUnreachable
		}
		return next(ctx, cmd)
	}
}

func (f *faults) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			if f.fails(cmd) {
				for _, cmd := range cmds {
					cmd.SetErr(errUnreachable)
				}
				return errUnreachable
			}
		}
		return next(ctx, cmds)
	}
}

// logCounter counts log records by level.
type logCounter struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	msgs   []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = make(map[slog.Level]int)
	}
	l.counts[r.Level]++
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[level]
}

// TestOwedDeletes checks that a revocation Redis did not take is not lost:
// the entries read as misses here while Redis still holds them, and Settle
// deletes and announces them once Redis takes commands again.
func TestOwedDeletes(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	logs := new(logCounter)
	c, client := openClient(t, url, redis.Options{Logger: slog.New(logs)})
	f := new(faults)
	client.AddHook(f)
	raw := redistest.Client(t, url)
	sub := subscribe(t, c)
	d, other := digest("revoked"), digest("other")
	fill(t, c, 5, d, other)
	now := time.Now()

	f.set("unlink", "publish")
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{d}}); err != nil {
		t.Errorf("Invalidate(session) with Redis failing = %v, want nil (owed)", err)
	}
	if err := c.Invalidate(ctx, latchkey.Invalidation{Users: []int64{5}}); err != nil {
		t.Errorf("Invalidate(user) with Redis failing = %v, want nil (owed)", err)
	}
	if n, _ := raw.Exists(ctx, sessionKey(c, d), userKey(c, 5)).Result(); n != 2 {
		t.Fatalf("EXISTS = %d: the deletes were not failed", n)
	}
	for range 100 {
		if _, ok, err := c.Session(ctx, d); ok || err != nil {
			t.Fatalf("Session of an owed delete: ok %t, err %v; want a miss", ok, err)
		}
		if _, ok, err := c.User(ctx, 5); ok || err != nil {
			t.Fatalf("User of an owed delete: ok %t, err %v; want a miss", ok, err)
		}
	}
	if _, ok, err := c.Session(ctx, other); !ok || err != nil {
		t.Fatalf("Session of another entry: ok %t, err %v; want a hit", ok, err)
	}

	f.set()
	if err := c.Settle(ctx); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if n, _ := raw.Exists(ctx, sessionKey(c, d), userKey(c, 5)).Result(); n != 0 {
		t.Errorf("after Settle: EXISTS = %d, want 0", n)
	}
	// Everything owed is announced in one message.
	if inv := next(t, sub); len(inv.Sessions) != 1 || inv.Sessions[0] != d || len(inv.Users) != 1 || inv.Users[0] != 5 || inv.All {
		t.Errorf("settled invalidation %+v; want the owed session and user", inv)
	}

	t.Run("overflow owes a purge", func(t *testing.T) {
		c, client := openClient(t, url, redis.Options{MaxOwed: 2})
		client.AddHook(f)
		live := digest("live")
		if err := c.PutSession(ctx, live, session(now)); err != nil {
			t.Fatal(err)
		}
		f.set("unlink", "publish")
		c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{digest("1"), digest("2"), digest("3")}})
		if _, ok, err := c.Session(ctx, live); ok || err != nil {
			t.Errorf("Session with a purge owed: ok %t, err %v; want a miss", ok, err)
		}
		f.set()
		if err := c.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.PutSession(ctx, live, session(now)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := c.Session(ctx, live); !ok || err != nil {
			t.Errorf("Session after the purge: ok %t, err %v; want a hit", ok, err)
		}
	})

	t.Run("logged once", func(t *testing.T) {
		f.set("*")
		for range 200 {
			if _, _, err := c.Session(ctx, other); err == nil {
				t.Fatal("Session with Redis failing: no error")
			}
			c.PutSession(ctx, other, session(now))
		}
		f.set()
		if n := logs.count(slog.LevelError); n != 1 {
			t.Errorf("%d error records over an outage, want 1: %q", n, logs.msgs)
		}
	})
}

func BenchmarkSessionHit(b *testing.B) {
	url := redistest.URL(b)
	ctx := context.Background()
	c := open(b, url, redis.Options{})
	const n = 1000
	ds := make([]latchkey.Digest, n)
	now := time.Now()
	for i := range ds {
		ds[i] = sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
		if err := c.PutSession(ctx, ds[i], session(now)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, err := c.Session(ctx, ds[i%n]); !ok || err != nil {
				b.Fatalf("miss: %v", err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok, err := c.Session(ctx, ds[i%n]); !ok || err != nil {
					b.Errorf("miss: %v", err)
					return
				}
				i++
			}
		})
	})
}

// TestReplayedNotAnnounced: an invalidation that replays the change feed
// removes the entries but publishes nothing (every process replays it
// itself); an ordinary one publishes.
func TestReplayedNotAnnounced(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	c := open(t, url, redis.Options{})
	sub := subscribe(t, c)
	replayed, announced := digest("replayed"), digest("announced")
	fill(t, c, 7, replayed, announced)
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{replayed}, Users: []int64{7}, Replay: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Session(ctx, replayed); ok {
		t.Error("the replayed invalidation left the session")
	}
	if _, ok, _ := c.User(ctx, 7); ok {
		t.Error("the replayed invalidation left the user")
	}
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: []latchkey.Digest{announced}}); err != nil {
		t.Fatal(err)
	}
	// Messages arrive in order: the first is the ordinary one's.
	if inv := next(t, sub); len(inv.Sessions) != 1 || inv.Sessions[0] != announced || len(inv.Users) != 0 {
		t.Errorf("first invalidation published: %+v; want the announced session only", inv)
	}
}

// TestOneInvalidationOneMessage: an invalidation naming sessions and a
// user (a password change) is one PUBLISH, however many sessions.
func TestOneInvalidationOneMessage(t *testing.T) {
	url := redistest.URL(t)
	ctx := t.Context()
	c, client := openClient(t, url, redis.Options{})
	var publishes atomic.Int64
	client.AddHook(countHook{"publish", &publishes})
	sub := subscribe(t, c)
	ds := make([]latchkey.Digest, 2500) // more than one unlink pipeline
	for i := range ds {
		ds[i] = digest(fmt.Sprint(i))
	}
	fill(t, c, 9, ds[:3]...)
	if err := c.Invalidate(ctx, latchkey.Invalidation{Sessions: ds, Users: []int64{9}}); err != nil {
		t.Fatal(err)
	}
	if n := publishes.Load(); n != 1 {
		t.Fatalf("%d PUBLISH commands, want 1", n)
	}
	inv := next(t, sub)
	if len(inv.Sessions) != len(ds) || inv.Sessions[2499] != ds[2499] || len(inv.Users) != 1 || inv.Users[0] != 9 {
		t.Fatalf("received %d sessions, users %v; want %d and [9]", len(inv.Sessions), inv.Users, len(ds))
	}
	if _, ok, _ := c.Session(ctx, ds[0]); ok {
		t.Error("session left")
	}
	if _, ok, _ := c.User(ctx, 9); ok {
		t.Error("user left")
	}
}

// countHook counts the commands of one name a client sends.
type countHook struct {
	name string
	n    *atomic.Int64
}

func (h countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == h.name {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			if cmd.Name() == h.name {
				h.n.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// subscribe returns a subscription to c's invalidations, confirmed.
func subscribe(t *testing.T, c *redis.Cache) *redis.Subscription {
	t.Helper()
	sub := c.Subscribe(t.Context())
	t.Cleanup(func() { sub.Close() })
	if err := sub.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ev, err := sub.Receive(t.Context(), 5*time.Second); err != nil || ev.Kind != redis.EventSubscribed {
		t.Fatalf("subscription: %+v, %v", ev, err)
	}
	return sub
}

// next returns the next invalidation sub receives.
func next(t *testing.T, sub *redis.Subscription) latchkey.Invalidation {
	t.Helper()
	for {
		ev, err := sub.Receive(t.Context(), 5*time.Second)
		if err != nil {
			t.Fatalf("no invalidation received: %v", err)
		}
		if ev.Kind == redis.EventInvalidation {
			return ev.Invalidation
		}
	}
}

// fill caches a session under each of ds and the user id.
func fill(t *testing.T, c *redis.Cache, id int64, ds ...latchkey.Digest) {
	t.Helper()
	now := time.Now()
	for _, d := range ds {
		if err := c.PutSession(t.Context(), d, session(now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutUser(t.Context(), latchkey.User{ID: id, Username: "u"}); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseURL: any cache URL parses or is refused without a panic, and
// an error never shows the password it was given.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0",
		"rediss://u:p@host:6380/2?pool_size=3",
		"unix://u:p@/tmp/redis.sock?db=1",
		"redis+sentinel://u:p@127.0.0.1:26379/1?master_name=m&addr=127.0.0.2:26379&sentinel_password=q",
		"rediss+cluster://u:p@127.0.0.1:7000?addr=127.0.0.1:7001",
		"REDIS+Sentinel://%zz@x",
	} {
		f.Add(s, "hunter2")
	}
	f.Fuzz(func(t *testing.T, raw, secret string) {
		if len(secret) < 6 || strings.ContainsAny(secret, "@/:?#[]%&=+ \\x00") {
			return
		}
		withSecret := strings.Replace(raw, "u:p@", "u:"+secret+"@", 1)
		for _, u := range []string{raw, withSecret} {
			c, err := redis.ParseURL(u)
			if err != nil {
				if u == withSecret && !strings.Contains(raw, secret) && strings.Contains(err.Error(), secret) {
					t.Fatalf("ParseURL(%q) error shows the password: %v", u, err)
				}
				continue
			}
			n := 0
			for _, set := range []bool{c.Single != nil, c.Failover != nil, c.Cluster != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("ParseURL(%q) = %+v: want exactly one kind", u, c)
			}
		}
	})
}
