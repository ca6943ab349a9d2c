package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
)

// Challenges is a latchkey.ChallengeStore in Redis, shared by every
// process on it, so that a WebAuthn ceremony begun on one node finishes
// on any other, and a challenge is taken once across all of them (GETDEL,
// Redis 6.2 or later). Its errors are Redis's: the caller refuses the
// ceremony (fail closed).
type Challenges struct {
	client goredis.UniversalClient
	prefix string
	opt    Options
}

var _ latchkey.ChallengeStore = (*Challenges)(nil)

// NewChallenges returns a challenge store over client, which the caller
// keeps and closes (see NewClient). Of opts it uses Prefix (the
// challenges live under Prefix + "w:", which invalidating all of a cache
// with the same prefix leaves alone), Timeout and Now.
func NewChallenges(client goredis.UniversalClient, opts Options) *Challenges {
	opts = opts.withDefaults()
	return &Challenges{client: client, prefix: opts.Prefix + "w:", opt: opts}
}

func (c *Challenges) key(k string) string {
	h := sha256.Sum256([]byte(k))
	return c.prefix + hex.EncodeToString(h[:])
}

// Put stores value under key until expires rounded up to the millisecond,
// by Redis's clock. A value whose expires is not after now is not stored.
func (c *Challenges) Put(ctx context.Context, key string, value []byte, expires time.Time) error {
	if !expires.After(c.opt.Now()) {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	if err := c.client.Do(cctx, "set", c.key(key), value, "pxat", claimAtMillis(expires)).Err(); err != nil {
		return fmt.Errorf("redis: put challenge: %w", err)
	}
	return nil
}

// Take returns and deletes the value under key with one GETDEL.
func (c *Challenges) Take(ctx context.Context, key string) ([]byte, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	b, err := c.client.Do(cctx, "getdel", c.key(key)).Text()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: take challenge: %w", err)
	}
	return []byte(b), true, nil
}
