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

	"github.com/latchkeyhq/latchkey/cache/redis"
)

// Config is every setting of latchkey. Each one is a flag and an
// environment variable; a flag wins over the environment, which wins over
// the default. command.setup fills it once: newFlagSet sets each setting
// from the environment or its default, the command line overrides them,
// then validate (validateServe for serve) checks them and fills the
// fields below the settings with what it parsed, so that no command
// parses a setting again.
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
	MemoryLimit       memoryLimit
	HashQueueTimeout  time.Duration
	ShutdownTimeout   time.Duration
	EventsRetention   time.Duration
	LogFormat         string
	LogLevel          string

	TrustedProxies      string
	ThrottleIPRate      string
	ThrottleIPBurst     int
	ThrottleAfter       int
	ThrottleBase        time.Duration
	ThrottleMax         time.Duration
	ThrottleAccount     string
	ThrottleAcctBurst   int
	ThrottleKnown       string
	ThrottleKnownBurst  int
	ThrottleMaxEntries  int
	ThrottleChallenge   string
	ThrottleChalBurst   int
	ThrottleClient      string
	ThrottleClientBurst int

	CaptchaProvider  string
	CaptchaSecret    string
	CaptchaSiteKey   string
	CaptchaVerifyURL string
	CaptchaMinScore  float64
	CaptchaAction    string
	CaptchaHostnames string
	CaptchaTimeout   time.Duration
	CaptchaRequired  string

	TLSCertFile string
	TLSKeyFile  string

	ForwardAuthCookie string

	// Database is DatabaseURL, parsed by validate.
	Database databaseURL
	// CaptchaAfter is CaptchaRequired, parsed by validateServe: 0 for
	// always, N for after-failures:N.
	CaptchaAfter int
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
		{flag: "cache-url", env: "LATCHKEY_CACHE_URL", def: "memory",
			help:  "token cache: memory (in process), or redis://HOST:PORT/DB shared by several nodes (user commands publish their revocations there)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CacheURL) }},
		{flag: "password-min-length", env: "LATCHKEY_PASSWORD_MIN_LENGTH", def: "12",
			help:  "minimum length of a new password, in characters",
			value: func(c *Config) flag.Value { return (*intValue)(&c.PasswordMinLength) }},
		{flag: "hash-concurrency", env: "LATCHKEY_HASH_CONCURRENCY", def: strconv.Itoa(min(runtime.GOMAXPROCS(0), 4)),
			help:  "password hashes computed at once (each takes about 40 MiB with the GC's headroom; default the CPUs, at most 4)",
			value: func(c *Config) flag.Value { return (*intValue)(&c.HashConcurrency) }},
		{flag: "hash-queue-timeout", env: "LATCHKEY_HASH_QUEUE_TIMEOUT", def: "1s",
			help:  "how long a login waits for a hashing slot before 503 overloaded",
			value: func(c *Config) flag.Value { return durationIn(&c.HashQueueTimeout, minHashQueue, maxHashQueue) }},
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
		{flag: "token-ttl", env: "LATCHKEY_TOKEN_TTL", def: "24h",
			aliases: []string{"TOKEN_EXPIRY_IN_SECONDS"}, alias: secondsBetween(minTokenTTL, maxTokenTTL),
			help:  "lifetime of a token from its login (Go duration; TOKEN_EXPIRY_IN_SECONDS in seconds is accepted too)",
			value: func(c *Config) flag.Value { return durationIn(&c.TokenTTL, minTokenTTL, maxTokenTTL) }},
		{flag: "token-idle-timeout", env: "LATCHKEY_TOKEN_IDLE_TIMEOUT", def: "0",
			help:  "a token unused this long expires (0: never)",
			value: func(c *Config) flag.Value { return durationOrOff(&c.IdleTimeout, minIdleTimeout, maxIdleTimeout) }},
		{flag: "cache-max-entries", env: "LATCHKEY_CACHE_MAX_ENTRIES", def: "1000000",
			help:  "cached sessions (and users) kept in memory at most",
			value: func(c *Config) flag.Value { return (*intValue)(&c.CacheMaxEntries) }},
		{flag: "cache-max-staleness", env: "LATCHKEY_CACHE_MAX_STALENESS", def: "250ms",
			help:  "how long cached tokens are honoured while revocations cannot be read from the database",
			value: func(c *Config) flag.Value { return durationIn(&c.CacheMaxStaleness, minStaleness, maxStaleness) }},
		{flag: "sync-interval", env: "LATCHKEY_SYNC_INTERVAL", def: "50ms",
			help:  "how often revocations made by other processes are read",
			value: func(c *Config) flag.Value { return durationIn(&c.SyncInterval, minSyncInterval, maxSyncInterval) }},
		{flag: "memory-limit", env: "LATCHKEY_MEMORY_LIMIT", def: "auto",
			help:  "soft limit of the Go runtime's memory (e.g. 512MiB, 2GiB), off, or auto: sized to the cache and the hashing (GOMEMLIMIT, when set, takes precedence over auto)",
			value: func(c *Config) flag.Value { return &c.MemoryLimit }},
		{flag: "shutdown-timeout", env: "LATCHKEY_SHUTDOWN_TIMEOUT", def: "10s",
			help:  "how long in-flight requests may finish after SIGINT or SIGTERM",
			value: func(c *Config) flag.Value { return durationIn(&c.ShutdownTimeout, 0, maxShutdownTimeout) }},
		{flag: "events-retention", env: "LATCHKEY_EVENTS_RETENTION", def: "2160h",
			help: "how long security events are kept (default 90 days)",
			value: func(c *Config) flag.Value {
				return durationIn(&c.EventsRetention, minEventsRetention, maxEventsRetention)
			}},
		{flag: "forward-auth-cookie", env: "LATCHKEY_FORWARD_AUTH_COOKIE", def: "",
			help:  "a cookie /v1/forward-auth reads the token from when the Authorization header holds none, for page loads behind a proxy (empty: none; see the README on CSRF)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.ForwardAuthCookie) }},
		{flag: "tls-cert-file", env: "LATCHKEY_TLS_CERT_FILE", def: "",
			help:  "serve HTTPS only, with this PEM certificate (chain); reread on SIGHUP; needs tls-key-file",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.TLSCertFile) }},
		{flag: "tls-key-file", env: "LATCHKEY_TLS_KEY_FILE", def: "",
			help:  "the PEM private key of tls-cert-file; reread on SIGHUP",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.TLSKeyFile) }},
	}
}

