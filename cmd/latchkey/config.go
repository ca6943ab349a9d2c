package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/internal/config"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/throttle"
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

	MetricsAddr string

	// UI is on or off: the login page at /ui/.
	UI string

	// MFAKey is LATCHKEY_MFA_KEY, parsed: nil when unset.
	MFAKey []byte

	// WebAuthnRPID, WebAuthnOrigins (parsed) and WebAuthnName name the
	// passkeys' relying party; no id: no passkeys.
	WebAuthnRPID    string
	WebAuthnOrigins []string
	WebAuthnName    string

	// Database is DatabaseURL, parsed by validate.
	Database dial.DatabaseURL
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
		shared(config.DatabaseURL, func(c *Config) *string { return &c.DatabaseURL }),
		shared(config.CacheURL, func(c *Config) *string { return &c.CacheURL }),
		{flag: "password-min-length", env: "LATCHKEY_PASSWORD_MIN_LENGTH", def: "12",
			help:  "minimum length of a new password, in characters",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.PasswordMinLength) }},
		{flag: "hash-concurrency", env: "LATCHKEY_HASH_CONCURRENCY", def: strconv.Itoa(min(runtime.GOMAXPROCS(0), 4)),
			help:  "password hashes computed at once (each takes about 40 MiB with the GC's headroom; default the CPUs, at most 4)",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.HashConcurrency) }},
		{flag: "hash-queue-timeout", env: "LATCHKEY_HASH_QUEUE_TIMEOUT", def: "1s",
			help: "how long a login waits for a hashing slot before 503 overloaded",
			value: func(c *Config) flag.Value {
				return config.DurationIn(&c.HashQueueTimeout, config.MinHashQueue, config.MaxHashQueue)
			}},
		{flag: "log-format", env: "LATCHKEY_LOG_FORMAT", def: "text",
			help:  "log format: text or json",
			value: func(c *Config) flag.Value { return (*config.String)(&c.LogFormat) }},
		{flag: "log-level", env: "LATCHKEY_LOG_LEVEL", def: "info",
			help:  "log level: debug, info, warn or error",
			value: func(c *Config) flag.Value { return (*config.String)(&c.LogLevel) }},
	}
}

// shared is a setting defined in internal/config, which package verify
// reads too: def binds it to the field of Config that field returns.
func shared[T any](def func(p *T) config.Var, field func(c *Config) *T) setting {
	var zero T
	d := def(&zero)
	return setting{flag: d.Flag, env: d.Env, help: d.Help, def: d.Default, aliases: d.Aliases, alias: d.Alias,
		value: func(c *Config) flag.Value { return def(field(c)).Value }}
}

