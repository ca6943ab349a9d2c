package main

import (
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/config"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func serveConfig(t *testing.T, getenv func(string) string, args ...string) (*Config, error) {
	t.Helper()
	fs, cfg, err := newFlagSet("serve", getenv, io.Discard, serveSettings(), settings(), throttleSettings(), captchaSettings())
	if err != nil {
		return nil, err
	}
	if _, err := parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.validateServe()
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		check func(c *Config) bool
	}{
		{"defaults", nil, nil, func(c *Config) bool {
			return c.Addr == "127.0.0.1:8080" && c.DatabaseURL == "sqlite:latchkey.db" && c.CacheURL == "memory" &&
				c.TokenTTL == 24*time.Hour && c.IdleTimeout == 0 && c.PasswordMinLength == 12
		}},
		{"environment", []string{"LATCHKEY_ADDR", ":9000", "LATCHKEY_TOKEN_TTL", "720h", "LATCHKEY_TOKEN_IDLE_TIMEOUT", "15m", "LATCHKEY_PASSWORD_MIN_LENGTH", "16"}, nil, func(c *Config) bool {
			return c.Addr == ":9000" && c.TokenTTL == 720*time.Hour && c.IdleTimeout == 15*time.Minute && c.PasswordMinLength == 16
		}},
		{"flag beats environment", []string{"LATCHKEY_TOKEN_TTL", "1h"}, []string{"--token-ttl", "2h"}, func(c *Config) bool { return c.TokenTTL == 2*time.Hour }},
		{"seconds alias", []string{"TOKEN_EXPIRY_IN_SECONDS", "3600"}, nil, func(c *Config) bool { return c.TokenTTL == time.Hour }},
		{"RECAPTCHA_KEY selects recaptcha", []string{"RECAPTCHA_KEY", "k3y"}, nil, func(c *Config) bool {
			return c.CaptchaProvider == "recaptcha" && c.CaptchaSecret == "k3y"
		}},
		{"explicit provider beats RECAPTCHA_KEY", []string{"RECAPTCHA_KEY", "k3y", "LATCHKEY_CAPTCHA_PROVIDER", "turnstile"}, nil, func(c *Config) bool {
			return c.CaptchaProvider == "turnstile" && c.CaptchaSecret == "k3y"
		}},
		{"captcha after failures", []string{"LATCHKEY_CAPTCHA_PROVIDER", "pow", "LATCHKEY_CAPTCHA_SECRET", "0123456789abcdef", "LATCHKEY_CAPTCHA_REQUIRED", "after-failures:3"}, nil, func(c *Config) bool {
			return c.CaptchaAfter == 3
		}},
		{"captcha always", []string{"LATCHKEY_CAPTCHA_REQUIRED", "always"}, nil, func(c *Config) bool { return c.CaptchaAfter == 0 }},
		{"throttle settings", []string{"LATCHKEY_THROTTLE_IP_RATE", "60/1m", "LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8"}, nil, func(c *Config) bool {
			return c.ThrottleIPRate == "60/1m" && c.TrustedProxies == "10.0.0.0/8" && c.ThrottleAfter == 5 &&
				c.ThrottleClient == "30/1m" && c.ThrottleClientBurst == 10
		}},
		{"service client throttle", []string{"LATCHKEY_THROTTLE_CLIENT_RATE", "5/1h"}, []string{"--throttle-client-burst", "3"}, func(c *Config) bool {
			return c.ThrottleClient == "5/1h" && c.ThrottleClientBurst == 3
		}},
		{"forward-auth cookie off by default", nil, nil, func(c *Config) bool { return c.ForwardAuthCookie == "" }},
		{"forward-auth cookie", []string{"LATCHKEY_FORWARD_AUTH_COOKIE", "__Host-latchkey"}, nil, func(c *Config) bool { return c.ForwardAuthCookie == "__Host-latchkey" }},
		{"forward-auth cookie flag", nil, []string{"--forward-auth-cookie", "lk"}, func(c *Config) bool { return c.ForwardAuthCookie == "lk" }},
		{"metrics off by default", nil, nil, func(c *Config) bool { return c.MetricsAddr == "" }},
		{"login page off by default", nil, nil, func(c *Config) bool { return c.UI == "off" }},
		{"login page", []string{"LATCHKEY_UI", "on"}, nil, func(c *Config) bool { return c.UI == "on" }},
		{"login page with a widget and its site key", []string{"LATCHKEY_UI", "on", "LATCHKEY_CAPTCHA_PROVIDER", "turnstile", "LATCHKEY_CAPTCHA_SECRET", "s", "LATCHKEY_CAPTCHA_SITE_KEY", "k"}, nil, func(c *Config) bool { return c.UI == "on" }},
		{"metrics address", []string{"LATCHKEY_METRICS_ADDR", "127.0.0.1:9464"}, nil, func(c *Config) bool { return c.MetricsAddr == "127.0.0.1:9464" }},
		{"metrics address flag", nil, []string{"--metrics-addr", ":9464"}, func(c *Config) bool { return c.MetricsAddr == ":9464" }},
		{"passkeys off by default", nil, nil, func(c *Config) bool {
			return c.WebAuthnRPID == "" && c.WebAuthnOrigins == nil && c.WebAuthnName == "latchkey"
		}},
		{"passkeys", []string{"LATCHKEY_WEBAUTHN_RP_ID", "example.com", "LATCHKEY_WEBAUTHN_ORIGINS", "https://Login.example.com, https://example.com:8443/"}, nil, func(c *Config) bool {
			return c.WebAuthnRPID == "example.com" && slices.Equal(c.WebAuthnOrigins, []string{"https://login.example.com", "https://example.com:8443"})
		}},
		{"main variable beats alias", []string{"TOKEN_EXPIRY_IN_SECONDS", "3600", "LATCHKEY_TOKEN_TTL", "5m"}, nil, func(c *Config) bool { return c.TokenTTL == 5*time.Minute }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := serveConfig(t, envOf(tc.env...), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad duration", []string{"LATCHKEY_TOKEN_TTL", "a day"}, nil, "token-ttl"},
		{"bad alias", []string{"TOKEN_EXPIRY_IN_SECONDS", "1.5"}, nil, "TOKEN_EXPIRY_IN_SECONDS"},
		{"ttl too short", nil, []string{"--token-ttl", "10ms"}, "token-ttl"},
		{"min length zero", []string{"LATCHKEY_PASSWORD_MIN_LENGTH", "0"}, nil, "password-min-length"},
		{"unknown cache", []string{"LATCHKEY_CACHE_URL", "memcached://x"}, nil, "cache-url"},
		{"unknown flag", nil, []string{"--nope"}, "nope"},
		{"bad log format", nil, []string{"--log-format", "xml"}, "log-format"},
		{"provider without secret", []string{"LATCHKEY_CAPTCHA_PROVIDER", "hcaptcha"}, nil, "captcha-secret"},
		{"unknown provider", []string{"LATCHKEY_CAPTCHA_PROVIDER", "mturk"}, nil, "captcha-provider"},
		{"cookie name with a space", []string{"LATCHKEY_FORWARD_AUTH_COOKIE", "my token"}, nil, "forward-auth-cookie"},
		{"cookie name with an equals sign", nil, []string{"--forward-auth-cookie", "a=b"}, "forward-auth-cookie"},
		{"metrics address without a port", []string{"LATCHKEY_METRICS_ADDR", "localhost"}, nil, "metrics-addr"},
		{"login page neither on nor off", []string{"LATCHKEY_UI", "yes"}, nil, "ui"},
		{"login page widget without its site key", []string{"LATCHKEY_UI", "on", "LATCHKEY_CAPTCHA_PROVIDER", "hcaptcha", "LATCHKEY_CAPTCHA_SECRET", "s"}, nil, "captcha-site-key"},
		{"metrics address that is the API's", []string{"LATCHKEY_METRICS_ADDR", "127.0.0.1:8080"}, nil, "metrics-addr"},
		{"cookie name with a semicolon", nil, []string{"--forward-auth-cookie", "a;b"}, "forward-auth-cookie"},
		{"bad captcha mode", []string{"LATCHKEY_CAPTCHA_REQUIRED", "sometimes"}, nil, "captcha-required"},
		{"passkey origin with a path", []string{"LATCHKEY_WEBAUTHN_ORIGINS", "https://example.com/login"}, nil, "webauthn-origins (from LATCHKEY_WEBAUTHN_ORIGINS)"},
		{"passkey origins without an id", []string{"LATCHKEY_WEBAUTHN_ORIGINS", "https://example.com"}, nil, "webauthn-rp-id"},
		{"passkey id without origins", []string{"LATCHKEY_WEBAUTHN_RP_ID", "example.com"}, nil, "webauthn-origins"},
		{"passkey origin elsewhere", []string{"LATCHKEY_WEBAUTHN_RP_ID", "example.com", "LATCHKEY_WEBAUTHN_ORIGINS", "https://example.org"}, nil, "webauthn-origins"},
		{"passkey id with a scheme", nil, []string{"--webauthn-rp-id", "https://example.com", "--webauthn-origins", "https://example.com"}, "webauthn-rp-id"},
		{"passkey display name empty", []string{"LATCHKEY_WEBAUTHN_RP_ID", "example.com", "LATCHKEY_WEBAUTHN_ORIGINS", "https://example.com", "LATCHKEY_WEBAUTHN_DISPLAY_NAME", " "}, nil, "webauthn-display-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serveConfig(t, envOf(tc.env...), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestDurationLimits reads every duration setting at its limits and past
// them, as a variable and as a flag: a value out of range, an overflowing
// one included, is refused with the setting's name and its range.
func TestDurationLimits(t *testing.T) {
	for _, tc := range []struct {
		flag, env string
		lo, hi    time.Duration
		off       bool // 0 is accepted: the setting is off
		field     func(c *Config) time.Duration
	}{
		{"token-ttl", "LATCHKEY_TOKEN_TTL", time.Second, 87600 * time.Hour, false, func(c *Config) time.Duration { return c.TokenTTL }},
		{"token-idle-timeout", "LATCHKEY_TOKEN_IDLE_TIMEOUT", time.Second, 87600 * time.Hour, true, func(c *Config) time.Duration { return c.IdleTimeout }},
		{"cache-max-staleness", "LATCHKEY_CACHE_MAX_STALENESS", 10 * time.Millisecond, time.Hour, false, func(c *Config) time.Duration { return c.CacheMaxStaleness }},
		{"sync-interval", "LATCHKEY_SYNC_INTERVAL", time.Millisecond, time.Minute, false, func(c *Config) time.Duration { return c.SyncInterval }},
		{"hash-queue-timeout", "LATCHKEY_HASH_QUEUE_TIMEOUT", time.Millisecond, 30 * time.Second, false, func(c *Config) time.Duration { return c.HashQueueTimeout }},
		{"shutdown-timeout", "LATCHKEY_SHUTDOWN_TIMEOUT", 0, time.Hour, false, func(c *Config) time.Duration { return c.ShutdownTimeout }},
		{"events-retention", "LATCHKEY_EVENTS_RETENTION", time.Hour, 87600 * time.Hour, false, func(c *Config) time.Duration { return c.EventsRetention }},
		{"throttle-backoff-base", "LATCHKEY_THROTTLE_BACKOFF_BASE", time.Millisecond, 24 * time.Hour, false, func(c *Config) time.Duration { return c.ThrottleBase }},
		{"throttle-backoff-max", "LATCHKEY_THROTTLE_BACKOFF_MAX", time.Millisecond, 24 * time.Hour, false, func(c *Config) time.Duration { return c.ThrottleMax }},
		{"captcha-timeout", "LATCHKEY_CAPTCHA_TIMEOUT", 100 * time.Millisecond, 30 * time.Second, false, func(c *Config) time.Duration { return c.CaptchaTimeout }},
	} {
		// sync-interval must stay under cache-max-staleness: each is held
		// where the other's range does not reach it.
		var base []string
		if tc.flag != "sync-interval" {
			base = append(base, "LATCHKEY_SYNC_INTERVAL", "1ms")
		}
		if tc.flag != "cache-max-staleness" {
			base = append(base, "LATCHKEY_CACHE_MAX_STALENESS", "1h")
		}
		good := []time.Duration{tc.lo, tc.hi}
		if tc.off {
			good = append(good, 0)
		}
		bad := []string{(tc.hi + 1).String(), "2562048h", "9223372037s", "1e3s", "-1s", "forever"}
		if tc.lo > 0 {
			bad = append(bad, (tc.lo - 1).String())
		}
		if !tc.off && tc.lo > 0 {
			bad = append(bad, "0")
		}
		limit := "from " + config.ShortDuration(tc.lo) + " to " + config.ShortDuration(tc.hi)
		for _, d := range good {
			t.Run(tc.flag+"="+d.String(), func(t *testing.T) {
				for _, args := range [][]string{nil, {"--" + tc.flag, d.String()}} {
					env := append(base[:len(base):len(base)], tc.env, d.String())
					if args != nil {
						env = base
					}
					c, err := serveConfig(t, envOf(env...), args...)
					if err != nil || tc.field(c) != d {
						t.Fatalf("%v, %v: %v, %v; want %v", env, args, c, err, d)
					}
				}
			})
		}
		for _, v := range bad {
			t.Run(tc.flag+"="+v, func(t *testing.T) {
				for _, args := range [][]string{nil, {"--" + tc.flag, v}} {
					env := append(base[:len(base):len(base)], tc.env, v)
					if args != nil {
						env = base
					}
					_, err := serveConfig(t, envOf(env...), args...)
					if err == nil || !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), limit) {
						t.Fatalf("%v, %v: err = %v, want one naming %s and %q", env, args, err, tc.flag, limit)
					}
				}
			})
		}
	}
	// TOKEN_EXPIRY_IN_SECONDS, token-ttl in seconds.
	for _, tc := range []struct {
		seconds string
		want    time.Duration // 0: refused
	}{
		{"1", time.Second},
		{"315360000", 87600 * time.Hour},
		{"315360001", 0},
		{"0", 0},
		{"-5", 0},
		{"10000000000", 0},
		{"18446744075", 0}, // overflowed to 1.3s
		{"99999999999999999999", 0},
		{"1.5", 0},
	} {
		t.Run("TOKEN_EXPIRY_IN_SECONDS="+tc.seconds, func(t *testing.T) {
			c, err := serveConfig(t, envOf("TOKEN_EXPIRY_IN_SECONDS", tc.seconds))
			if tc.want != 0 {
				if err != nil || c.TokenTTL != tc.want {
					t.Fatalf("%v, %v; want %v", c, err, tc.want)
				}
				return
			}
			const want = "token-ttl (from TOKEN_EXPIRY_IN_SECONDS): must be a whole number of seconds from 1 to 315360000 (10 years)"
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v, want %q", err, want)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	var u usageError
	for _, args := range [][]string{nil, {"frobnicate"}, {"user"}, {"user", "add"}, {"user", "remove", "x"}, {"serve", "extra"}} {
		err := run(t.Context(), args, envOf(), strings.NewReader(""), io.Discard, io.Discard)
		if !errors.As(err, &u) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

// TestCommandLineErrors checks each command's mistakes word for word:
// they are usage errors, found before the database is opened.
func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string // besides LATCHKEY_DATABASE_URL
		want string
	}{
		{[]string{"serve", "extra"}, nil, `serve takes no arguments, got ["extra"]`},
		{[]string{"migrate", "x"}, nil, "migrate takes no arguments"},
		{[]string{"user", "list", "x"}, nil, "user list takes no arguments"},
		{[]string{"user", "add"}, nil, "user add needs exactly one user name"},
		{[]string{"user", "disable", "a", "b"}, nil, "user disable needs exactly one user name"},
		{[]string{"user", "remove", "x"}, nil, `user: unknown command "remove"`},
		{[]string{"user", "add", "--nope", "x"}, nil, "flag provided but not defined: -nope"},
		{[]string{"client"}, nil, "client: expected add, list or remove"},
		{[]string{"client", "rotate", "x"}, nil, `client: unknown command "rotate"`},
		{[]string{"client", "add"}, nil, "client add needs exactly one client name"},
		{[]string{"client", "remove", "a", "b"}, nil, "client remove needs exactly one client name"},
		{[]string{"client", "list", "x"}, nil, "client list takes no arguments"},
		{[]string{"client", "add", "a b"}, nil, `client add "a b": Use 1 to 64 characters: letters A to Z and a to z, digits, '.', '_' and '-'.`},
		{[]string{"client", "remove", strings.Repeat("x", 65)}, nil, `client remove "` + strings.Repeat("x", 65) + `": Use 1 to 64 characters: letters A to Z and a to z, digits, '.', '_' and '-'.`},
		{[]string{"import", "django", "--dumpdata", "x", "y"}, nil, `import django takes no arguments, got ["y"]`},
		{[]string{"import", "django", "--from-db", "mysql://u:pw@x/db"}, nil, `from-db "mysql://u:xxxxx@x/db" is not supported: use sqlite:PATH or postgres://…`},
		{[]string{"import", "django", "--from-db", "sqlite:"}, nil, "from-db: sqlite: needs a file path"},
		{[]string{"migrate", "--database-url", "mysql://x"}, nil, `database-url "mysql://x" is not supported: use sqlite:PATH or postgres://…`},
		{[]string{"user", "list", "--database-url", "sqlite:"}, nil, "database-url: sqlite: needs a file path"},
		{[]string{"serve", "--captcha-required", "after-failures:0"}, nil, "captcha-required must be always or after-failures:N with N ≥ 1"},
		{[]string{"migrate"}, []string{"LATCHKEY_PASSWORD_MIN_LENGTH", "abc"}, "password-min-length (from LATCHKEY_PASSWORD_MIN_LENGTH): must be a whole number"},
		{[]string{"serve"}, []string{"LATCHKEY_THROTTLE_IP_RATE", "xyz"}, `throttle-ip-rate (from LATCHKEY_THROTTLE_IP_RATE): rate "xyz": want COUNT/DURATION, such as 30/1m`},
		{[]string{"serve", "--throttle-client-rate", "0/1m"}, nil, `invalid value "0/1m" for flag -throttle-client-rate: rate "0/1m": the count must be a whole number of at least 1`},
		{[]string{"serve"}, []string{"LATCHKEY_THROTTLE_KNOWN_RATE", "10/-1h"}, `throttle-known-rate (from LATCHKEY_THROTTLE_KNOWN_RATE): rate "10/-1h": the period must be a positive duration such as 1m`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.db")
			env := envOf(append([]string{"LATCHKEY_DATABASE_URL", "sqlite:" + path}, tc.env...)...)
			err := run(t.Context(), tc.args, env, strings.NewReader(""), io.Discard, io.Discard)
			if exitCode(err) != 2 || err.Error() != tc.want {
				t.Errorf("run(%q) = %v (exit %d), want the usage error %q", tc.args, err, exitCode(err), tc.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("run(%q) opened the database: %v", tc.args, err)
			}
		})
	}
}

// TestShieldPositional: an argument shaped as a session id is positional
// even when it begins with '-', wherever it stands among the flags; a
// flag's value and what follows "--" are left as they are.
func TestShieldPositional(t *testing.T) {
	id := "-AbCdEfGhIjKlMnOpQrStU" // 22 characters of URL-safe base64
	for _, tc := range []struct {
		args    []string
		wantPos []string
		user    string
	}{
		{[]string{id}, []string{id}, ""},
		{[]string{"--json", id}, []string{id}, ""},
		{[]string{id, "--json"}, []string{id}, ""},
		{[]string{"--user", id}, nil, id},
		{[]string{"--user=" + id}, nil, id},
		{[]string{"--", id}, []string{id}, ""},
		{[]string{"plainid"}, []string{"plainid"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		user := fs.String("user", "", "")
		fs.Bool("json", false, "")
		pos, err := parse(fs, shieldPositional(fs, tc.args, sessionIDShaped))
		if err != nil || !slices.Equal(pos, tc.wantPos) || *user != tc.user {
			t.Errorf("%q: positional %q, user %q, %v; want %q, %q", tc.args, pos, *user, err, tc.wantPos, tc.user)
		}
	}
	// Not shaped as an id: still a flag, and an unknown one.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parse(fs, shieldPositional(fs, []string{"-nope"}, sessionIDShaped)); err == nil {
		t.Error("-nope was taken as positional")
	}
}
