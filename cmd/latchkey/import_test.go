package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/django/djangotest"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// importCLI runs `latchkey import django args…` in process.
func importCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"import", "django"}, args...), envOf(), strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

// djangoSources are the --dumpdata and --from-db arguments of each
// fixture source; PostgreSQL only with LATCHKEY_TEST_POSTGRES_URL (or
// under CI, where it must run).
func djangoSources(t *testing.T) map[string][]string {
	t.Helper()
	srcs := map[string][]string{
		"dumpdata": {"--dumpdata", djangotest.Path(t, "dumpdata.json")},
		"sqlite":   {"--from-db", "sqlite:" + djangotest.Path(t, "django.sqlite3")},
	}
	if os.Getenv("LATCHKEY_TEST_POSTGRES_URL") != "" || os.Getenv("CI") == "true" {
		srcs["postgres"] = []string{"--from-db", djangotest.Postgres(t)}
	}
	return srcs
}

// wantLines checks that out holds each line.
func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

func TestImportDjango(t *testing.T) {
	fixtures := djangotest.Users(t)
	for name, src := range djangoSources(t) {
		t.Run(name, func(t *testing.T) {
			db := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
			// The fixtures' tokens are hours old: --token-expiry keeps
			// them alive whatever day the test runs.
			args := append([]string{"--database-url", db, "--token-expiry", "720h"}, src...)
			out, err := importCLI(t, "", append(args, "--dry-run")...)
			if err != nil {
				t.Fatalf("dry run: %v\n%s", err, out)
			}
			wantLines(t, out, "dry run: nothing was written to "+db, "users:  13 created, 0 updated, 0 unchanged, 0 skipped")
			out, err = importCLI(t, "", args...)
			if err != nil {
				t.Fatalf("import: %v\n%s", err, out)
			}
			wantLines(t, out,
				"users:  13 created, 0 updated, 0 unchanged, 0 skipped",
				"tokens: 3 created, 0 unchanged, 1 skipped",
				"skipped tokens: 1 user inactive",
				"  token of user 12: user inactive",
			)
			if strings.Contains(out, "dry run") {
				t.Errorf("a real import says dry run:\n%s", out)
			}
			out, err = importCLI(t, "", args...)
			if err != nil {
				t.Fatalf("second import: %v\n%s", err, out)
			}
			wantLines(t, out, "users:  0 created, 0 updated, 13 unchanged, 0 skipped", "tokens: 0 created, 3 unchanged, 1 skipped")

			// The server's own Authenticator takes the passwords and tokens.
			cfg := &Config{DatabaseURL: db, HashConcurrency: 2, PasswordMinLength: 12}
			dbURL, err := dial.ParseDatabaseURL("database-url", db)
			if err != nil {
				t.Fatal(err)
			}
			st, err := dial.OpenStore(t.Context(), dbURL, false)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			auth := newAuthenticator(cfg, st, memory.New(memory.Options{MaxEntries: 100}), newHasher(cfg, nil), nil, latchkey.Options{})
			for _, user := range []string{"alice", "judy"} {
				f := fixtures[user]
				if _, err := auth.Login(t.Context(), latchkey.LoginRequest{Username: user, Password: latchkey.Password(*f.Password)}); err != nil {
					t.Errorf("login of %s: %v", user, err)
				}
				if p, err := auth.Authenticate(t.Context(), *f.Token); err != nil || p.User.Username != user {
					t.Errorf("token of %s: %v", user, err)
				}
			}
			if _, err := auth.Login(t.Context(), latchkey.LoginRequest{Username: "leo", Password: latchkey.Password(*fixtures["leo"].Password)}); !errors.Is(err, latchkey.ErrInvalidCredentials) {
				t.Errorf("inactive leo: %v", err)
			}
		})
	}
}

func TestImportDjangoExpired(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	// Every fixture token is more than a second old.
	out, err := importCLI(t, "", "--database-url", db, "--token-ttl", "1s", "--dumpdata", djangotest.Path(t, "dumpdata.json"))
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	wantLines(t, out,
		"tokens: 0 created, 0 unchanged, 4 skipped",
		"skipped tokens: 4 expired",
		"4 tokens were created more than --token-ttl (1s) ago; --token-expiry 720h would import them for 30 days",
	)
}