// throttleSettings are the login throttle's thresholds.
func throttleSettings() []setting {
	return []setting{
		{flag: "trusted-proxies", env: "LATCHKEY_TRUSTED_PROXIES", def: "",
			help:  "comma-separated CIDRs of proxies whose X-Forwarded-For and Forwarded headers are believed",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.TrustedProxies) }},
		{flag: "throttle-ip-rate", env: "LATCHKEY_THROTTLE_IP_RATE", def: "30/1m",
			help:  "login attempts per client address, whatever their outcome (COUNT/DURATION)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.ThrottleIPRate) }},
		{flag: "throttle-ip-burst", env: "LATCHKEY_THROTTLE_IP_BURST", def: "10",
			help:  "attempts a client address may make at once",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleIPBurst) }},
		{flag: "throttle-backoff-after", env: "LATCHKEY_THROTTLE_BACKOFF_AFTER", def: "5",
			help:  "failures of one username from one address before each attempt is delayed",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleAfter) }},
		{flag: "throttle-backoff-base", env: "LATCHKEY_THROTTLE_BACKOFF_BASE", def: "1s",
			help:  "the first delay; it doubles with each further failure",
			value: func(c *Config) flag.Value { return durationIn(&c.ThrottleBase, minBackoff, maxBackoff) }},
		{flag: "throttle-backoff-max", env: "LATCHKEY_THROTTLE_BACKOFF_MAX", def: "15m",
			help:  "the longest delay",
			value: func(c *Config) flag.Value { return durationIn(&c.ThrottleMax, minBackoff, maxBackoff) }},
		{flag: "throttle-account-rate", env: "LATCHKEY_THROTTLE_ACCOUNT_RATE", def: "100/1h",
			help:  "failed logins per username across all addresses; past it logins are delayed, never locked",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.ThrottleAccount) }},
		{flag: "throttle-account-burst", env: "LATCHKEY_THROTTLE_ACCOUNT_BURST", def: "100",
			help:  "failed logins per username allowed at once",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleAcctBurst) }},
		{flag: "throttle-known-rate", env: "LATCHKEY_THROTTLE_KNOWN_RATE", def: "10/1h",
			help:  "the separate allowance of an address that logged in to the account before",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.ThrottleKnown) }},
		{flag: "throttle-known-burst", env: "LATCHKEY_THROTTLE_KNOWN_BURST", def: "10",
			help:  "failed logins a known address may make at once",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleKnownBurst) }},
		{flag: "throttle-max-entries", env: "LATCHKEY_THROTTLE_MAX_ENTRIES", def: "1000000",
			help:  "throttle counters kept in memory at most (about 64 bytes each)",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleMaxEntries) }},
		{flag: "throttle-challenge-rate", env: "LATCHKEY_THROTTLE_CHALLENGE_RATE", def: "30/1m",
			help:  "proof-of-work captcha challenges per client address (COUNT/DURATION)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.ThrottleChallenge) }},
		{flag: "throttle-challenge-burst", env: "LATCHKEY_THROTTLE_CHALLENGE_BURST", def: "10",
			help:  "challenges a client address may fetch at once",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleChalBurst) }},
		{flag: "throttle-client-rate", env: "LATCHKEY_THROTTLE_CLIENT_RATE", def: "30/1m",
			help:  "failed service client authentications (POST /v1/introspect) per client address (COUNT/DURATION)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.ThrottleClient) }},
		{flag: "throttle-client-burst", env: "LATCHKEY_THROTTLE_CLIENT_BURST", def: "10",
			help:  "failed service client authentications a client address may make at once",
			value: func(c *Config) flag.Value { return (*intValue)(&c.ThrottleClientBurst) }},
	}
}

