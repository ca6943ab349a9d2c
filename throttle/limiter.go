// Package throttle limits password attempts (POST /v1/login, and the old
// password of POST /v1/password) so that passwords cannot be guessed at
// speed, while an attacker cannot lock an account's owner out. Three
// limits apply, each a setting (Config):
//
//   - per client address: a rate of attempts, whatever their outcome;
//   - per (username, client address): after a few failures, an
//     exponentially growing delay before the next attempt, until a
//     success;
//   - per username, across addresses: a rate of failures (a slow spray
//     from many addresses is capped), after which the username's logins
//     are delayed, never locked; an address that logged in to the
//     username before keeps a separate, smaller allowance.
//
// The same limiter counts the proof-of-work challenges each client address
// fetches (GET /v1/captcha/challenge, CheckChallenge) in a bucket of their
// own, so that no client stocks up challenges, or spends the server's
// time, faster than it could use them on logins; and the failed
// authentications of service clients (POST /v1/introspect,
// CheckServiceClient) per client address, in another.
//
// The limiter never asks whether a username exists: an unknown one is
// counted exactly like a known one. Usernames are case-folded and hashed
// into keys, so every entry has the same bounded size.
//
// The counts live in a latchkey.ThrottleStore: memory (one node) or redis
// (shared by every node). Each attempt is charged before the password is
// hashed, with atomic store steps, so that concurrent attempts cannot slip
// past a limit between the check and the outcome.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// Limit names a limit; it is the cause of the error Check returns when
// that limit refuses an attempt (see latchkey.ThrottleReason).
type Limit = latchkey.ThrottleLimit

// The limits.
const (
	LimitIP      Limit = "ip_rate"               // Config.IP
	LimitBackoff Limit = "user_ip_backoff"       // Config.Backoff
	LimitAccount Limit = "account_failures"      // Config.Account
	LimitKnown   Limit = "known_client_failures" // Config.Known
	// LimitChallenge refuses a captcha challenge, not a password attempt.
	LimitChallenge Limit = "challenge_rate" // Config.Challenge
	// LimitServiceClient refuses a service client's authentication.
	LimitServiceClient Limit = "service_client_failures" // Config.ServiceClient
)

// primaryRetry is how long the limiter counts in its fallback after the
// store failed, before it tries the store again: a store that hangs costs
// one Timeout per primaryRetry, not one per attempt.
const primaryRetry = 5 * time.Second

// Limiter applies the limits: the latchkey.Throttle of the login gate.
// It is safe for concurrent use.
//
// When the store fails (Redis down) and a fallback is configured, the
// limiter counts in the fallback (an in-process memory store) until the
// store answers again: attempts stay limited, per node rather than across
// nodes, and nobody is locked out. Without a fallback, a check that could
// not run refuses the attempt with 503 unavailable.
type Limiter struct {
	store    latchkey.ThrottleStore
	fallback latchkey.ThrottleStore
	cfg      Config

	// downUntil is when (unix ns) the store is tried again after failing.
	downUntil atomic.Int64
	// failing is whether the last call on the store failed; it makes the
	// failure and the recovery each logged once.
	failing atomic.Bool
}

var (
	_ latchkey.Throttle              = (*Limiter)(nil)
	_ latchkey.ServiceClientThrottle = (*Limiter)(nil)
)

// New returns a limiter counting in store.
func New(store latchkey.ThrottleStore, cfg Config) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("throttle: no store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{store: store, fallback: cfg.Fallback, cfg: cfg.withDefaults()}, nil
}

// Check charges an attempt at username's password from ip, before the
// password is hashed. It returns nil when the attempt may go ahead, after
// which the caller must call Record exactly once; a *latchkey.Error of kind
// KindThrottled (429 with Retry-After, its Err a Limit) when a limit
// refuses it; or an Unavailable error when the counts could not be read.
// A refused attempt needs no Record.
//
// ip is the client's address (api.ClientIP); an invalid one is counted as
// one shared client.
func (l *Limiter) Check(ctx context.Context, username string, ip netip.Addr) error {
	k := l.keys(username, ip)
	now := l.cfg.Now()
	var refused error
	err := l.do(ctx, func(ctx context.Context, s latchkey.ThrottleStore) error {
		var err error
		refused, err = l.check(ctx, s, k, now)
		return err
	})
	if err != nil {
		return err
	}
	return refused
}

// CheckChallenge charges a proof-of-work challenge issued to ip to the
// address's bucket of challenges (Config.Challenge), counted in the store
// like the login attempts, with the same fallback. It returns nil when the
// challenge may be issued; a KindThrottled error (429 with Retry-After,
// its Err LimitChallenge) when the bucket is empty; or an Unavailable
// error when the count could not be read. It is what captcha.PoW asks
// before it issues a challenge (captcha.ChallengeLimiter).
//
// ip is the client's address (api.ClientIP); an invalid one is counted as
// one shared client.
func (l *Limiter) CheckChallenge(ctx context.Context, ip netip.Addr) error {
	key := "c:" + l.addrKey(ip)
	now := l.cfg.Now()
	var wait time.Duration
	err := l.do(ctx, func(ctx context.Context, s latchkey.ThrottleStore) error {
		var err error
		wait, err = s.Take(ctx, key, l.cfg.Challenge, 1, now)
		return err
	})
	if err != nil {
		return err
	}
	return refusal(wait, LimitChallenge)
}

