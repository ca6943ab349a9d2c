package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of latchkey. Each one is a flag and an
// environment variable; a flag wins over the environment, which wins over
// the default. It is filled once, in newConfig, and validated there.
type Config struct {
	Addr              string
	DatabaseURL       string
	CacheURL          string
	TokenTTL          time.Duration
	IdleTimeout       time.Duration
	PasswordMinLength int
	CacheMaxEntries   int
	CacheMaxStaleness time.Duration
	SyncInterval      time.Duration
	HashConcurrency   int
	HashQueueTimeout  time.Duration
	ShutdownTimeout   time.Duration
	LogFormat         string
	LogLevel          string
}

// setting describes one Config field: its flag, its variable and its help.
type setting struct {
	flag, env, help string
	// aliases are other variables accepted when env is unset; alias
	// parse, when set, converts their value (seconds to a duration, say).
	aliases []string
	alias   func(string) (string, error)
	value   func(c *Config) flag.Value
	def     string
}

// settings lists every setting. The first group applies to every command
// that opens the database; serveOnly ones only to serve.
func settings() []setting {
	return []setting{
		{flag: "database-url", env: "LATCHKEY_DATABASE_URL", def: "sqlite:latchkey.db",
			help:  "where users and sessions are kept: sqlite:PATH or postgres://USER@HOST/DB",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.DatabaseURL) }},
		{flag: "password-min-length", env: "LATCHKEY_PASSWORD_MIN_LENGTH", def: "12",
			help:  "minimum length of a new password, in characters",
			value: func(c *Config) flag.Value { return (*intValue)(&c.PasswordMinLength) }},
		{flag: "hash-concurrency", env: "LATCHKEY_HASH_CONCURRENCY", def: strconv.Itoa(runtime.GOMAXPROCS(0)),
			help:  "password hashes computed at once (each takes 19 MiB)",
			value: func(c *Config) flag.Value { return (*intValue)(&c.HashConcurrency) }},
		{flag: "hash-queue-timeout", env: "LATCHKEY_HASH_QUEUE_TIMEOUT", def: "1s",
			help:  "how long a login waits for a hashing slot before 503 overloaded",
			value: func(c *Config) flag.Value { return (*durationValue)(&c.HashQueueTimeout) }},
		{flag: "log-format", env: "LATCHKEY_LOG_FORMAT", def: "text",
			help:  "log format: text or json",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.LogFormat) }},
		{flag: "log-level", env: "LATCHKEY_LOG_LEVEL", def: "info",
			help:  "log level: debug, info, warn or error",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.LogLevel) }},
	}
}

