// Package redis is the shared token cache: sessions by token digest and
// users by id, kept in Redis so that every latchkey process that shares a
// database also shares what it has authenticated. Beside the cache it
// keeps the shared replay guard (Claims), and it opens the one Redis
// client a node hands to both and to the throttle store (NewClient). On its own it costs a
// round trip per lookup; cache/tiered puts an in-process layer in front of
// it, kept coherent by the invalidations this package publishes.
//
// A session entry expires in Redis at its ExpiresAt (PEXPIREAT, rounded
// down), so that no entry outlives its token, and is also checked against
// the injected clock on every read. Users expire after Options.UserTTL and
// never carry a password hash. Keys live under Options.Prefix, which an
// invalidation of all entries respects: it never flushes anything else.
//
// Revocation must not be lost to a Redis outage: an invalidation that
// fails is remembered (bounded; past the bound, a purge is owed instead),
// reads of what it named answer "miss" on this process, and it is retried
// until Redis takes it. That is why Invalidate returns nil when Redis is
// down: what it promises, that the entries are not served again, holds.
// Failures are logged once per outage, not per call.
package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
)

// Defaults for Options and for the client NewClient makes.
const (
	DefaultPrefix  = "latchkey:"
	DefaultUserTTL = time.Hour
	DefaultTimeout = 250 * time.Millisecond
	DefaultMaxOwed = 100_000

	// DefaultPoolSize bounds the connections NewClient's client keeps and
	// opens: a cache, throttle or claim call holds one for a single round
	// trip.
	DefaultPoolSize = 16
)

// Options configures a Cache. Zero values take the defaults.
type Options struct {
	// Prefix namespaces every key and the invalidation channel; default
	// DefaultPrefix. Processes that share a cache use the same prefix.
	Prefix string
	// UserTTL bounds how long a user entry lives; default DefaultUserTTL.
	UserTTL time.Duration
	// Timeout bounds each Redis call, within the caller's context;
	// default DefaultTimeout. A Redis that does not answer costs a request
	// this much before it goes to the store.
	Timeout time.Duration
	// MaxOwed bounds the failed deletes remembered for retry; default
	// DefaultMaxOwed. Past it, the cache owes a purge instead and every
	// read misses until the purge succeeds.
	MaxOwed int
	// Now is the clock session expiry is checked against; default
	// time.Now.
	Now func() time.Time
	// Logger receives one line when Redis becomes unavailable and one
	// when it is back; default discards.
	Logger *slog.Logger
}

