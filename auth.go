package latchkey

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures an Authenticator. Zero values take the defaults.
type Options struct {
	TokenTTL time.Duration // absolute lifetime of a token; default 24h
	// IdleTimeout, when positive, expires a token unused this long. A
	// token used more often than this never idles out, on any node; an
	// idle one is refused between IdleTimeout and IdleTimeout plus one
	// step (TouchInterval and the last-use write period) after its last
	// use.
	IdleTimeout time.Duration
	// TouchInterval is the granularity of last use: a use is recorded
	// when the session's recorded last use is at least this old. Default:
	// an eighth of IdleTimeout, at most 1m; 1m without an idle timeout.
	TouchInterval time.Duration
	// SyncInterval is how often the store's change feed is read; default
	// 50ms. It must be well under MaxStaleness.
	SyncInterval time.Duration
	// MaxStaleness is the lease on the cache: cached entries are served
	// only until this long after the start of the last complete read of
	// the change feed (after that, every check goes to the store), and a
	// revocation answers only this long after its commit when another
	// process reads the same store (see Lease). Default 250ms.
	MaxStaleness time.Duration
	// CleanupInterval is how often expired sessions are deleted; default 1h.
	CleanupInterval time.Duration
	// NoCleanup leaves the deletion of expired sessions to other
	// processes: Run deletes none. A process that only checks tokens
	// (package verify) then writes nothing to the store but its reader
	// record and last-use times.
	NoCleanup bool
	// Retention is how long expired sessions (answering token_expired)
	// and change entries are kept; default 7 days.
	Retention time.Duration
	// EventRetention is how long security events are kept; default 90
	// days. They are pruned with expired sessions, every
	// CleanupInterval.
	EventRetention time.Duration

	// CheckPassword validates a new password for a user; nil accepts any.
	// It returns a message fit for the client.
	CheckPassword func(username string, old, pw Password) error

	// Throttle limits password attempts (logins and the old password of
	// a password change); nil: none.
	Throttle Throttle
	// ServiceClientThrottle limits the failed authentications of service
	// clients (Introspect) per client address; nil: none.
	ServiceClientThrottle ServiceClientThrottle
	// Captcha, when set, is checked on login before the password.
	Captcha CaptchaVerifier
	// CaptchaAfterFailures, when positive, asks for a captcha only once
	// that many failed logins were counted for the username or the client
	// address (it needs Throttle, which counts them); 0 asks every time.
	CaptchaAfterFailures int

	Now func() time.Time // default time.Now
	// Sleep waits d, or until ctx ends; default a timer. Tests that move
	// Now move it here too.
	Sleep  func(ctx context.Context, d time.Duration)
	Rand   io.Reader    // default crypto/rand.Reader
	Logger *slog.Logger // default discards
	// MFAKey seals the TOTP secrets in the store; nil: no TOTP can be
	// enrolled, and a TOTP code is refused with ErrMFAUnavailable (a
	// login of an enrolled account fails closed; recovery codes still
	// work).
	MFAKey *MFAKey
	// TOTPIssuer names the service in authenticator apps; default
	// "latchkey".
	TOTPIssuer string

	// RelyingParty checks passkeys (WebAuthn), whose ceremonies keep
	// their state in Challenges; without both, every passkey route
	// answers ErrWebAuthnUnavailable.
	RelyingParty RelyingParty
	Challenges   ChallengeStore
	// CeremonyLimiter, when set, limits the passkey logins each client
	// address begins; nil: no limit.
	CeremonyLimiter CeremonyLimiter

	// Metrics observes logins, token checks, throttle refusals, captcha
	// verifications and revocations; default NoMetrics.
	Metrics Metrics
}

// Authenticator implements logins, token checks and revocation over a
// Store, a Cache and a PasswordHasher, with the login gate's Throttle and
// CaptchaVerifier when they are configured.
type Authenticator struct {
	store  Store
	cache  Cache
	hasher PasswordHasher
	opt    Options

	// gen counts invalidations. A fill from the store that overlaps an
	// invalidation is undone, so that a revoked token never re-enters the
	// cache from a read that started before the revocation.
	gen atomic.Uint64
	// lease is this process's hold on its cache (lease.go).
	lease lease
	// seq is the last change feed entry applied.
	seq atomic.Int64
	// fedAt is when the last complete read of the change feed started
	// (unix ns; 0 before Start).
	fedAt atomic.Int64
	// syncMu serialises Sync and Start, which alone use what follows.
	syncMu sync.Mutex
	// checkpoints are recent positions of the change feed, and rewound
	// the loss count the feed was last rewound for (lease.go).
	checkpoints checkpoints
	rewound     uint64

	touchMu sync.Mutex
	touches map[Digest]time.Time

	// events are the security events waiting to be written (recorder.go).
	events *eventQueue

	// logKey keys the hashes of usernames in the login log
	// (usernameHash): the process's own, drawn at start.
	logKey [32]byte
}