func serveSettings() []setting {
	return []setting{
		{flag: "addr", env: "LATCHKEY_ADDR", def: "127.0.0.1:8080",
			help:  "address to listen on (host:port; port 0 picks a free one)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.Addr) }},
		{flag: "cache-url", env: "LATCHKEY_CACHE_URL", def: "memory",
			help:  "token cache: memory (in process)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CacheURL) }},
		{flag: "token-ttl", env: "LATCHKEY_TOKEN_TTL", def: "24h",
			aliases: []string{"TOKEN_EXPIRY_IN_SECONDS"}, alias: secondsToDuration,
			help:  "lifetime of a token from its login (Go duration; TOKEN_EXPIRY_IN_SECONDS in seconds is accepted too)",
			value: func(c *Config) flag.Value { return (*durationValue)(&c.TokenTTL) }},
		{flag: "token-idle-timeout", env: "LATCHKEY_TOKEN_IDLE_TIMEOUT", def: "0",
			help:  "a token unused this long expires (0: never)",
			value: func(c *Config) flag.Value { return (*durationValue)(&c.IdleTimeout) }},
		{flag: "cache-max-entries", env: "LATCHKEY_CACHE_MAX_ENTRIES", def: "1000000",
			help:  "cached sessions (and users) kept in memory at most",
			value: func(c *Config) flag.Value { return (*intValue)(&c.CacheMaxEntries) }},
		{flag: "cache-max-staleness", env: "LATCHKEY_CACHE_MAX_STALENESS", def: "30s",
			help:  "how long cached tokens are honoured while revocations cannot be read from the database",
			value: func(c *Config) flag.Value { return (*durationValue)(&c.CacheMaxStaleness) }},
		{flag: "sync-interval", env: "LATCHKEY_SYNC_INTERVAL", def: "200ms",
			help:  "how often revocations made by other processes are read",
			value: func(c *Config) flag.Value { return (*durationValue)(&c.SyncInterval) }},
		{flag: "shutdown-timeout", env: "LATCHKEY_SHUTDOWN_TIMEOUT", def: "10s",
			help:  "how long in-flight requests may finish after SIGINT or SIGTERM",
			value: func(c *Config) flag.Value { return (*durationValue)(&c.ShutdownTimeout) }},
	}
}

func secondsToDuration(s string) (string, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return "", fmt.Errorf("must be a whole number of seconds")
	}
	return (time.Duration(n) * time.Second).String(), nil
}

// newFlagSet makes a flag set whose defaults come from getenv, and
// returns the config it fills and a check to run after parsing.
func newFlagSet(name string, getenv func(string) string, stderr io.Writer, groups ...[]setting) (*flag.FlagSet, *Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &Config{}
	var all []setting
	for _, g := range groups {
		all = append(all, g...)
	}
	for _, s := range all {
		v := s.value(c)
		raw, from := s.def, "default"
		if e := getenv(s.env); e != "" {
			raw, from = e, s.env
		} else {
			for _, a := range s.aliases {
				if e := getenv(a); e != "" {
					conv, err := s.alias(e)
					if err != nil {
						return nil, nil, fmt.Errorf("%s: %w", a, err)
					}
					raw, from = conv, a
					break
				}
			}
		}
		if err := v.Set(raw); err != nil {
			return nil, nil, fmt.Errorf("%s (from %s): %w", s.flag, from, err)
		}
		fs.Var(v, s.flag, fmt.Sprintf("%s (env %s)", s.help, s.env))
		// The help shows the built-in default, not the environment's.
		fs.Lookup(s.flag).DefValue = s.def
	}
	return fs, c, nil
}

// validate checks the settings that parsing alone does not.
func (c *Config) validate() error {
	var errs []error
	if c.PasswordMinLength < 1 || c.PasswordMinLength > 256 {
		errs = append(errs, errors.New("password-min-length must be between 1 and 256"))
	}
	if c.HashConcurrency < 1 {
		errs = append(errs, errors.New("hash-concurrency must be at least 1"))
	}
	if c.HashQueueTimeout < 0 {
		errs = append(errs, errors.New("hash-queue-timeout must not be negative"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, errors.New("log-format must be text or json"))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateServe checks the serve settings.
func (c *Config) validateServe() error {
	var errs []error
	if c.TokenTTL < time.Second {
		errs = append(errs, errors.New("token-ttl must be at least 1s"))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, errors.New("token-idle-timeout must not be negative"))
	}
	if c.CacheMaxEntries < 1 {
		errs = append(errs, errors.New("cache-max-entries must be at least 1"))
	}
	if c.CacheMaxStaleness <= 0 {
		errs = append(errs, errors.New("cache-max-staleness must be positive"))
	}
	if c.SyncInterval <= 0 || c.SyncInterval >= c.CacheMaxStaleness {
		errs = append(errs, errors.New("sync-interval must be positive and under cache-max-staleness"))
	}
	if c.CacheURL != "memory" {
		errs = append(errs, fmt.Errorf("cache-url %q is not supported: use memory", c.CacheURL))
	}
	return errors.Join(c.validate(), errors.Join(errs...))
}

func (c *Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log-level: %w", err)
	}
	return l, nil
}

// logger builds the logger the settings ask for.
func (c *Config) logger(w io.Writer) *slog.Logger {
	l, _ := c.level()
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// sqlitePath returns the file of a sqlite: database URL.
func sqlitePath(url string) (string, error) {
	rest, ok := strings.CutPrefix(url, "sqlite:")
	if !ok {
		return "", fmt.Errorf("database-url %q is not supported: use sqlite:PATH or postgres://…", url)
	}
	if p, ok := strings.CutPrefix(rest, "//"); ok {
		rest = p // sqlite://relative/path or sqlite:///absolute/path
	}
	if rest == "" {
		return "", errors.New("database-url: sqlite: needs a file path")
	}
	return rest, nil
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("must be a whole number")
	}
	*v = intValue(n)
	return nil
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "0" {
		*v = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("must be a Go duration such as 30s, 15m or 24h")
	}
	*v = durationValue(d)
	return nil
}