// withDefaults fills in what o leaves zero.
func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.UserTTL <= 0 {
		o.UserTTL = DefaultUserTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxOwed <= 0 {
		o.MaxOwed = DefaultMaxOwed
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Cache is a latchkey.Cache in Redis. It is safe for use by many
// goroutines; create it with New.
type Cache struct {
	client  goredis.UniversalClient
	prefix  string
	channel string
	opt     Options
	health  episode
	owed    owed
}

var (
	_ latchkey.Cache        = (*Cache)(nil)
	_ latchkey.LossReporter = (*Cache)(nil)
)

// New returns a cache over client, which the caller keeps and closes. The
// client should bound its pool and set ContextTimeoutEnabled, so that the
// per-call Timeout reaches the socket; NewClient's does both.
func New(client goredis.UniversalClient, opts Options) *Cache {
	opts = opts.withDefaults()
	c := &Cache{
		client:  client,
		prefix:  opts.Prefix,
		channel: opts.Prefix + "invalidate",
		opt:     opts,
	}
	c.health.log = opts.Logger
	c.owed.max = opts.MaxOwed
	return c
}

// NewClient returns a client for rawURL, for a node to open once and hand
// to every part that uses Redis: the token cache (New), the replay guard
// (NewClaims) and the throttle store (throttle/redis). The URL names one
// of three deployments (see ParseURL): a single Redis, a Sentinel-managed
// master with its replicas, or a Redis Cluster. Settings the URL leaves
// out (go-redis query parameters such as pool_size, dial_timeout,
// read_timeout) take bounded defaults: a pool of at most DefaultPoolSize
// connections (per node of a cluster), 1 s to dial, 500 ms to read or
// write, no retries, and context deadlines honoured. Its errors never show
// a password. It does not connect; the first call does, so that a Redis
// down at start is an outage like any other.
func NewClient(rawURL string) (goredis.UniversalClient, error) {
	c, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Cluster != nil:
		return goredis.NewClusterClient(c.Cluster), nil
	case c.Failover != nil:
		return goredis.NewFailoverClient(c.Failover), nil
	default:
		return goredis.NewClient(c.Single), nil
	}
}

// Config is a parsed Redis URL: exactly one of its fields is set.
type Config struct {
	Single   *goredis.Options
	Failover *goredis.FailoverOptions
	Cluster  *goredis.ClusterOptions
}

// ParseURL parses a Redis URL and fills in NewClient's defaults:
//
//   - redis://[user:password@]host:port/db, rediss:// for TLS, or
//     unix://[user:password@]/path?db=N: one Redis;
//   - redis+sentinel://[user:password@]host:port[/db]?master_name=NAME
//     [&addr=host:port…] (rediss+sentinel:// for TLS): the master that the
//     Sentinels at host:port and every addr name, followed across
//     failovers. The user info authenticates to the master and replicas;
//     sentinel_username and sentinel_password, to the Sentinels;
//   - redis+cluster://[user:password@]host:port[?addr=host:port…]
//     (rediss+cluster:// for TLS): a Redis Cluster, found from the seed
//     nodes host:port and every addr.
//
// Any other query parameter is go-redis's (pool_size, dial_timeout, …).
func ParseURL(rawURL string) (Config, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	base, topology, _ := strings.Cut(strings.ToLower(scheme), "+")
	if !ok || base != "redis" && base != "rediss" && base != "unix" || (base == "unix" && topology != "") {
		// Only a known scheme is echoed: text before "://" may be anything.
		return Config{}, errors.New("redis: not a Redis URL: use redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://")
	}
	plain := base + "://" + rest
	var c Config
	var err error
	switch topology {
	case "":
		c.Single, err = goredis.ParseURL(plain)
		if err == nil {
			configure(knobsOf(c.Single))
		}
	case "sentinel":
		c.Failover, err = parseFailover(plain)
	case "cluster":
		c.Cluster, err = parseCluster(plain)
	default:
		return Config{}, errors.New("redis: not a Redis URL: use redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://")
	}
	if err != nil {
		// url.Error quotes the URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg := strings.TrimPrefix(err.Error(), "redis: ")
		if strings.Contains(msg, "@") || strings.Contains(strings.ToLower(msg), "password") {
			// The message quotes part of the URL that may hold a
			// password (one with a / or ? in it ends up in the path or
			// the query): say less.
			msg = "the URL does not parse (check its host, port, database and parameters)"
		}
		return Config{}, errors.New("redis: " + msg)
	}
	return c, nil
}

// parseFailover parses a redis+sentinel URL, with its scheme already
// reduced to redis or rediss.
func parseFailover(plain string) (*goredis.FailoverOptions, error) {
	u, err := url.Parse(plain)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if q.Has("username") || q.Has("password") {
		return nil, errors.New("put the master's credentials in the URL's user info, not in username or password parameters")
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	user := u.User
	u.User, u.RawQuery = nil, q.Encode()
	o, err := goredis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, err
	}
	if o.MasterName == "" {
		return nil, errors.New("a sentinel URL needs master_name")
	}
	if user != nil {
		o.Username = user.Username()
		o.Password, _ = user.Password()
	}
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	configure(knobsOfFailover(o))
	return o, nil
}

// parseCluster parses a redis+cluster URL, with its scheme already
// reduced to redis or rediss.
func parseCluster(plain string) (*goredis.ClusterOptions, error) {
	u, err := url.Parse(plain)
	if err != nil {
		return nil, err
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, errors.New("a cluster has database 0 only")
	}
	u.Path = ""
	o, err := goredis.ParseClusterURL(u.String())
	if err != nil {
		return nil, err
	}
	configure(knobsOfCluster(o))
	return o, nil
}

// knobs are the client settings configure bounds, shared by the three
// kinds of go-redis options.
type knobs struct {
	poolSize, maxActive, pipelinePool, maxRetries, dialerRetries *int
	dial, read, write, poolTimeout                               *time.Duration
	contextTimeout                                               *bool
}

func knobsOf(o *goredis.Options) knobs {
	return knobs{&o.PoolSize, &o.MaxActiveConns, &o.PipelinePoolSize, &o.MaxRetries, &o.DialerRetries,
		&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled}
}

func knobsOfFailover(o *goredis.FailoverOptions) knobs {
	return knobs{&o.PoolSize, &o.MaxActiveConns, &o.PipelinePoolSize, &o.MaxRetries, &o.DialerRetries,
		&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled}
}

func knobsOfCluster(o *goredis.ClusterOptions) knobs {
	return knobs{&o.PoolSize, &o.MaxActiveConns, &o.PipelinePoolSize, &o.MaxRetries, &o.DialerRetries,
		&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled}
}

// configure fills in what a URL left unset with bounded, short settings.
func configure(k knobs) {
	if *k.poolSize == 0 {
		*k.poolSize = DefaultPoolSize
	}
	if *k.maxActive == 0 {
		// PoolSize alone is a target, not a bound.
		*k.maxActive = *k.poolSize
	}
	if *k.pipelinePool == 0 {
		// Pipelines share the main pool, so MaxActiveConns bounds all.
		*k.pipelinePool = -1
	}
	if *k.dial == 0 {
		*k.dial = time.Second
	}
	if *k.read == 0 {
		*k.read = 500 * time.Millisecond
	}
	if *k.write == 0 {
		*k.write = 500 * time.Millisecond
	}
	if *k.poolTimeout == 0 {
		*k.poolTimeout = 500 * time.Millisecond
	}
	if *k.maxRetries == 0 {
		// A failed call is a miss, and the store answers: retrying (with
		// go-redis's backoff) would only make every request wait while
		// Redis is down. Dead pooled connections are dropped before use.
		*k.maxRetries = -1
	}
	// One dial per attempt: go-redis otherwise redials five times, 100 ms
	// apart, inside a single command while Redis is down.
	*k.dialerRetries = 1
	*k.contextTimeout = true
}

// Prefix returns the key namespace.
func (c *Cache) Prefix() string { return c.prefix }

// Channel returns the pub/sub channel on which Invalidate announces what
// it removed (see Subscribe).
func (c *Cache) Channel() string { return c.channel }

// Now returns the time on the cache's clock.
func (c *Cache) Now() time.Time { return c.opt.Now() }

func (c *Cache) sessionKey(d latchkey.Digest) string {
	b := make([]byte, 0, len(c.prefix)+2+2*len(d))
	b = append(b, c.prefix...)
	b = append(b, "s:"...)
	b = hex.AppendEncode(b, d[:])
	return string(b)
}

func (c *Cache) userKey(id int64) string {
	b := make([]byte, 0, len(c.prefix)+2+20)
	b = append(b, c.prefix...)
	b = append(b, "u:"...)
	b = strconv.AppendInt(b, id, 10)
	return string(b)
}

// call bounds one Redis call by Timeout.
func (c *Cache) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opt.Timeout)
}