func serveSettings() []setting {
	return []setting{
		{flag: "mfa-key", env: "LATCHKEY_MFA_KEY", def: "",
			help:  "the key that seals TOTP secrets: 32 random bytes as 64 hex digits or base64 (openssl rand -hex 32); unset, no TOTP can be enrolled or checked",
			value: func(c *Config) flag.Value { return (*config.MFAKey)(&c.MFAKey) }},
		{flag: "webauthn-rp-id", env: "LATCHKEY_WEBAUTHN_RP_ID", def: "",
			help:  "the domain passkeys belong to (example.com), the origins' host or a parent of it; unset, no passkeys",
			value: func(c *Config) flag.Value { return (*config.String)(&c.WebAuthnRPID) }},
		{flag: "webauthn-origins", env: "LATCHKEY_WEBAUTHN_ORIGINS", def: "",
			help:  "comma-separated origins of the pages that use passkeys (https://login.example.com), on webauthn-rp-id",
			value: func(c *Config) flag.Value { return (*config.Origins)(&c.WebAuthnOrigins) }},
		{flag: "webauthn-display-name", env: "LATCHKEY_WEBAUTHN_DISPLAY_NAME", def: "latchkey",
			help:  "the service's name in the browser's passkey prompts",
			value: func(c *Config) flag.Value { return (*config.String)(&c.WebAuthnName) }},
		{flag: "addr", env: "LATCHKEY_ADDR", def: "127.0.0.1:8080",
			help:  "address to listen on (host:port; port 0 picks a free one)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.Addr) }},
		{flag: "token-ttl", env: "LATCHKEY_TOKEN_TTL", def: "24h",
			aliases: []string{"TOKEN_EXPIRY_IN_SECONDS"}, alias: config.SecondsBetween(config.MinTokenTTL, config.MaxTokenTTL),
			help: "lifetime of a token from its login (Go duration; TOKEN_EXPIRY_IN_SECONDS in seconds is accepted too)",
			value: func(c *Config) flag.Value {
				return config.DurationIn(&c.TokenTTL, config.MinTokenTTL, config.MaxTokenTTL)
			}},
		shared(config.IdleTimeout, func(c *Config) *time.Duration { return &c.IdleTimeout }),
		shared(config.CacheMaxEntries, func(c *Config) *int { return &c.CacheMaxEntries }),
		shared(config.CacheMaxStaleness, func(c *Config) *time.Duration { return &c.CacheMaxStaleness }),
		shared(config.SyncInterval, func(c *Config) *time.Duration { return &c.SyncInterval }),
		{flag: "memory-limit", env: "LATCHKEY_MEMORY_LIMIT", def: "auto",
			help:  "soft limit of the Go runtime's memory (e.g. 512MiB, 2GiB), off, or auto: sized to the cache and the hashing (GOMEMLIMIT, when set, takes precedence over auto)",
			value: func(c *Config) flag.Value { return &c.MemoryLimit }},
		{flag: "shutdown-timeout", env: "LATCHKEY_SHUTDOWN_TIMEOUT", def: "10s",
			help:  "how long in-flight requests may finish after SIGINT or SIGTERM",
			value: func(c *Config) flag.Value { return config.DurationIn(&c.ShutdownTimeout, 0, config.MaxShutdownTimeout) }},
		{flag: "events-retention", env: "LATCHKEY_EVENTS_RETENTION", def: "2160h",
			help: "how long security events are kept (default 90 days)",
			value: func(c *Config) flag.Value {
				return config.DurationIn(&c.EventsRetention, config.MinEventsRetention, config.MaxEventsRetention)
			}},
		{flag: "forward-auth-cookie", env: "LATCHKEY_FORWARD_AUTH_COOKIE", def: "",
			help:  "a cookie /v1/forward-auth reads the token from when the Authorization header holds none, for page loads behind a proxy (empty: none; see the README on CSRF)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.ForwardAuthCookie) }},
		{flag: "metrics-addr", env: "LATCHKEY_METRICS_ADDR", def: "",
			help:  "serve Prometheus metrics at /metrics on this address (host:port), a listener of its own (empty: off)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.MetricsAddr) }},
		{flag: "ui", env: "LATCHKEY_UI", def: "off",
			help:  "on: serve the login page at /ui/ (HTML, CSS and JavaScript built in, under a strict Content-Security-Policy); off",
			value: func(c *Config) flag.Value { return (*config.String)(&c.UI) }},
		{flag: "tls-cert-file", env: "LATCHKEY_TLS_CERT_FILE", def: "",
			help:  "serve HTTPS only, with this PEM certificate (chain); reread on SIGHUP; needs tls-key-file",
			value: func(c *Config) flag.Value { return (*config.String)(&c.TLSCertFile) }},
		{flag: "tls-key-file", env: "LATCHKEY_TLS_KEY_FILE", def: "",
			help:  "the PEM private key of tls-cert-file; reread on SIGHUP",
			value: func(c *Config) flag.Value { return (*config.String)(&c.TLSKeyFile) }},
	}
}

// rate is the flag.Value of a COUNT/DURATION setting, checked when set,
// so that a wrong one is named by its setting.
type rate string

func (v *rate) String() string { return string(*v) }
func (v *rate) Set(s string) error {
	if _, err := throttle.ParseRate(s); err != nil {
		return err
	}
	*v = rate(s)
	return nil
}

// throttleSettings are the login throttle's thresholds.
func throttleSettings() []setting {
	return []setting{
		{flag: "trusted-proxies", env: "LATCHKEY_TRUSTED_PROXIES", def: "",
			help:  "comma-separated CIDRs of proxies whose X-Forwarded-For and Forwarded headers are believed",
			value: func(c *Config) flag.Value { return (*config.String)(&c.TrustedProxies) }},
		{flag: "throttle-ip-rate", env: "LATCHKEY_THROTTLE_IP_RATE", def: "30/1m",
			help:  "login attempts per client address, whatever their outcome (COUNT/DURATION)",
			value: func(c *Config) flag.Value { return (*rate)(&c.ThrottleIPRate) }},
		{flag: "throttle-ip-burst", env: "LATCHKEY_THROTTLE_IP_BURST", def: "10",
			help:  "attempts a client address may make at once",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleIPBurst) }},
		{flag: "throttle-backoff-after", env: "LATCHKEY_THROTTLE_BACKOFF_AFTER", def: "5",
			help:  "failures of one username from one address before each attempt is delayed",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleAfter) }},
		{flag: "throttle-backoff-base", env: "LATCHKEY_THROTTLE_BACKOFF_BASE", def: "1s",
			help: "the first delay; it doubles with each further failure",
			value: func(c *Config) flag.Value {
				return config.DurationIn(&c.ThrottleBase, config.MinBackoff, config.MaxBackoff)
			}},
		{flag: "throttle-backoff-max", env: "LATCHKEY_THROTTLE_BACKOFF_MAX", def: "15m",
			help: "the longest delay",
			value: func(c *Config) flag.Value {
				return config.DurationIn(&c.ThrottleMax, config.MinBackoff, config.MaxBackoff)
			}},
		{flag: "throttle-account-rate", env: "LATCHKEY_THROTTLE_ACCOUNT_RATE", def: "100/1h",
			help:  "failed logins per username across all addresses; past it logins are delayed, never locked",
			value: func(c *Config) flag.Value { return (*rate)(&c.ThrottleAccount) }},
		{flag: "throttle-account-burst", env: "LATCHKEY_THROTTLE_ACCOUNT_BURST", def: "100",
			help:  "failed logins per username allowed at once",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleAcctBurst) }},
		{flag: "throttle-known-rate", env: "LATCHKEY_THROTTLE_KNOWN_RATE", def: "10/1h",
			help:  "the separate allowance of an address that logged in to the account before",
			value: func(c *Config) flag.Value { return (*rate)(&c.ThrottleKnown) }},
		{flag: "throttle-known-burst", env: "LATCHKEY_THROTTLE_KNOWN_BURST", def: "10",
			help:  "failed logins a known address may make at once",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleKnownBurst) }},
		{flag: "throttle-max-entries", env: "LATCHKEY_THROTTLE_MAX_ENTRIES", def: "1000000",
			help:  "throttle counters kept in memory at most (about 64 bytes each)",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleMaxEntries) }},
		{flag: "throttle-challenge-rate", env: "LATCHKEY_THROTTLE_CHALLENGE_RATE", def: "30/1m",
			help:  "proof-of-work captcha challenges per client address (COUNT/DURATION)",
			value: func(c *Config) flag.Value { return (*rate)(&c.ThrottleChallenge) }},
		{flag: "throttle-challenge-burst", env: "LATCHKEY_THROTTLE_CHALLENGE_BURST", def: "10",
			help:  "challenges a client address may fetch at once",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleChalBurst) }},
		{flag: "throttle-client-rate", env: "LATCHKEY_THROTTLE_CLIENT_RATE", def: "30/1m",
			help:  "failed service client authentications (POST /v1/introspect) per client address (COUNT/DURATION)",
			value: func(c *Config) flag.Value { return (*rate)(&c.ThrottleClient) }},
		{flag: "throttle-client-burst", env: "LATCHKEY_THROTTLE_CLIENT_BURST", def: "10",
			help:  "failed service client authentications a client address may make at once",
			value: func(c *Config) flag.Value { return (*config.Int)(&c.ThrottleClientBurst) }},
	}
}