// CheckServiceClient charges a service client's authentication from ip to
// the address's bucket of failures (Config.ServiceClient), before its
// secret is compared: a refused authentication never reaches the
// comparison, and concurrent ones cannot slip past the limit between the
// check and the outcome. It returns nil when the authentication may go
// ahead, after which the caller must call RecordServiceClient exactly
// once; a KindThrottled error (429 with Retry-After, its Err
// LimitServiceClient) when the bucket is empty; or an Unavailable error
// when the count could not be read.
//
// ip is the client's address (api.ClientIP); an invalid one is counted as
// one shared client.
func (l *Limiter) CheckServiceClient(ctx context.Context, ip netip.Addr) error {
	key := serviceClientKey + l.addrKey(ip)
	now := l.cfg.Now()
	var wait time.Duration
	err := l.do(ctx, func(ctx context.Context, s latchkey.ThrottleStore) error {
		var err error
		wait, err = s.Take(ctx, key, l.cfg.ServiceClient, 1, now)
		return err
	})
	if err != nil {
		return err
	}
	return refusal(wait, LimitServiceClient)
}

// RecordServiceClient settles an authentication that CheckServiceClient
// let through: a failure keeps what the check charged; a success, or an
// authentication abandoned before the secret was judged, gives it back,
// so that only failures are counted. The charge is held only while the
// secret is compared.
//
// It runs even when ctx is cancelled, within the limiter's Timeout. Its
// error is for the log: the outcome stands.
func (l *Limiter) RecordServiceClient(ctx context.Context, ip netip.Addr, o latchkey.Outcome) error {
	switch {
	case o > latchkey.OutcomeAbandoned:
		return fmt.Errorf("throttle: record service client: unknown outcome %v", o)
	case o == latchkey.OutcomeFailure:
		return nil
	}
	key := serviceClientKey + l.addrKey(ip)
	now := l.cfg.Now()
	return l.do(context.WithoutCancel(ctx), func(ctx context.Context, s latchkey.ThrottleStore) error {
		_, err := s.Take(ctx, key, l.cfg.ServiceClient, -1, now)
		return err
	})
}

func (l *Limiter) check(ctx context.Context, s latchkey.ThrottleStore, k keys, now time.Time) (refused, err error) {
	wait, err := s.Take(ctx, k.ip, l.cfg.IP, 1, now)
	if err != nil || wait > 0 {
		return refusal(wait, LimitIP), err
	}
	key, b, limit, err := l.allowance(ctx, s, k, now)
	if err != nil {
		return nil, err
	}
	if wait, err := s.Take(ctx, key, b, 1, now); err != nil || wait > 0 {
		return refusal(wait, limit), err
	}
	// The account allowance is charged first and handed back when the
	// gate refuses, because passing the gate cannot be undone.
	if wait, err := s.Enter(ctx, k.pair, l.cfg.Backoff, now); err != nil || wait > 0 {
		if _, rerr := s.Take(ctx, key, b, -1, now); rerr != nil && err == nil {
			err = rerr
		}
		return refusal(wait, LimitBackoff), err
	}
	return nil, nil
}

// allowance returns the bucket of failures an attempt from the pair is
// charged to: the pair's own when it is known, else the username's.
func (l *Limiter) allowance(ctx context.Context, s latchkey.ThrottleStore, k keys, now time.Time) (string, latchkey.Bucket, Limit, error) {
	n, err := s.Count(ctx, k.known, now)
	if err != nil {
		return "", latchkey.Bucket{}, "", err
	}
	if n > 0 {
		return k.knownBucket, l.cfg.Known, LimitKnown, nil
	}
	return k.account, l.cfg.Account, LimitAccount, nil
}

func refusal(wait time.Duration, limit Limit) error {
	if wait <= 0 {
		return nil
	}
	return latchkey.Throttled(wait, limit)
}

// Record settles an attempt that Check let through. A failure extends the
// pair's backoff and the failure counts; a success ends the pair's backoff,
// makes the pair known for KnownFor and hands back the failure allowance
// Check charged; an abandoned attempt only hands the allowance back.
//
// Record runs even when ctx is cancelled (a client that hangs up once its
// password was hashed is still counted), within the limiter's Timeout. Its
// error is for the log: the attempt's outcome stands.
func (l *Limiter) Record(ctx context.Context, username string, ip netip.Addr, o latchkey.Outcome) error {
	if o > latchkey.OutcomeAbandoned {
		return fmt.Errorf("throttle: record: unknown outcome %v", o)
	}
	k := l.keys(username, ip)
	now := l.cfg.Now()
	return l.do(context.WithoutCancel(ctx), func(ctx context.Context, s latchkey.ThrottleStore) error {
		if o == latchkey.OutcomeFailure {
			if _, err := s.Add(ctx, k.pair, l.cfg.Backoff, l.cfg.ForgetAfter, now); err != nil {
				return err
			}
			for _, key := range []string{k.userFails, k.ipFails} {
				if _, err := s.Add(ctx, key, latchkey.Backoff{}, l.cfg.ForgetAfter, now); err != nil {
					return err
				}
			}
			return nil
		}
		key, b, _, err := l.allowance(ctx, s, k, now)
		if err != nil {
			return err
		}
		if _, err := s.Take(ctx, key, b, -1, now); err != nil {
			return err
		}
		if o == latchkey.OutcomeAbandoned {
			return nil
		}
		if err := s.Reset(ctx, k.pair); err != nil {
			return err
		}
		_, err = s.Add(ctx, k.known, latchkey.Backoff{}, l.cfg.KnownFor, now)
		return err
	})
}

