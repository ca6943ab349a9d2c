package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/verify"
)

// TestEndToEndVerifier runs latchkey serve and, beside it, a verifier
// given the same environment, which verify.FromEnv reads as serve does:
// it accepts the tokens serve issues, and refuses one as soon as a logout
// on serve, or latchkey user disable, has returned, since both wait for
// the verifier's reader record; once the verifier is closed, a logout
// waits for nobody.
func TestEndToEndVerifier(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"SQLite", func(t *testing.T) []string {
			return append(dbEnv(t), "LATCHKEY_TOKEN_IDLE_TIMEOUT=1h", "LATCHKEY_SYNC_INTERVAL=20ms")
		}},
		{"PostgreSQL and Redis", func(t *testing.T) []string {
			u, _ := pgtest.NewSchema(t)
			redistest.URL(t) // the shared Redis's variable enables the Redis tests
			return []string{"LATCHKEY_DATABASE_URL=" + u, "LATCHKEY_CACHE_URL=" + redistest.StartServer(t).URL(), "LATCHKEY_TOKEN_IDLE_TIMEOUT=1h"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			env := tc.env(t)
			addUser(t, env, "alice")
			p := serve(t, env)
			var kv []string
			for _, e := range env {
				k, v, _ := strings.Cut(e, "=")
				kv = append(kv, k, v)
			}
			cfg, err := verify.FromEnv(envOf(kv...))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.IdleTimeout != time.Hour {
				t.Fatalf("the verifier's idle timeout is %v, want serve's, 1h", cfg.IdleTimeout)
			}
			v, err := verify.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()

			tok := p.login(t, "alice", e2ePassword)
			if id, err := v.Verify(ctx, tok); err != nil || id.Username != "alice" || id.Email != "alice@example.com" {
				t.Fatalf("Verify: %+v, %v", id, err)
			}
			start := time.Now()
			if st, m := p.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
				t.Fatalf("logout: %d %v", st, m)
			}
			waited := time.Since(start)
			if _, err := v.Verify(ctx, tok); !errors.Is(err, latchkey.ErrInvalidToken) {
				t.Fatalf("the verifier answers %v once the logout returned", err)
			}

			tok = p.login(t, "alice", e2ePassword)
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if out, err := cli(t, env, "", "user", "disable", "alice"); err != nil {
				t.Fatalf("user disable: %v\n%s", err, out)
			}
			if _, err := v.Verify(ctx, tok); !errors.Is(err, latchkey.ErrInvalidToken) {
				t.Fatalf("the verifier answers %v once user disable returned", err)
			}

			if out, err := cli(t, env, "", "user", "enable", "alice"); err != nil {
				t.Fatalf("user enable: %v\n%s", err, out)
			}
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			tok = p.login(t, "alice", e2ePassword)
			start = time.Now()
			if st, m := p.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
				t.Fatalf("logout: %d %v", st, m)
			}
			t.Logf("a logout answered in %v with the verifier running, in %v once it closed", waited.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		})
	}
}