// captchaSettings configure the captcha checked on login.
func captchaSettings() []setting {
	return []setting{
		{flag: "captcha-provider", env: "LATCHKEY_CAPTCHA_PROVIDER", def: "none",
			aliases: []string{"RECAPTCHA_KEY"}, alias: func(string) (string, error) { return "recaptcha", nil },
			help:  "none, recaptcha, hcaptcha, turnstile or pow (RECAPTCHA_KEY alone selects recaptcha)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CaptchaProvider) }},
		{flag: "captcha-secret", env: "LATCHKEY_CAPTCHA_SECRET", def: "",
			aliases: []string{"RECAPTCHA_KEY"}, alias: func(s string) (string, error) { return s, nil },
			help:  "the provider's secret key, or the HMAC key of the pow captcha (at least 16 bytes); RECAPTCHA_KEY is accepted too",
			value: func(c *Config) flag.Value { return (*secretValue)(&c.CaptchaSecret) }},
		{flag: "captcha-site-key", env: "LATCHKEY_CAPTCHA_SITE_KEY", def: "",
			help:  "the site key (sent to hCaptcha)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CaptchaSiteKey) }},
		{flag: "captcha-verify-url", env: "LATCHKEY_CAPTCHA_VERIFY_URL", def: "",
			help:  "overrides the provider's siteverify endpoint",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CaptchaVerifyURL) }},
		{flag: "captcha-min-score", env: "LATCHKEY_CAPTCHA_MIN_SCORE", def: "0.5",
			help:  "lowest reCAPTCHA v3 score accepted",
			value: func(c *Config) flag.Value { return (*floatValue)(&c.CaptchaMinScore) }},
		{flag: "captcha-action", env: "LATCHKEY_CAPTCHA_ACTION", def: "login",
			help:  "the action an answer must name, when it names one",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CaptchaAction) }},
		{flag: "captcha-hostnames", env: "LATCHKEY_CAPTCHA_HOSTNAMES", def: "",
			help:  "comma-separated hostnames an answer may come from (empty: any)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CaptchaHostnames) }},
		{flag: "captcha-timeout", env: "LATCHKEY_CAPTCHA_TIMEOUT", def: "5s",
			help:  "how long a verification may take before 503 captcha_unavailable",
			value: func(c *Config) flag.Value { return durationIn(&c.CaptchaTimeout, minCaptchaTimeout, maxCaptchaTimeout) }},
		{flag: "captcha-required", env: "LATCHKEY_CAPTCHA_REQUIRED", def: "always",
			help:  "always, or after-failures:N (only once N failed logins were seen for the username or the address)",
			value: func(c *Config) flag.Value { return (*stringValue)(&c.CaptchaRequired) }},
	}
}

