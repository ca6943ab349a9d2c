package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/internal/config"
	"github.com/latchkeyhq/latchkey/internal/dial"
)

// Config is what a Verifier reads: the settings of the same names as the
// servers'. Give it the servers' values (FromEnv reads them as the servers
// do): a different idle timeout would accept tokens the servers refuse,
// and a longer CacheMaxStaleness would outlast the wait a revocation makes
// for the processes that cache (see Verifier). A field left at its zero
// value takes the servers' default.
type Config struct {
	// DatabaseURL is LATCHKEY_DATABASE_URL: sqlite:PATH or
	// postgres://…, the servers' database, already migrated by them.
	DatabaseURL string
	// CacheURL is LATCHKEY_CACHE_URL: memory (the change feed alone
	// brings revocations, within SyncInterval), or the servers' Redis
	// (their messages bring them within milliseconds).
	CacheURL string
	// IdleTimeout is LATCHKEY_TOKEN_IDLE_TIMEOUT; 0 is off.
	IdleTimeout time.Duration
	// CacheMaxEntries is LATCHKEY_CACHE_MAX_ENTRIES: sessions (and
	// users) held in this process at most.
	CacheMaxEntries int
	// CacheMaxStaleness is LATCHKEY_CACHE_MAX_STALENESS: the lease on the
	// cache, at most the servers'.
	CacheMaxStaleness time.Duration
	// SyncInterval is LATCHKEY_SYNC_INTERVAL: how often the change feed
	// is read.
	SyncInterval time.Duration

	// Logger receives what the Verifier logs (an unreadable change
	// feed, a 503 the middleware answered); nil discards.
	Logger *slog.Logger
}

// vars are c's settings, bound to its fields.
func (c *Config) vars() []config.Var {
	return []config.Var{
		config.DatabaseURL(&c.DatabaseURL),
		config.CacheURL(&c.CacheURL),
		config.IdleTimeout(&c.IdleTimeout),
		config.CacheMaxEntries(&c.CacheMaxEntries),
		config.CacheMaxStaleness(&c.CacheMaxStaleness),
		config.SyncInterval(&c.SyncInterval),
	}
}

// FromEnv reads a Config from the environment, with latchkey serve's
// variables, defaults and rules: pass os.Getenv, in a process started
// with the servers' environment. A value that serve would refuse is an
// error that names it, as serve's does.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	for _, v := range c.vars() {
		if err := v.Read(getenv); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("verify: %w", err)
	}
	return c, nil
}

// check fills c's unset fields with the defaults and checks it as serve
// checks its settings, and returns the database URL parsed.
func (c *Config) check() (dial.DatabaseURL, error) {
	var errs []error
	for _, v := range c.vars() {
		if err := v.Fill(); err != nil {
			errs = append(errs, err)
		}
	}
	db, err := dial.ParseDatabaseURL("database-url", c.DatabaseURL)
	errs = append(errs, err,
		dial.CheckCacheURL("cache-url", c.CacheURL),
		config.CheckCache(c.CacheMaxEntries, c.SyncInterval, c.CacheMaxStaleness))
	if err := errors.Join(errs...); err != nil {
		return dial.DatabaseURL{}, fmt.Errorf("verify: %w", err)
	}
	return db, nil
}

// Verifier checks tokens in this process, as a latchkey server does, from
// the servers' database and cache. Its methods are safe for concurrent
// use.
//
// It writes to the database only what its checks need: a record that it
// reads the change feed (renewed every 5 s, removed by Close), for which
// every revocation waits LATCHKEY_CACHE_MAX_STALENESS before it answers,
// so that no revoked token is served here once the revocation has
// answered; and the last-use times of the tokens it checked, so that
// LATCHKEY_TOKEN_IDLE_TIMEOUT counts its uses on every server. With Redis
// it also fills and updates the shared cache, as a server does. It deletes
// nothing (the servers prune expired sessions) and migrates nothing.
type Verifier struct {
	auth  *latchkey.Authenticator
	store dial.Store
	cache *dial.Cache
	log   *slog.Logger

	stop      context.CancelFunc
	done      chan error
	closeOnce sync.Once
	closeErr  error
}

// Open opens the database and the cache of cfg, records this process as a
// reader of the change feed, and starts following it, until Close. ctx
// bounds the opening only.
func Open(ctx context.Context, cfg Config) (*Verifier, error) {
	db, err := cfg.check()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := dial.OpenStore(ctx, db, false)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	// The Redis subscriber runs until Close.
	cache, err := dial.OpenCache(context.WithoutCancel(ctx), cfg.CacheURL, cfg.CacheMaxEntries, log)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("verify: %w", err)
	}
	v, err := start(ctx, store, cache, cfg, log)
	if err != nil {
		cache.Close()
		store.Close()
		return nil, err
	}
	return v, nil
}

// start builds a Verifier over store and cache, records it as a reader
// and runs its background work until Close: no passwords, no throttle, no
// captcha, no cleanup.
func start(ctx context.Context, store dial.Store, cache *dial.Cache, cfg Config, log *slog.Logger) (*Verifier, error) {
	auth := latchkey.NewAuthenticator(store, cache.Tokens, noPasswords{}, latchkey.Options{
		IdleTimeout:  cfg.IdleTimeout,
		SyncInterval: cfg.SyncInterval,
		MaxStaleness: cfg.CacheMaxStaleness,
		NoCleanup:    true,
		Logger:       log,
	})
	if err := auth.Start(ctx); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	v := &Verifier{auth: auth, store: store, cache: cache, log: log, stop: stop, done: make(chan error, 1)}
	go func() { v.done <- auth.Run(bg) }()
	return v, nil
}

// Verify checks a token: its Identity when it is valid, else
// latchkey.ErrInvalidToken, latchkey.ErrTokenExpired, or an error of kind
// latchkey.KindUnavailable when the check cannot run (the database not
// answering once the lease on the cache has lapsed). A cached token costs
// no query and allocates nothing.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	p, err := v.auth.Authenticate(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	return Identity{
		UserID:    p.User.ID,
		Username:  p.User.Username,
		Email:     p.User.Email,
		SessionID: p.Session.SessionID,
		ExpiresAt: p.Session.ExpiresAt,
	}, nil
}

// Middleware checks the token of every request (Verify) before next: a
// request refused gets the answer the API would give; one let through
// carries its Identity (FromContext).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return middleware(v.Verify, v.log, next)
}

// Ready reports whether the database answers, for a readiness probe.
func (v *Verifier) Ready(ctx context.Context) error { return v.auth.Ready(ctx) }

// Close stops following the change feed, writes the pending last-use
// times, removes this process's reader record and closes the database and
// the cache. Checks made after Close fail.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.stop()
		v.closeErr = <-v.done
		v.cache.Close()
		if err := v.store.Close(); v.closeErr == nil {
			v.closeErr = err
		}
	})
	return v.closeErr
}

// noPasswords is a Verifier's PasswordHasher: a Verifier has no way to a
// login or a password change, and would refuse them if it had.
type noPasswords struct{}

var errNoPasswords = errors.New("verify: a Verifier checks tokens only")

func (noPasswords) Hash(context.Context, latchkey.Password) (string, error) {
	return "", latchkey.Internal("%w", errNoPasswords)
}

func (noPasswords) Verify(context.Context, latchkey.Password, string) (bool, bool, error) {
	return false, false, latchkey.Internal("%w", errNoPasswords)
}
