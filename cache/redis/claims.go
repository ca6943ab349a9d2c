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

// Claims is a latchkey.ReplayGuard in Redis, shared by every process on
// it, so that neither another node nor a restart accepts a claimed
// one-time proof (a captcha solution) again before it expires. Its errors
// are Redis's: the caller refuses the proof (fail closed).
type Claims struct {
	client goredis.UniversalClient
	prefix string
	opt    Options
}

var _ latchkey.ReplayGuard = (*Claims)(nil)

// NewClaims returns a replay guard over client, which the caller keeps
// and closes (see NewClient). Of opts it uses Prefix (the claims live
// under Prefix + "c:", which invalidating all of a cache with the same
// prefix leaves alone), Timeout and Now.
func NewClaims(client goredis.UniversalClient, opts Options) *Claims {
	opts = opts.withDefaults()
	return &Claims{client: client, prefix: opts.Prefix + "c:", opt: opts}
}

// Claim records key until expires and reports whether this call was the
// first to claim it. The key is hashed, so it may be long. The claim lasts
// until expires rounded up to the millisecond, by Redis's clock. An
// expires not after now is refused with an error: there is nothing left
// to guard.
func (g *Claims) Claim(ctx context.Context, key string, expires time.Time) (first bool, err error) {
	if !expires.After(g.opt.Now()) {
		return false, errors.New("redis: claim: expiry is not in the future")
	}
	h := sha256.Sum256([]byte(key))
	cctx, cancel := context.WithTimeout(ctx, g.opt.Timeout)
	defer cancel()
	err = g.client.Do(cctx, "set", g.prefix+hex.EncodeToString(h[:]), "1", "nx", "pxat", claimAtMillis(expires)).Err()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis: claim: %w", err)
	}
	return true, nil
}
