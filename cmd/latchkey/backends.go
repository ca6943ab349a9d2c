package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/captcha"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/throttle"
	throttlememory "github.com/latchkeyhq/latchkey/throttle/memory"
	throttleredis "github.com/latchkeyhq/latchkey/throttle/redis"
)

// backends are what serve runs on besides the database, chosen by the
// cache setting: all in process, or Redis shared by several nodes, through
// the process's one Redis client.
type backends struct {
	cache latchkey.Cache
	guard latchkey.ReplayGuard // captcha replay claims
	// challenges keep the state of WebAuthn ceremonies, where every
	// node finds it when the cache is shared.
	challenges latchkey.ChallengeStore
	shared     bool                    // the guard survives a restart
	redis      goredis.UniversalClient // nil with the in-process cache
	close      func()
}

// redisLog takes go-redis's own messages (a line per failed dial, say,
// every time the subscriber retries during an outage) at debug level:
// latchkey logs each outage once itself, in its own format.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// logRedisTo takes go-redis's own messages into log, at debug level.
// go-redis's logger is the process's: cmd/latchkey sets it, and package
// verify, in another program's process, leaves it alone.
func logRedisTo(log *slog.Logger) { goredis.SetLogger(redisLog{log}) }

// openBackends builds the token cache (as package verify does, through
// dial.OpenCache), the replay guard and the WebAuthn challenge store, on the process's one Redis client
// (bounded pool, short timeouts, the password never in an error) when the
// cache is there, which the throttle store shares.
func openBackends(ctx context.Context, cfg *Config, log *slog.Logger) (*backends, error) {
	if cfg.CacheURL != dial.Memory {
		logRedisTo(log)
	}
	c, err := dial.OpenCache(ctx, cfg.CacheURL, cfg.CacheMaxEntries, log)
	if err != nil {
		return nil, err
	}
	if c.Redis == nil {
		return &backends{
			cache:      c.Tokens,
			guard:      memory.NewClaims(memory.ClaimsOptions{}),
			challenges: memory.NewChallenges(memory.ChallengesOptions{}),
			close:      c.Close,
		}, nil
	}
	return &backends{
		cache:      c.Tokens,
		guard:      redis.NewClaims(c.Redis, redis.Options{}),
		challenges: redis.NewChallenges(c.Redis, redis.Options{}),
		shared:     true,
		redis:      c.Redis,
		close:      c.Close,
	}, nil
}

// adminCache is the cache of a one-off command such as latchkey user:
// with a Redis cache configured, the command's revocations delete the
// Redis entries and are published to every node at once (the nodes' change
// feed is the backstop, within LATCHKEY_SYNC_INTERVAL); otherwise a small
// cache of its own, which no server reads.
func adminCache(cfg *Config, log *slog.Logger) (latchkey.Cache, func(), error) {
	if cfg.CacheURL == dial.Memory {
		return memory.New(memory.Options{MaxEntries: 16}), func() {}, nil
	}
	logRedisTo(log)
	client, err := dial.OpenRedis(cfg.CacheURL)
	if err != nil {
		return nil, nil, err
	}
	return redis.New(client, redis.Options{Logger: log}), func() { client.Close() }, nil
}

// newLimiter builds the login throttle, which also limits the captcha
// challenges and the failed service client authentications per address:
// counted in Redis, through b's client, when the cache is there, with this
// process's memory as the fallback while Redis fails.
func newLimiter(cfg *Config, b *backends, log *slog.Logger) (*throttle.Limiter, error) {
	ipEvery, err1 := throttle.ParseRate(cfg.ThrottleIPRate)
	acctEvery, err2 := throttle.ParseRate(cfg.ThrottleAccount)
	knownEvery, err3 := throttle.ParseRate(cfg.ThrottleKnown)
	chalEvery, err4 := throttle.ParseRate(cfg.ThrottleChallenge)
	clientEvery, err5 := throttle.ParseRate(cfg.ThrottleClient)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, usageError{err.Error()}
	}
	tc := throttle.Config{
		IP:            latchkey.Bucket{Burst: cfg.ThrottleIPBurst, Every: ipEvery},
		Backoff:       latchkey.Backoff{After: cfg.ThrottleAfter, Base: cfg.ThrottleBase, Max: cfg.ThrottleMax},
		Account:       latchkey.Bucket{Burst: cfg.ThrottleAcctBurst, Every: acctEvery},
		Known:         latchkey.Bucket{Burst: cfg.ThrottleKnownBurst, Every: knownEvery},
		Challenge:     latchkey.Bucket{Burst: cfg.ThrottleChalBurst, Every: chalEvery},
		ServiceClient: latchkey.Bucket{Burst: cfg.ThrottleClientBurst, Every: clientEvery},
		Logger:        log,
	}
	local := throttlememory.New(throttlememory.Options{MaxEntries: cfg.ThrottleMaxEntries})
	var store latchkey.ThrottleStore = local
	if b.redis != nil {
		store, tc.Fallback = throttleredis.New(b.redis, throttleredis.Options{}), local
	}
	l, err := throttle.New(store, tc)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return l, nil
}

// newCaptcha builds the configured captcha verifier, and the challenge
// issuer of the proof-of-work one, which limit asks before each challenge;
// nil, nil when none is configured.
func newCaptcha(cfg *Config, b *backends, limit captcha.ChallengeLimiter, started time.Time, log *slog.Logger) (latchkey.CaptchaVerifier, api.Challenger, error) {
	var hosts []string
	for _, h := range strings.Split(cfg.CaptchaHostnames, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	c := captcha.Config{
		Secret:    cfg.CaptchaSecret,
		SiteKey:   cfg.CaptchaSiteKey,
		VerifyURL: cfg.CaptchaVerifyURL,
		MinScore:  cfg.CaptchaMinScore,
		Action:    cfg.CaptchaAction,
		Hostnames: hosts,
		Timeout:   cfg.CaptchaTimeout,
		Logger:    log,
	}
	var (
		v   latchkey.CaptchaVerifier
		err error
	)
	switch cfg.CaptchaProvider {
	case "none":
		return nil, nil, nil
	case "recaptcha":
		v, err = captcha.NewRecaptcha(c)
	case "hcaptcha":
		v, err = captcha.NewHCaptcha(c)
	case "turnstile":
		v, err = captcha.NewTurnstile(c)
	case "pow":
		pc := captcha.PoWConfig{Secret: cfg.CaptchaSecret, Guard: b.guard, Limiter: limit, Logger: log}
		if !b.shared {
			// Claims kept in memory are gone after a restart: refuse
			// challenges issued before it, so no solution is replayed.
			pc.NotBefore = started
		}
		p, err := captcha.NewPoW(pc)
		if err != nil {
			return nil, nil, usageError{fmt.Sprintf("captcha: %v", err)}
		}
		return p, p, nil
	}
	if err != nil {
		return nil, nil, usageError{fmt.Sprintf("captcha: %v", err)}
	}
	return v, nil, nil
}
