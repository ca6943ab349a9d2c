package config

import (
	"errors"
	"time"
)

// The settings of a token check, which latchkey serve and package verify
// read alike. Each returns its setting bound to p.

// DatabaseURL is where users and sessions are kept (see dial.ParseDatabaseURL).
func DatabaseURL(p *string) Var {
	return Var{Setting{Flag: "database-url", Env: "LATCHKEY_DATABASE_URL", Default: "sqlite:latchkey.db",
		Help: "where users and sessions are kept: sqlite:PATH or postgres://USER@HOST/DB"}, (*String)(p)}
}

// CacheURL is the token cache (see dial.CheckCacheURL).
func CacheURL(p *string) Var {
	return Var{Setting{Flag: "cache-url", Env: "LATCHKEY_CACHE_URL", Default: "memory",
		Help: "token cache: memory (in process), or redis://HOST:PORT/DB shared by several nodes (user commands publish their revocations there)"}, (*String)(p)}
}

// IdleTimeout expires a token unused this long; 0 is off.
func IdleTimeout(p *time.Duration) Var {
	return Var{Setting{Flag: "token-idle-timeout", Env: "LATCHKEY_TOKEN_IDLE_TIMEOUT", Default: "0",
		Help: "a token unused this long expires (0: never)"}, DurationOrOff(p, MinIdleTimeout, MaxIdleTimeout)}
}

// CacheMaxEntries bounds the sessions (and users) cached in a process.
func CacheMaxEntries(p *int) Var {
	return Var{Setting{Flag: "cache-max-entries", Env: "LATCHKEY_CACHE_MAX_ENTRIES", Default: "1000000",
		Help: "cached sessions (and users) kept in memory at most"}, (*Int)(p)}
}

// CacheMaxStaleness is the lease on a process's cache.
func CacheMaxStaleness(p *time.Duration) Var {
	return Var{Setting{Flag: "cache-max-staleness", Env: "LATCHKEY_CACHE_MAX_STALENESS", Default: "250ms",
		Help: "how long cached tokens are honoured while revocations cannot be read from the database"}, DurationIn(p, MinStaleness, MaxStaleness)}
}

// SyncInterval is how often the change feed is read.
func SyncInterval(p *time.Duration) Var {
	return Var{Setting{Flag: "sync-interval", Env: "LATCHKEY_SYNC_INTERVAL", Default: "50ms",
		Help: "how often revocations made by other processes are read"}, DurationIn(p, MinSyncInterval, MaxSyncInterval)}
}

// CheckCache checks what the cache settings' rules alone do not: a cache
// holds at least one entry, and the change feed is read more often than
// the lease lasts.
func CheckCache(maxEntries int, sync, staleness time.Duration) error {
	var errs []error
	if maxEntries < 1 {
		errs = append(errs, errors.New("cache-max-entries must be at least 1"))
	}
	if sync >= staleness {
		errs = append(errs, errors.New("sync-interval must be under cache-max-staleness"))
	}
	return errors.Join(errs...)
}