// FailureCounts returns how many failed attempts were recorded for
// username (from any address) and from ip (for any username), each
// forgotten ForgetAfter after its last failure; successes do not reset
// them. Two reads, for a captcha required "after N failures".
func (l *Limiter) FailureCounts(ctx context.Context, username string, ip netip.Addr) (user, addr int, err error) {
	k := l.keys(username, ip)
	now := l.cfg.Now()
	err = l.do(ctx, func(ctx context.Context, s latchkey.ThrottleStore) error {
		var err error
		if user, err = s.Count(ctx, k.userFails, now); err != nil {
			return err
		}
		addr, err = s.Count(ctx, k.ipFails, now)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return user, addr, nil
}

// do runs fn on the store, or on the fallback while the store fails.
func (l *Limiter) do(ctx context.Context, fn func(context.Context, latchkey.ThrottleStore) error) error {
	if l.fallback == nil || l.cfg.Now().UnixNano() >= l.downUntil.Load() {
		sctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
		err := fn(sctx, l.store)
		cancel()
		if err == nil {
			if l.failing.CompareAndSwap(true, false) {
				l.cfg.Logger.Info("throttle store answers again; counting in it")
			}
			return nil
		}
		if ctx.Err() != nil {
			return latchkey.Unavailable(fmt.Errorf("throttle: %w", ctx.Err()))
		}
		if l.fallback == nil {
			if l.failing.CompareAndSwap(false, true) {
				l.cfg.Logger.Error("throttle store failing; refusing password attempts and captcha challenges", slog.Any("err", err))
			}
			return latchkey.Unavailable(fmt.Errorf("throttle: %w", err))
		}
		l.downUntil.Store(l.cfg.Now().Add(primaryRetry).UnixNano())
		if l.failing.CompareAndSwap(false, true) {
			l.cfg.Logger.Error("throttle store failing; counting in this process until it answers", slog.Any("err", err))
		}
	}
	if err := fn(ctx, l.fallback); err != nil {
		return latchkey.Unavailable(fmt.Errorf("throttle: fallback: %w", err))
	}
	return nil
}

// serviceClientKey prefixes the bucket of an address's failed service
// client authentications (CheckServiceClient's).
const serviceClientKey = "sc:"

// keys are the store keys of one attempt. Prefixes keep the kinds apart
// (c: is the bucket of an address's captcha challenges, CheckChallenge's;
// sc: that of its service client failures);
// users are hashes (22 characters), addresses are printed (IPv6 ones as
// their /IPv6Prefix network).
type keys struct {
	ip          string // i: bucket of attempts from the address
	ipFails     string // if: failures from the address
	account     string // a: bucket of failures of the username from unknown pairs
	userFails   string // uf: failures of the username
	pair        string // p: backoff of the pair
	known       string // k: successes of the pair
	knownBucket string // kb: bucket of failures of a known pair
}

func (l *Limiter) keys(username string, ip netip.Addr) keys {
	u := userKey(username)
	a := l.addrKey(ip)
	return keys{
		ip:          "i:" + a,
		ipFails:     "if:" + a,
		account:     "a:" + u,
		userFails:   "uf:" + u,
		pair:        "p:" + u + "|" + a,
		known:       "k:" + u + "|" + a,
		knownBucket: "kb:" + u + "|" + a,
	}
}

// addrKey prints ip as the client it counts as: IPv4 addresses (also
// mapped into IPv6) whole, IPv6 ones by network, invalid ones as one.
func (l *Limiter) addrKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "none"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && l.cfg.IPv6Prefix < 128 {
		p, _ := ip.Prefix(l.cfg.IPv6Prefix)
		return p.String()
	}
	return ip.String()
}

// userKey hashes the case-folded username: "Alice" and "ALICE" share their
// counts, whichever of them exists. Invalid UTF-8 (which logins refuse
// anyway) is hashed as it is, apart.
func userKey(username string) string {
	h := sha256.New()
	if !utf8.ValidString(username) {
		h.Write([]byte("latchkey throttle raw\x00"))
		h.Write([]byte(username))
	} else {
		h.Write([]byte("latchkey throttle user\x00"))
		var buf [utf8.UTFMax]byte
		for _, r := range username {
			h.Write(buf[:utf8.EncodeRune(buf[:], fold(r))])
		}
	}
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}

// fold returns the smallest rune that r matches under simple case
// folding: the same for every rune strings.EqualFold matches with r.
func fold(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}
