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

// ClaimsOptions configures Claims. Zero values take the defaults.
type ClaimsOptions struct {
	// Prefix namespaces the claims' keys, under "c:"; default
	// DefaultPrefix, the cache's own, which invalidating all entries of
	// the cache leaves alone.
	Prefix string
	// Timeout bounds each Redis call, within the caller's context;
	// default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock a claim's expiry is checked against; default
	// time.Now.
	Now func() time.Time
}

// Claims is a latchkey.ReplayGuard in Redis, shared by every process on
// it, so that neither another node nor a restart accepts a claimed
// one-time proof (a captcha solution) again before it expires. Its errors
// are Redis's: the caller refuses the proof (fail closed).
type Claims struct {
	client goredis.UniversalClient
	prefix string
	opt    ClaimsOptions
}

var _ latchkey.ReplayGuard = (*Claims)(nil)

// NewClaims returns a replay guard over client, which the caller keeps
// and closes (see NewClient).
func NewClaims(client goredis.UniversalClient, opts ClaimsOptions) *Claims {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
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
