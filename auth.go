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
	TokenTTL      time.Duration // absolute lifetime of a token; default 24h
	IdleTimeout   time.Duration // 0: off
	TouchInterval time.Duration // last_used_at granularity; default 1m
	// SyncInterval is how often the store's change feed is read; default 200ms.
	SyncInterval time.Duration
	// MaxStaleness is how long cached entries are served while the change
	// feed cannot be read; after that every check goes to the store.
	// Default 30s.
	MaxStaleness time.Duration
	// CleanupInterval is how often expired sessions are deleted; default 1h.
	CleanupInterval time.Duration
	// Retention is how long expired sessions (answering token_expired)
	// and change entries are kept; default 7 days.
	Retention time.Duration

	// CheckPassword validates a new password for a user; nil accepts any.
	// It returns a message fit for the client.
	CheckPassword func(username string, old, pw Password) error

	// Throttle limits password attempts (logins and the old password of
	// a password change); nil: none.
	Throttle Throttle
	// Captcha, when set, is checked on login before the password.
	Captcha CaptchaVerifier
	// CaptchaAfterFailures, when positive, asks for a captcha only once
	// that many failed logins were counted for the username or the client
	// address (it needs Throttle, which counts them); 0 asks every time.
	CaptchaAfterFailures int

	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand.Reader
	Logger *slog.Logger     // default discards
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
	// synced is when the change feed was last read completely (unix ns).
	synced atomic.Int64
	// seq is the last change feed entry applied.
	seq atomic.Int64

	touchMu sync.Mutex
	touches map[Digest]time.Time

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
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = 200 * time.Millisecond
	}
	if opt.MaxStaleness <= 0 {
		opt.MaxStaleness = 30 * time.Second
	}
	if opt.CleanupInterval <= 0 {
		opt.CleanupInterval = time.Hour
	}
	if opt.Retention <= 0 {
		opt.Retention = 7 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{store: store, cache: cache, hasher: hasher, opt: opt, touches: make(map[Digest]time.Time)}
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