// maxPendingTouches bounds the last-use times waiting to be written.
const maxPendingTouches = 100_000

// NewAuthenticator returns an Authenticator. Call Run to start its
// background work (change feed, last-use writes, cleanup).
func NewAuthenticator(store Store, cache Cache, hasher PasswordHasher, opt Options) *Authenticator {
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 24 * time.Hour
	}
	if opt.TouchInterval <= 0 {
		opt.TouchInterval = time.Minute
		if opt.IdleTimeout > 0 {
			opt.TouchInterval = min(max(opt.IdleTimeout/8, time.Millisecond), time.Minute)
		}
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = 50 * time.Millisecond
	}
	if opt.MaxStaleness <= 0 {
		opt.MaxStaleness = 250 * time.Millisecond
	}
	if opt.CleanupInterval <= 0 {
		opt.CleanupInterval = time.Hour
	}
	if opt.Retention <= 0 {
		opt.Retention = 7 * 24 * time.Hour
	}
	if opt.EventRetention <= 0 {
		opt.EventRetention = 90 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Sleep == nil {
		opt.Sleep = sleep
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.TOTPIssuer == "" {
		opt.TOTPIssuer = "latchkey"
	}
	if opt.Metrics == nil {
		opt.Metrics = NoMetrics{}
	}
	a := &Authenticator{store: store, cache: cache, hasher: hasher, opt: opt, touches: make(map[Digest]time.Time), events: newEventQueue()}
	a.lease.id = newReaderID(opt.Rand)
	if r, ok := cache.(LossReporter); ok {
		r.OnLoss(a.cacheLost)
	}
	// Not opt.Rand, which tests make predictable: the key is no part of
	// what they check. crypto/rand.Read does not fail.
	rand.Read(a.logKey[:])
	return a
}

// Principal is an authenticated request's identity.
type Principal struct {
	Digest  Digest
	Session CachedSession
	User    User // without PasswordHash
}

// Issued is the result of a login or password change.
type Issued struct {
	Token   Token
	Session Session
	User    User // without PasswordHash
}

// Client describes where a request came from: the throttle counts by its
// address, and its session records both.
type Client struct {
	Addr      netip.Addr // the zero Addr when unknown
	UserAgent string
}

// IP returns the client's address as its session records it; "" when
// unknown. An IPv6 zone is dropped: it names an interface of this host,
// not the client, and may hold any bytes.
func (c Client) IP() string {
	if !c.Addr.IsValid() {
		return ""
	}
	return c.Addr.WithZone("").String()
}

// flushEvery is how often recorded uses are written to the store: every
// second, or every TouchInterval when that is shorter, so that another
// process reading the store sees a use within one step.
func (a *Authenticator) flushEvery() time.Duration { return min(time.Second, a.opt.TouchInterval) }

// idleExpired reports whether the store's record of a session's last use
// shows it idle: past IdleTimeout by more than a step. A use recorded by
// another process is written to the store within flushEvery, and a use
// within TouchInterval of a recorded one is not recorded, so a last use
// the store does not show yet is at most that much later than the one it
// shows.
func (a *Authenticator) idleExpired(now, lastUsed time.Time) bool {
	return a.opt.IdleTimeout > 0 && now.Sub(lastUsed) >= a.opt.IdleTimeout+a.opt.TouchInterval+a.flushEvery()
}

// now returns the injected clock's time in UTC, at the microsecond
// precision every store keeps.
func (a *Authenticator) now() time.Time { return a.opt.Now().UTC().Truncate(time.Microsecond) }

// Ready reports whether the store answers. A cache that does not answer
// (Redis down) does not make the server unready: checks then go to the
// store, correct and slower, and logins keep working.
func (a *Authenticator) Ready(ctx context.Context) error {
	if err := a.store.Ping(ctx); err != nil {
		return Unavailable(fmt.Errorf("store: %w", err))
	}
	return nil
}