// failed records err from a call made under parent and returns it
// wrapped. A call the caller cancelled says nothing about Redis.
func (c *Cache) failed(parent context.Context, op string, err error) error {
	if parent.Err() == nil {
		c.health.fail(op, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// Session returns the live entry for d. An entry at or past its ExpiresAt
// on the cache's clock is a miss.
func (c *Cache) Session(ctx context.Context, d latchkey.Digest) (latchkey.CachedSession, bool, error) {
	cctx, cancel := c.call(ctx)
	b, err := c.client.Get(cctx, c.sessionKey(d)).Bytes()
	cancel()
	if errors.Is(err, goredis.Nil) {
		c.health.ok()
		return latchkey.CachedSession{}, false, nil
	}
	if err != nil {
		return latchkey.CachedSession{}, false, c.failed(ctx, "session", err)
	}
	c.health.ok()
	if c.owed.pending() && c.owedSession(d) {
		return latchkey.CachedSession{}, false, nil
	}
	s, err := decodeSession(b)
	if err != nil {
		return latchkey.CachedSession{}, false, fmt.Errorf("redis: session: %w", err)
	}
	if !c.opt.Now().Before(s.ExpiresAt) {
		return latchkey.CachedSession{}, false, nil
	}
	return s, true, nil
}

// PutSession caches s under d until s.ExpiresAt, replacing any entry. An
// s already expired is not kept, and removes the entry it would have
// replaced.
func (c *Cache) PutSession(ctx context.Context, d latchkey.Digest, s latchkey.CachedSession) error {
	key := c.sessionKey(d)
	cctx, cancel := c.call(ctx)
	defer cancel()
	var err error
	if !c.opt.Now().Before(s.ExpiresAt) {
		err = c.client.Unlink(cctx, key).Err()
	} else {
		err = c.client.Do(cctx, "set", key, encodeSession(s), "pxat", expireAtMillis(s.ExpiresAt)).Err()
	}
	if err != nil {
		return c.failed(ctx, "put session", err)
	}
	c.health.ok()
	return nil
}

// touchScript moves the LastUsedAt field of an existing session record
// forward. It never creates a key, and keeps the key's expiry. The
// comparison is bytewise: the fields sort as the times do.
var touchScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.len(v) < 33 or string.byte(v, 1) ~= 1 then return 0 end
local at = ARGV[1]
if string.len(at) ~= 8 then return redis.error_reply('bad time') end
local cur = string.sub(v, 26, 33)
for i = 1, 8 do
  local a, b = string.byte(at, i), string.byte(cur, i)
  if a ~= b then
    if a < b then return 0 end
    redis.call('SET', KEYS[1], string.sub(v, 1, 25) .. at .. string.sub(v, 34), 'KEEPTTL')
    return 1
  end
end
return 0
`)

// TouchSession moves the LastUsedAt of d's entry forward to at. It never
// moves it backward and never creates an entry.
func (c *Cache) TouchSession(ctx context.Context, d latchkey.Digest, at time.Time) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	err := touchScript.Run(cctx, c.client, []string{c.sessionKey(d)}, putTime(nil, at)).Err()
	if err != nil {
		return c.failed(ctx, "touch session", err)
	}
	c.health.ok()
	return nil
}

// maxBatch bounds the keys one delete pipeline carries.
const maxBatch = 1000

// Invalidate drops the entries inv names and, unless inv.Replay, announces
// inv on Channel, in one message whatever it names. With inv.All it drops
// every session and user entry under the prefix (SCAN and UNLINK; never
// FLUSHDB); claims are kept. If Redis cannot take it, it is owed: retried
// later, and until then what it named reads as a miss here.
func (c *Cache) Invalidate(ctx context.Context, inv latchkey.Invalidation) error {
	if inv.Empty() {
		return nil
	}
	if err := c.invalidate(ctx, inv); err != nil {
		c.failed(ctx, "invalidate", err)
		c.owed.add(inv)
	}
	return nil
}

// invalidate removes the keys inv names, then publishes inv: in that
// order, so that a process that drops its copy on the message and reads
// again finds the keys gone. A replay is not published: every process
// replays the change feed itself.
func (c *Cache) invalidate(ctx context.Context, inv latchkey.Invalidation) error {
	if inv.All {
		for _, kind := range []string{"s:", "u:"} {
			if err := c.unlinkMatching(ctx, globEscape(c.prefix)+kind+"*"); err != nil {
				return err
			}
		}
	} else {
		keys := make([]string, 0, len(inv.Sessions)+len(inv.Users))
		for _, d := range inv.Sessions {
			keys = append(keys, c.sessionKey(d))
		}
		for _, id := range inv.Users {
			keys = append(keys, c.userKey(id))
		}
		for len(keys) > 0 {
			n := min(len(keys), maxBatch)
			if err := c.unlink(ctx, keys[:n]); err != nil {
				return err
			}
			keys = keys[n:]
		}
	}
	if !inv.Replay {
		cctx, cancel := c.call(ctx)
		defer cancel()
		if err := c.client.Publish(cctx, c.channel, encodeInvalidation(inv)).Err(); err != nil {
			return err
		}
	}
	c.health.ok()
	return nil
}

// unlink removes keys in one round trip.
func (c *Cache) unlink(ctx context.Context, keys []string) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	if len(keys) == 1 {
		return c.client.Unlink(cctx, keys[0]).Err()
	}
	// One command per key, so that a cluster client can route each.
	_, err := c.client.Pipelined(cctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(cctx, k)
		}
		return nil
	})
	return err
}

// User returns the cached user id, without password hash.
func (c *Cache) User(ctx context.Context, id int64) (latchkey.User, bool, error) {
	cctx, cancel := c.call(ctx)
	b, err := c.client.Get(cctx, c.userKey(id)).Bytes()
	cancel()
	if errors.Is(err, goredis.Nil) {
		c.health.ok()
		return latchkey.User{}, false, nil
	}
	if err != nil {
		return latchkey.User{}, false, c.failed(ctx, "user", err)
	}
	c.health.ok()
	if c.owed.pending() && c.owedUser(id) {
		return latchkey.User{}, false, nil
	}
	u, err := decodeUser(id, b)
	if err != nil {
		return latchkey.User{}, false, fmt.Errorf("redis: user: %w", err)
	}
	return u, true, nil
}

// PutUser caches u, without its password hash, for UserTTL.
func (c *Cache) PutUser(ctx context.Context, u latchkey.User) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	err := c.client.Set(cctx, c.userKey(u.ID), encodeUser(u), c.opt.UserTTL).Err()
	if err != nil {
		return c.failed(ctx, "put user", err)
	}
	c.health.ok()
	return nil
}

// unlinkMatching removes the keys matching pattern on every primary,
// a page at a time, each page bounded by Timeout.
func (c *Cache) unlinkMatching(ctx context.Context, pattern string) error {
	each := func(ctx context.Context, client goredis.Cmdable) error {
		var cursor uint64
		for {
			cctx, cancel := c.call(ctx)
			keys, next, err := client.Scan(cctx, cursor, pattern, 1000).Result()
			if err == nil && len(keys) > 0 {
				// One command per key: a cluster node refuses a
				// command whose keys lie in several slots.
				_, err = client.Pipelined(cctx, func(p goredis.Pipeliner) error {
					for _, k := range keys {
						p.Unlink(cctx, k)
					}
					return nil
				})
			}
			cancel()
			if err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	switch cl := c.client.(type) {
	case *goredis.ClusterClient:
		return cl.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return each(ctx, n) })
	case *goredis.Ring:
		return cl.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error { return each(ctx, n) })
	default:
		return each(ctx, c.client)
	}
}

// globEscape quotes the characters SCAN's MATCH treats specially.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\^-`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// OnLoss implements latchkey.LossReporter: fn is called when calls to
// Redis start failing, once per outage. Whatever Redis does in an outage
// (a failover to a replica, a restart) may undo deletes it had taken.
func (c *Cache) OnLoss(fn func()) { c.health.onset.add(fn) }

// losses are the functions a LossReporter calls.
type losses struct {
	mu  sync.Mutex
	fns []func()
}

func (l *losses) add(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns = append(l.fns, fn)
}

func (l *losses) report() {
	l.mu.Lock()
	fns := l.fns
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Ping reports whether Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	if err := c.client.Ping(cctx).Err(); err != nil {
		return c.failed(ctx, "ping", err)
	}
	c.health.ok()
	return nil
}

// episode logs Redis failures once per outage: one line when calls start
// failing, one when they have worked again with no failure for
// episodeQuiet, so that a flapping Redis does not log per call either.
type episode struct {
	log   *slog.Logger
	onset losses // told when calls start failing
	down  atomic.Bool
	start atomic.Int64 // unix ns
	last  atomic.Int64 // unix ns of the newest failure
	fails atomic.Int64
}

const episodeQuiet = 5 * time.Second

func (e *episode) fail(op string, err error) {
	now := time.Now().UnixNano()
	e.last.Store(now)
	if e.down.CompareAndSwap(false, true) {
		e.start.Store(now)
		e.fails.Store(0)
		e.log.Error("redis cache unavailable; requests fall back to the store", "op", op, "err", err)
		e.onset.report()
	}
	e.fails.Add(1)
}

func (e *episode) ok() {
	if !e.down.Load() {
		return
	}
	now := time.Now().UnixNano()
	if now-e.last.Load() < int64(episodeQuiet) {
		return
	}
	if e.down.CompareAndSwap(true, false) {
		e.log.Info("redis cache available again",
			"after", time.Duration(now-e.start.Load()).Round(time.Millisecond),
			"failed_calls", e.fails.Load())
	}
}

// owed holds the deletes Redis did not take. Reads of what it names miss
// on this process until Settle has redone them.
type owed struct {
	n   atomic.Int64 // entries, plus 1 while a purge is owed
	max int

	mu       sync.Mutex
	seq      uint64 // stamps additions, so that a retry clears only what it redid
	sessions map[latchkey.Digest]uint64
	users    map[int64]uint64
	all      uint64 // stamp of the owed purge; 0: none

	settling sync.Mutex
	lastTry  atomic.Int64 // unix ns
}

func (o *owed) pending() bool { return o.n.Load() > 0 }

func (o *owed) count() {
	n := int64(len(o.sessions) + len(o.users))
	if o.all != 0 {
		n++
	}
	o.n.Store(n)
}

// add owes what inv names.
func (o *owed) add(inv latchkey.Invalidation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	if inv.All {
		o.all = o.seq
		// The purge covers every entry owed so far.
		clear(o.sessions)
		clear(o.users)
		o.count()
		return
	}
	if o.sessions == nil {
		o.sessions = make(map[latchkey.Digest]uint64)
	}
	if o.users == nil {
		o.users = make(map[int64]uint64)
	}
	for _, d := range inv.Sessions {
		o.sessions[d] = o.seq
	}
	for _, id := range inv.Users {
		o.users[id] = o.seq
	}
	o.overflow()
	o.count()
}

// overflow turns too many owed entries into an owed purge. o.mu is held.
func (o *owed) overflow() {
	if len(o.sessions)+len(o.users) > o.max {
		o.seq++
		o.all = o.seq
		o.sessions, o.users = nil, nil
	}
}

func (o *owed) hasSession(d latchkey.Digest) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.sessions[d]
	return ok || o.all != 0
}

func (o *owed) hasUser(id int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.users[id]
	return ok || o.all != 0
}

// owedSession reports whether d is owed, and starts a retry.
func (c *Cache) owedSession(d latchkey.Digest) bool {
	c.maybeSettle()
	return c.owed.hasSession(d)
}

func (c *Cache) owedUser(id int64) bool {
	c.maybeSettle()
	return c.owed.hasUser(id)
}

// settleInterval spaces the retries of owed deletes started by reads.
const settleInterval = 100 * time.Millisecond

// maybeSettle retries what is owed in the background, at most every
// settleInterval: a purge may take many round trips, which no request
// should wait for.
func (c *Cache) maybeSettle() {
	now, last := time.Now().UnixNano(), c.owed.lastTry.Load()
	if now-last >= int64(settleInterval) && c.owed.lastTry.CompareAndSwap(last, now) {
		go c.Settle(context.Background())
	}
}

// Settle redoes the deletes and purge that Redis did not take, and
// returns nil when none is owed any more. Reads call it at most every
// 100 ms while something is owed; a process that may go long without a
// read (cache/tiered) calls it from a ticker. Concurrent calls do not
// wait for one another: all but one return at once.
func (c *Cache) Settle(ctx context.Context) error {
	if !c.owed.pending() {
		return nil
	}
	if !c.owed.settling.TryLock() {
		return nil
	}
	defer c.owed.settling.Unlock()
	c.owed.lastTry.Store(time.Now().UnixNano())

	o := &c.owed
	o.mu.Lock()
	all := o.all
	sessions := make(map[latchkey.Digest]uint64, len(o.sessions))
	for d, s := range o.sessions {
		sessions[d] = s
	}
	users := make(map[int64]uint64, len(o.users))
	for id, s := range o.users {
		users[id] = s
	}
	o.mu.Unlock()

	// One invalidation, announced once, for everything owed.
	inv := latchkey.Invalidation{All: all != 0}
	if !inv.All {
		inv.Sessions = make([]latchkey.Digest, 0, len(sessions))
		for d := range sessions {
			inv.Sessions = append(inv.Sessions, d)
		}
		inv.Users = make([]int64, 0, len(users))
		for id := range users {
			inv.Users = append(inv.Users, id)
		}
	}
	if !inv.Empty() {
		if err := c.invalidate(ctx, inv); err != nil {
			return c.failed(ctx, "settle", err)
		}
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	// Whatever was owed again after the snapshot stays owed.
	if o.all == all {
		o.all = 0
	}
	for d, s := range sessions {
		if o.sessions[d] == s {
			delete(o.sessions, d)
		}
	}
	for id, s := range users {
		if o.users[id] == s {
			delete(o.users, id)
		}
	}
	o.count()
	return nil
}
