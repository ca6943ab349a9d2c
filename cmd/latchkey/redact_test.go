package main

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/django/djangotest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

var redactCases = []struct{ in, want string }{
	{"memory", "memory"},
	{"sqlite:latchkey.db", "sqlite:latchkey.db"},
	{"sqlite:/var/lib/a%zz.db", "sqlite:/var/lib/a%zz.db"},
	{"latchkey.db", "latchkey.db"},
	{"postgres://u@db:5432/x?sslmode=disable", "postgres://u@db:5432/x?sslmode=disable"},
	{"postgres://u:secret@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable"},
	{"postgres://u:se%40cret@db/x", "postgres://u:xxxxx@db/x"},
	{"postgres://u:se@cret@db/x", "postgres://u:xxxxx@db/x"},
	{"redis://:secret@cache:6379/1", "redis://:xxxxx@cache:6379/1"},
	{"redis://default:secret@cache/1", "redis://default:xxxxx@cache/1"},
	{"rediss://u@cache/1", "rediss://u@cache/1"},
	{"postgres://u@db/x?password=secret&sslmode=require", "postgres://u@db/x?password=xxxxx&sslmode=require"},
	{"postgres://u@db/x?sslpassword=secret", "postgres://u@db/x?sslpassword=xxxxx"},
	{"postgres://u@db/x?pass%77ord=secret", "postgres://u@db/x?pass%77ord=xxxxx"},
	{"mysql://u:secret@db/x", "mysql://u:xxxxx@db/x"},
	// A slash, a question mark or a hash in a password: the URL parser
	// and the drivers disagree on where it ends.
	{"mysql://u:12/secret@db/x", "mysql://[redacted]"},
	{"postgres://u:12?secret@db/x", "postgres://[redacted]"},
	{"postgres://u:12#secret@db/x", "postgres://[redacted]"},
	{"postgres://u:se/cret@db/x", "postgres://[redacted]"},
	{"postgres:u:secret@db", "postgres:[redacted]"},
	{"host=db password=secret", "[redacted]"},
	{"u:secret@db/x", "u:[redacted]"},
	{"sqlite:/var/lib/odd@name.db", "sqlite:[redacted]"},
}

func TestRedactURL(t *testing.T) {
	for _, tc := range redactCases {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedactURL holds redactURL to what the drivers read: whatever
// password pgx or go-redis would take from a string is not in the
// string redacted.
func FuzzRedactURL(f *testing.F) {
	for _, tc := range redactCases {
		f.Add(tc.in)
	}
	f.Add("postgres://u:pw1234@h1,h2:5433/x?target_session_attrs=any")
	f.Add("unix://u:pw1234@/tmp/redis.sock?db=2")
	f.Add("user=u password='a b c d' host=db")
	f.Fuzz(func(t *testing.T, s string) {
		out := redactURL(s)
		var passwords []string
		if c, err := pgconn.ParseConfig(s); err == nil {
			passwords = append(passwords, c.Password)
		}
		if o, err := goredis.ParseURL(s); err == nil {
			passwords = append(passwords, o.Password)
		}
		// Compare decoded forms, without the masks; skip passwords too
		// short to tell from the rest, and those the string holds twice.
		in, err := url.PathUnescape(s)
		if err != nil {
			in = s
		}
		masked := strings.NewReplacer("xxxxx", "\x00", "[redacted]", "\x00").Replace(out)
		if d, err := url.PathUnescape(masked); err == nil {
			masked = d
		}
		for _, p := range passwords {
			if len(p) < 4 || strings.Count(in, p) != 1 {
				continue
			}
			if strings.Contains(masked, p) {
				t.Fatalf("redactURL(%q) = %q, which holds the password %q", s, out, p)
			}
		}
	})
}

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
