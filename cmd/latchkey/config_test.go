package main

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
			return c.ThrottleIPRate == "60/1m" && c.TrustedProxies == "10.0.0.0/8" && c.ThrottleAfter == 5
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
		{"bad captcha mode", []string{"LATCHKEY_CAPTCHA_REQUIRED", "sometimes"}, nil, "captcha-required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serveConfig(t, envOf(tc.env...), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestParseDatabaseURL(t *testing.T) {
	for _, tc := range []struct {
		setting, in string
		want        databaseURL
		wantErr     string
	}{
		{"database-url", "sqlite:latchkey.db", databaseURL{kind: "sqlite", path: "latchkey.db", url: "sqlite:latchkey.db"}, ""},
		{"database-url", "sqlite:///var/lib/x.db", databaseURL{kind: "sqlite", path: "/var/lib/x.db", url: "sqlite:///var/lib/x.db"}, ""},
		{"database-url", "sqlite:/tmp/x.db", databaseURL{kind: "sqlite", path: "/tmp/x.db", url: "sqlite:/tmp/x.db"}, ""},
		{"database-url", "sqlite://rel/x.db", databaseURL{kind: "sqlite", path: "rel/x.db", url: "sqlite://rel/x.db"}, ""},
		{"database-url", "postgres://localhost/x", databaseURL{kind: "postgres", url: "postgres://localhost/x"}, ""},
		{"database-url", "postgresql://u:pw@localhost/x", databaseURL{kind: "postgres", url: "postgresql://u:pw@localhost/x"}, ""},
		{"database-url", "sqlite:", databaseURL{}, "database-url: sqlite: needs a file path"},
		{"database-url", "sqlite://", databaseURL{}, "database-url: sqlite: needs a file path"},
		{"database-url", "latchkey.db", databaseURL{}, `database-url "latchkey.db" is not supported: use sqlite:PATH or postgres://…`},
		{"from-db", "sqlite:", databaseURL{}, "from-db: sqlite: needs a file path"},
		{"from-db", "mysql://u:pw@x/db", databaseURL{}, `from-db "mysql://u:xxxxx@x/db" is not supported: use sqlite:PATH or postgres://…`},
		{"database-url", "mysql://u:pw@x/db", databaseURL{}, `database-url "mysql://u:xxxxx@x/db" is not supported: use sqlite:PATH or postgres://…`},
	} {
		t.Run(tc.setting+" "+tc.in, func(t *testing.T) {
			got, err := parseDatabaseURL(tc.setting, tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("parseDatabaseURL(%q) = %+v, %v; want the error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseDatabaseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDatabaseURLRedacted(t *testing.T) {
	d, err := parseDatabaseURL("database-url", "postgres://u:secret@db/x")
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	slog.New(slog.NewJSONHandler(&log, nil)).Info("listening", "database", d)
	for _, s := range []string{d.String(), log.String()} {
		if strings.Contains(s, "secret") || !strings.Contains(s, "postgres://u:xxxxx@db/x") {
			t.Errorf("%q: want the URL without its password", s)
		}
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
		{[]string{"import", "django", "--dumpdata", "x", "y"}, nil, `import django takes no arguments, got ["y"]`},
		{[]string{"import", "django", "--from-db", "mysql://u:pw@x/db"}, nil, `from-db "mysql://u:xxxxx@x/db" is not supported: use sqlite:PATH or postgres://…`},
		{[]string{"import", "django", "--from-db", "sqlite:"}, nil, "from-db: sqlite: needs a file path"},
		{[]string{"migrate", "--database-url", "mysql://x"}, nil, `database-url "mysql://x" is not supported: use sqlite:PATH or postgres://…`},
		{[]string{"user", "list", "--database-url", "sqlite:"}, nil, "database-url: sqlite: needs a file path"},
		{[]string{"serve", "--captcha-required", "after-failures:0"}, nil, "captcha-required must be always or after-failures:N with N ≥ 1"},
		{[]string{"migrate"}, []string{"LATCHKEY_PASSWORD_MIN_LENGTH", "abc"}, "password-min-length (from LATCHKEY_PASSWORD_MIN_LENGTH): must be a whole number"},
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