// captchaSettings configure the captcha checked on login.
func captchaSettings() []setting {
	return []setting{
		{flag: "captcha-provider", env: "LATCHKEY_CAPTCHA_PROVIDER", def: "none",
			aliases: []string{"RECAPTCHA_KEY"}, alias: func(string) (string, error) { return "recaptcha", nil },
			help:  "none, recaptcha, hcaptcha, turnstile or pow (RECAPTCHA_KEY alone selects recaptcha)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.CaptchaProvider) }},
		{flag: "captcha-secret", env: "LATCHKEY_CAPTCHA_SECRET", def: "",
			aliases: []string{"RECAPTCHA_KEY"}, alias: func(s string) (string, error) { return s, nil },
			help:  "the provider's secret key, or the HMAC key of the pow captcha (at least 16 bytes); RECAPTCHA_KEY is accepted too",
			value: func(c *Config) flag.Value { return (*config.Secret)(&c.CaptchaSecret) }},
		{flag: "captcha-site-key", env: "LATCHKEY_CAPTCHA_SITE_KEY", def: "",
			help:  "the site key (sent to hCaptcha)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.CaptchaSiteKey) }},
		{flag: "captcha-verify-url", env: "LATCHKEY_CAPTCHA_VERIFY_URL", def: "",
			help:  "overrides the provider's siteverify endpoint",
			value: func(c *Config) flag.Value { return (*config.String)(&c.CaptchaVerifyURL) }},
		{flag: "captcha-min-score", env: "LATCHKEY_CAPTCHA_MIN_SCORE", def: "0.5",
			help:  "lowest reCAPTCHA v3 score accepted",
			value: func(c *Config) flag.Value { return (*config.Float)(&c.CaptchaMinScore) }},
		{flag: "captcha-action", env: "LATCHKEY_CAPTCHA_ACTION", def: "login",
			help:  "the action an answer must name, when it names one",
			value: func(c *Config) flag.Value { return (*config.String)(&c.CaptchaAction) }},
		{flag: "captcha-hostnames", env: "LATCHKEY_CAPTCHA_HOSTNAMES", def: "",
			help:  "comma-separated hostnames an answer may come from (empty: any)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.CaptchaHostnames) }},
		{flag: "captcha-timeout", env: "LATCHKEY_CAPTCHA_TIMEOUT", def: "5s",
			help: "how long a verification may take before 503 captcha_unavailable",
			value: func(c *Config) flag.Value {
				return config.DurationIn(&c.CaptchaTimeout, config.MinCaptchaTimeout, config.MaxCaptchaTimeout)
			}},
		{flag: "captcha-required", env: "LATCHKEY_CAPTCHA_REQUIRED", def: "always",
			help:  "always, or after-failures:N (only once N failed logins were seen for the username or the address)",
			value: func(c *Config) flag.Value { return (*config.String)(&c.CaptchaRequired) }},
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
		spec := config.Setting{Flag: s.flag, Env: s.env, Default: s.def, Aliases: s.aliases, Alias: s.alias}
		if err := spec.Read(getenv, v); err != nil {
			return nil, nil, err
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
	db, err := dial.ParseDatabaseURL("database-url", c.DatabaseURL)
	if err != nil {
		errs = append(errs, err)
	}
	c.Database = db
	if err := dial.CheckCacheURL("cache-url", c.CacheURL); err != nil {
		errs = append(errs, err)
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
	errs = append(errs, config.CheckCache(c.CacheMaxEntries, c.SyncInterval, c.CacheMaxStaleness))
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
	errs = append(errs, c.validateMetrics(), c.validateUI())
	errs = append(errs, config.CheckWebAuthn(c.WebAuthnRPID, c.WebAuthnOrigins))
	if c.WebAuthnRPID != "" && strings.TrimSpace(c.WebAuthnName) == "" {
		errs = append(errs, errors.New("webauthn-display-name must not be empty"))
	}
	return errors.Join(c.validate(), errors.Join(errs...))
}

// validateMetrics checks that the metrics listen on an address of their
// own.
func (c *Config) validateMetrics() error {
	if c.MetricsAddr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics-addr %q: want host:port (127.0.0.1:9464, :9464)", c.MetricsAddr)
	}
	if c.MetricsAddr == c.Addr && port != "0" {
		return fmt.Errorf("metrics-addr %q is addr too: the metrics need an address of their own", c.MetricsAddr)
	}
	return nil
}

// validateUI checks that the login page is on or off, and that a captcha
// widget it would show has its site key.
func (c *Config) validateUI() error {
	switch c.UI {
	case "off":
		return nil
	case "on":
	default:
		return fmt.Errorf("ui %q: use on or off", c.UI)
	}
	switch c.CaptchaProvider {
	case "recaptcha", "hcaptcha", "turnstile":
		if c.CaptchaSiteKey == "" {
			return fmt.Errorf("ui: the login page shows the %s widget, which needs captcha-site-key (LATCHKEY_CAPTCHA_SITE_KEY)", c.CaptchaProvider)
		}
	}
	return nil
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