func TestImportDjangoStdin(t *testing.T) {
	raw, err := os.ReadFile(djangotest.Path(t, "dumpdata.json"))
	if err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	out, err := importCLI(t, string(raw), "--database-url", db, "--token-expiry", "1h", "--dumpdata", "-")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	wantLines(t, out, "users:  13 created, 0 updated, 0 unchanged, 0 skipped")
	if !strings.Contains(out, "read from standard input into ") {
		t.Errorf("output does not name standard input:\n%s", out)
	}
}

func TestImportDjangoIntoPostgres(t *testing.T) {
	u, _ := pgtest.NewSchema(t)
	for _, want := range []string{"users:  13 created, 0 updated, 0 unchanged, 0 skipped", "users:  0 created, 0 updated, 13 unchanged, 0 skipped"} {
		out, err := importCLI(t, "", "--database-url", u, "--token-expiry", "1h", "--dumpdata", djangotest.Path(t, "dumpdata.json"))
		if err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		wantLines(t, out, want)
	}
}

func TestImportDjangoUsage(t *testing.T) {
	dump := djangotest.Path(t, "dumpdata.json")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"import"}, "django"},
		{"other source", []string{"import", "flask"}, `unknown source "flask"`},
		{"no input", []string{"import", "django"}, "one of --dumpdata FILE or --from-db URL"},
		{"two inputs", []string{"import", "django", "--dumpdata", dump, "--from-db", "sqlite:x.db"}, "one of"},
		{"argument", []string{"import", "django", "--dumpdata", dump, "extra"}, "no arguments"},
		{"bad database", []string{"import", "django", "--from-db", "mysql://x"}, "not supported"},
		{"negative expiry", []string{"import", "django", "--dumpdata", dump, "--token-expiry", "-1h"}, "token-expiry"},
		{"bad user model", []string{"import", "django", "--dumpdata", dump, "--user-model", "users"}, "user-model"},
		{"unknown flag", []string{"import", "django", "--dumpdata", dump, "--frob"}, "frob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, envOf("LATCHKEY_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "l.db")), strings.NewReader(""), &out, &out)
			if exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v (exit %d), want a usage error with %q", tc.args, err, exitCode(err), tc.want)
			}
		})
	}
	// A file that is not there is not a usage error, and writes nothing.
	path := filepath.Join(t.TempDir(), "l.db")
	err := run(t.Context(), []string{"import", "django", "--dumpdata", "/nonexistent.json", "--database-url", "sqlite:" + path},
		envOf(), strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("missing dump: %v, want exit 1 and nothing written", err)
	}
}

// TestEndToEndImportDjango imports with the built binary, then serves the
// result: users log in with their Django passwords, and clients keep
// their DRF tokens in the Token scheme.
func TestEndToEndImportDjango(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	fixtures := djangotest.Users(t)
	env := dbEnv(t)
	out, err := cli(t, env, "", "import", "django", "--dumpdata", djangotest.Path(t, "dumpdata.json"), "--token-expiry", "720h")
	if err != nil || !strings.Contains(out, "users:  13 created") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	p := serve(t, env)
	if tok := p.login(t, "judy", *fixtures["judy"].Password); !strings.HasPrefix(tok, "lk_") {
		t.Fatalf("login token %q", tok)
	}
	for _, name := range []string{"alice", "bob", "judy", "leo"} {
		req, _ := http.NewRequest("GET", p.url+"/v1/me", nil)
		req.Header.Set("Authorization", "Token "+*fixtures[name].Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		p.openapi(t).Check(t, req, res.StatusCode, res.Header, b)
		want := 200
		if !fixtures[name].Active {
			want = 401
		}
		if res.StatusCode != want {
			t.Errorf("GET /v1/me with %s's DRF token: %d, want %d", name, res.StatusCode, want)
		}
	}
	for _, secret := range []string{*fixtures["judy"].Password, *fixtures["alice"].Token} {
		if strings.Contains(p.output()+out, secret) {
			t.Error("a secret reached the output")
		}
	}
}
