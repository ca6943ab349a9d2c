// Package redis is the shared throttle store: token buckets and failure
// counters in Redis, so that every node of a deployment counts the same
// attempts. Each step is one Lua script on one key, hence atomic, and fit
// for Redis Cluster (a script never touches two keys).
//
// Times come from the caller (the node's clock), in microseconds: entries
// are live or stale by that clock, and Redis expiry, relative to Redis's own
// clock, only collects what is stale, a second late. Nodes' clocks should
// agree to well within a second (NTP); a node behind the others sees
// buckets a little emptier, never fuller.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
)

// DefaultPrefix starts every key unless Options.Prefix says otherwise.
const DefaultPrefix = "latchkey:throttle:"

// slackMillis is how long Redis keeps a key after it went stale, so that a
// small skew between the nodes' clocks and Redis's never drops a live one.
const slackMillis = 1000

// Options configures a Store.
type Options struct {
	// Prefix starts every key, so that several deployments (or tests)
	// can share one Redis; default DefaultPrefix.
	Prefix string
}

// Store is a latchkey.ThrottleStore in Redis.
type Store struct {
	c                goredis.UniversalClient
	prefix           string
	take, add, enter *goredis.Script
}

var _ latchkey.ThrottleStore = (*Store)(nil)

// New returns a store over c, which the caller keeps and closes: a node's
// one Redis client (cache/redis.NewClient), whose bounded pool and honoured
// context deadlines it relies on. A client without ContextTimeoutEnabled
// would let a Redis that hangs hold each call for the client's read
// timeout rather than the limiter's Timeout. A Redis that is down when the
// server starts is an outage like any other, which the limiter's fallback
// covers until Redis returns.
func New(c goredis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	return &Store{
		c:      c,
		prefix: opts.Prefix,
		take:   goredis.NewScript(takeScript),
		add:    goredis.NewScript(delayFunc + addScript),
		enter:  goredis.NewScript(delayFunc + enterScript),
	}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// A bucket is a string: the time it will be full again (GCRA).
const takeScript = `
local now = tonumber(ARGV[1])
local every = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then tat = now end
local nxt = tat + n * every
if n > 0 then
  local over = nxt - now - burst * every
  if over > 0 then return over end
end
if nxt <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + tonumber(ARGV[5]))
return 0
`

// delayFunc is latchkey.Backoff.Delay.
const delayFunc = `
local function delay(c, after, base, cap)
  if base <= 0 or c < after then return 0 end
  if cap < base then cap = base end
  local d = base
  for i = 1, c - after do
    if d > cap / 2 then return cap end
    d = d * 2
  end
  return math.min(d, cap)
end
`

// A counter is a hash: c the count, u when its gate opens, e when it is
// forgotten.
const addScript = `
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'c', 'u', 'e')
local c, u, e = 0, 0, 0
if v[3] and tonumber(v[3]) > now then
  c = tonumber(v[1]) or 0
  u = tonumber(v[2]) or 0
  e = tonumber(v[3])
end
c = c + 1
local d = delay(c, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if d > 0 and now + d > u then u = now + d end
e = math.max(e, now + tonumber(ARGV[2]), u)
redis.call('HSET', KEYS[1], 'c', string.format('%d', c), 'u', string.format('%d', u), 'e', string.format('%d', e))
redis.call('PEXPIRE', KEYS[1], math.ceil((e - now) / 1000) + tonumber(ARGV[6]))
return c
`

const enterScript = `
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'c', 'u', 'e')
if not v[3] or tonumber(v[3]) <= now then return 0 end
local u = tonumber(v[2]) or 0
if now < u then return u - now end
local d = delay(tonumber(v[1]) or 0, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if d > 0 then
  u = now + d
  local e = math.max(tonumber(v[3]), u)
  redis.call('HSET', KEYS[1], 'u', string.format('%d', u), 'e', string.format('%d', e))
  redis.call('PEXPIRE', KEYS[1], math.ceil((e - now) / 1000) + tonumber(ARGV[5]))
end
return 0
`

func micros(d time.Duration) int64 { return d.Microseconds() }

// Take implements latchkey.ThrottleStore.Take.
func (s *Store) Take(ctx context.Context, key string, b latchkey.Bucket, n int, now time.Time) (time.Duration, error) {
	over, err := s.take.Run(ctx, s.c, []string{s.prefix + key},
		now.UnixMicro(), micros(b.Every), b.Burst, n, slackMillis).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: take: %w", err)
	}
	return time.Duration(over) * time.Microsecond, nil
}

// Add implements latchkey.ThrottleStore.Add.
func (s *Store) Add(ctx context.Context, key string, b latchkey.Backoff, ttl time.Duration, now time.Time) (int, error) {
	c, err := s.add.Run(ctx, s.c, []string{s.prefix + key},
		now.UnixMicro(), micros(ttl), b.After, micros(b.Base), micros(b.Max), slackMillis).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: add: %w", err)
	}
	return int(c), nil
}

// Count implements latchkey.ThrottleStore.Count.
func (s *Store) Count(ctx context.Context, key string, now time.Time) (int, error) {
	v, err := s.c.HMGet(ctx, s.prefix+key, "c", "e").Result()
	if err != nil {
		return 0, fmt.Errorf("redis: count: %w", err)
	}
	if len(v) != 2 || v[0] == nil || v[1] == nil {
		return 0, nil
	}
	cs, ok1 := v[0].(string)
	es, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return 0, errors.New("redis: count: unexpected reply")
	}
	c, err1 := strconv.ParseInt(cs, 10, 64)
	e, err2 := strconv.ParseInt(es, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("redis: count: malformed entry %q", s.prefix+key)
	}
	if e <= now.UnixMicro() {
		return 0, nil
	}
	return int(c), nil
}

// Enter implements latchkey.ThrottleStore.Enter.
func (s *Store) Enter(ctx context.Context, key string, b latchkey.Backoff, now time.Time) (time.Duration, error) {
	wait, err := s.enter.Run(ctx, s.c, []string{s.prefix + key},
		now.UnixMicro(), b.After, micros(b.Base), micros(b.Max), slackMillis).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: enter: %w", err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}

// Reset implements latchkey.ThrottleStore.Reset.
func (s *Store) Reset(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis: reset: %w", err)
	}
	return nil
}