// parseCaptchaRequired parses captcha-required: 0 for always, N for
// after-failures:N.
func parseCaptchaRequired(s string) (int, error) {
	if s == "always" {
		return 0, nil
	}
	n, ok := strings.CutPrefix(s, "after-failures:")
	v, err := strconv.Atoi(n)
	if !ok || err != nil || v < 1 {
		return 0, fmt.Errorf("captcha-required must be always or after-failures:N with N ≥ 1")
	}
	return v, nil
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
						return nil, nil, fmt.Errorf("%s (from %s): %w", s.flag, a, err)
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

// validate checks the settings that parsing alone does not, and parses
// the database URL into Database.
func (c *Config) validate() error {
	var errs []error
	db, err := parseDatabaseURL("database-url", c.DatabaseURL)
	if err != nil {
		errs = append(errs, err)
	}
	c.Database = db
	if c.CacheURL != "memory" {
		if _, err := redis.ParseURL(c.CacheURL); err != nil {
			errs = append(errs, fmt.Errorf("cache-url %q: %w (use memory, redis://HOST:PORT/DB, redis+sentinel://… or redis+cluster://…)", redactURL(c.CacheURL), err))
		}
	}
	if c.PasswordMinLength < 1 || c.PasswordMinLength > 256 {
		errs = append(errs, errors.New("password-min-length must be between 1 and 256"))
	}
	if c.HashConcurrency < 1 {
		errs = append(errs, errors.New("hash-concurrency must be at least 1"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, errors.New("log-format must be text or json"))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateServe checks the serve settings too, and parses
// captcha-required into CaptchaAfter.
func (c *Config) validateServe() error {
	var errs []error
	if c.CacheMaxEntries < 1 {
		errs = append(errs, errors.New("cache-max-entries must be at least 1"))
	}
	if c.SyncInterval >= c.CacheMaxStaleness {
		errs = append(errs, errors.New("sync-interval must be under cache-max-staleness"))
	}
	switch c.CaptchaProvider {
	case "none", "recaptcha", "hcaptcha", "turnstile", "pow":
		if c.CaptchaProvider != "none" && c.CaptchaSecret == "" {
			errs = append(errs, errors.New("captcha-secret is required with a captcha provider"))
		}
	default:
		errs = append(errs, fmt.Errorf("captcha-provider %q: use none, recaptcha, hcaptcha, turnstile or pow", c.CaptchaProvider))
	}
	after, err := parseCaptchaRequired(c.CaptchaRequired)
	if err != nil {
		errs = append(errs, err)
	}
	c.CaptchaAfter = after
	errs = append(errs, c.validateTLS())
	if c.ForwardAuthCookie != "" && !validCookieName(c.ForwardAuthCookie) {
		errs = append(errs, fmt.Errorf("forward-auth-cookie %q is not a cookie name: letters, digits and !#$%%&'*+-.^_`|~ only", c.ForwardAuthCookie))
	}
	return errors.Join(c.validate(), errors.Join(errs...))
}

// validateTLS checks that the certificate and its key are set together;
// serve reads them (and checks that they match) when it starts.
func (c *Config) validateTLS() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("tls-cert-file and tls-key-file go together: set both (LATCHKEY_TLS_CERT_FILE, LATCHKEY_TLS_KEY_FILE) to serve HTTPS, or neither")
	}
	return nil
}

// validCookieName reports whether s may name a cookie: an RFC 9110
// token, as RFC 6265 requires.
func validCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
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

// databaseURL is a database URL, parsed: the backend it names, and what
// that backend opens.
type databaseURL struct {
	kind string // "sqlite" or "postgres"
	path string // the file of a sqlite database
	url  string // the URL as given
}

// parseDatabaseURL parses the database URL of the setting named setting:
// sqlite:PATH (sqlite://relative/path and sqlite:///absolute/path too) or
// postgres://USER@HOST/DB. The error quotes an unsupported URL without its
// password.
func parseDatabaseURL(setting, s string) (databaseURL, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return databaseURL{kind: "postgres", url: s}, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return databaseURL{}, fmt.Errorf("%s: sqlite: needs a file path", setting)
		}
		return databaseURL{kind: "sqlite", path: path, url: s}, nil
	}
	return databaseURL{}, fmt.Errorf("%s %q is not supported: use sqlite:PATH or postgres://…", setting, redactURL(s))
}

// String is the URL without its password, for logs and reports.
func (d databaseURL) String() string { return redactURL(d.url) }

// LogValue keeps the password out of logs in every format.
func (d databaseURL) LogValue() slog.Value { return slog.StringValue(d.String()) }

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

type floatValue float64

func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errors.New("must be a number")
	}
	*v = floatValue(f)
	return nil
}

// secretValue is a string that --help and error messages never show.
type secretValue string

func (v *secretValue) String() string {
	if *v == "" {
		return ""
	}
	return "[redacted]"
}
func (v *secretValue) Set(s string) error { *v = secretValue(s); return nil }
