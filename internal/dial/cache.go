package dial

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/tiered"
)

// Memory is the cache URL of the in-process cache.
const Memory = "memory"

// CheckCacheURL checks the cache URL of the setting named setting: memory,
// or a Redis URL that cache/redis.NewClient takes. The error quotes the
// URL without its password.
func CheckCacheURL(setting, s string) error {
	if s == Memory {
		return nil
	}
	if _, err := redis.ParseURL(s); err != nil {
		return fmt.Errorf("%s %q: %w (use memory, redis://HOST:PORT/DB, redis+sentinel://… or redis+cluster://…)", setting, RedactURL(s), err)
	}
	return nil
}

// OpenRedis opens a Redis client on the cache URL s (redis://,
// redis+sentinel://, redis+cluster://, with TLS as rediss…): a bounded
// pool and short timeouts, the password never in an error. It connects
// lazily, so a Redis down at the start is no error.
func OpenRedis(s string) (goredis.UniversalClient, error) {
	client, err := redis.NewClient(s)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return client, nil
}

// Cache is the token cache of a cache URL: cache/memory in this process,
// or cache/tiered, a local layer in front of Redis.
type Cache struct {
	// Tokens is the cache itself. Hand it on as it is: the Authenticator
	// asks it whether it reports losses (latchkey.LossReporter), which a
	// wrapper would hide.
	Tokens latchkey.Cache
	// Redis is the client under a Redis cache, for the other parts that
	// share it (the throttle, the captcha claims); nil for memory.
	Redis goredis.UniversalClient
	close func()
}

// OpenCache opens the token cache that url names, holding at most
// maxEntries sessions (and as many users) in this process. A Redis cache
// has its subscriber started with ctx; Close stops it.
func OpenCache(ctx context.Context, url string, maxEntries int, log *slog.Logger) (*Cache, error) {
	if url == Memory {
		return &Cache{Tokens: memory.New(memory.Options{MaxEntries: maxEntries}), close: func() {}}, nil
	}
	client, err := OpenRedis(url)
	if err != nil {
		return nil, err
	}
	t := tiered.New(redis.New(client, redis.Options{Logger: log}), tiered.Options{MaxEntries: maxEntries, Logger: log})
	t.Start(ctx)
	return &Cache{Tokens: t, Redis: client, close: func() { t.Close(); client.Close() }}, nil
}

// Close stops a Redis cache's subscriber and closes its client.
func (c *Cache) Close() {
	if c.close != nil {
		c.close()
	}
}
