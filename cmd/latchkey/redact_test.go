package main

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/django/djangotest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// TestEndToEndNoPasswordShown runs every command with a password in the
// database and cache URLs, good ones and mistaken ones, and looks for it
// in all they print.
func TestEndToEndNoPasswordShown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const secret = "Sup3rSecr3t"
	schema, _ := pgtest.NewSchema(t)
	db, err := url.Parse(schema)
	if err != nil {
		t.Fatal(err)
	}
	db.User = url.UserPassword(db.User.Username(), secret) // trust auth: any password is right
	dbURL := db.String()
	// A Redis of the test's own, with the password required.
	srv := redistest.StartServer(t)
	if err := redistest.Client(t, srv.URL()).ConfigSet(t.Context(), "requirepass", secret).Err(); err != nil {
		t.Fatal(err)
	}
	cacheURL := strings.Replace(srv.URL(), "redis://", "redis://:"+secret+"@", 1)
	good := []string{"LATCHKEY_DATABASE_URL=" + dbURL, "LATCHKEY_CACHE_URL=" + cacheURL}
	django := djangotest.Path(t, "django.sqlite3")

	check := func(t *testing.T, what, out string) {
		t.Helper()
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the password:\n%s", what, out)
		}
	}
	for _, tc := range []struct {
		name  string
		env   []string
		stdin string
		args  []string
		code  int // the exit status
	}{
		{"migrate", good, "", []string{"migrate"}, 0},
		{"user add", good, e2ePassword + "\n", []string{"user", "add", "alice", "--password-stdin"}, 0},
		{"user add bob", good, e2ePassword + "\n", []string{"user", "add", "bob", "--password-stdin"}, 0},
		{"user list", good, "", []string{"user", "list"}, 0},
		{"user disable", good, "", []string{"user", "disable", "alice"}, 0},
		{"user enable", good, "", []string{"user", "enable", "alice"}, 0},
		{"import from sqlite", good, "", []string{"import", "django", "--from-db", "sqlite:" + django, "--token-expiry", "1h"}, 0},
		{"import from a database without Django", good, "", []string{"import", "django", "--from-db", dbURL}, 1},
		{"import from a mistyped URL", good, "", []string{"import", "django", "--from-db", "mysql://u:" + secret + "@db/x"}, 2},
		{"import from an unreachable database", good, "", []string{"import", "django", "--from-db", "postgres://u:" + secret + "@127.0.0.1:1/x"}, 1},
		{"database-url mistyped", []string{"LATCHKEY_DATABASE_URL=mysql://u:" + secret + "@db/x"}, "", []string{"migrate"}, 2},
		{"database-url with a slash in the password", []string{"LATCHKEY_DATABASE_URL=mysql://u:12/" + secret + "@db/x"}, "", []string{"user", "list"}, 2},
		{"database-url as key=value", []string{"LATCHKEY_DATABASE_URL=host=db password=" + secret}, "", []string{"user", "list"}, 2},
		{"database-url with a bad port", []string{"LATCHKEY_DATABASE_URL=postgres://u:" + secret + "@db:port/x"}, "", []string{"migrate"}, 1},
		{"database-url unreachable", []string{"LATCHKEY_DATABASE_URL=postgres://u@127.0.0.1:1/x?password=" + secret}, "", []string{"migrate"}, 1},
		{"database-url mistyped, serve", []string{"LATCHKEY_DATABASE_URL=mysql://u:" + secret + "@db/x"}, "", []string{"serve"}, 2},
		{"cache-url mistyped", []string{"LATCHKEY_DATABASE_URL=" + dbURL, "LATCHKEY_CACHE_URL=memcached://:" + secret + "@cache/1"}, "", []string{"serve"}, 2},
		{"cache-url with a bad database", []string{"LATCHKEY_DATABASE_URL=" + dbURL, "LATCHKEY_CACHE_URL=redis://:" + secret + "@cache/x"}, "", []string{"user", "list"}, 2},
		{"cache-url with a wrong password", []string{"LATCHKEY_DATABASE_URL=" + dbURL, "LATCHKEY_CACHE_URL=" + strings.Replace(cacheURL, secret, secret+"x", 1)}, "", []string{"user", "disable", "bob"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := binary(t)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			cmd.Env = append(cmd.Environ(), tc.env...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("exit status %d (%v), want %d:\n%s", code, err, tc.code, out)
			}
			check(t, strings.Join(tc.args, " "), string(out))
		})
	}
	t.Run("serve", func(t *testing.T) {
		p := serve(t, good)
		p.login(t, "alice", e2ePassword)
		if !strings.Contains(p.output(), `"cache":"redis://:xxxxx@127.0.0.1:`) {
			t.Errorf("the cache is not in the start line:\n%s", p.output())
		}
		check(t, "serve", p.output())
	})
	t.Run("serve while Redis refuses its password", func(t *testing.T) {
		p := serve(t, []string{"LATCHKEY_DATABASE_URL=" + dbURL, "LATCHKEY_CACHE_URL=" + strings.Replace(cacheURL, secret, secret+"x", 1)})
		p.login(t, "alice", e2ePassword)
		check(t, "serve", p.output())
	})
}
