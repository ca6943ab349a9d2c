package verify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/verify"
)

// TestVerify checks tokens a node issued: the valid one's identity is
// /v1/me's user, and every other is refused as the node refuses it.
func TestVerify(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, cfg verify.Config, _ func()) {
		ctx := t.Context()
		n := startNode(t, cfg)
		n.addUser(t, "alice")
		n.addUser(t, "bob")
		v := open(t, cfg)

		tok := n.login(t, "alice")
		me := n.me(t, tok).json(t)
		for range 2 { // a miss, then a hit
			id, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(id.UserID) != fmt.Sprint(me["id"]) || id.Username != "alice" || id.Email != "alice@example.com" || id.SessionID == "" || time.Until(id.ExpiresAt) < 23*time.Hour {
				t.Fatalf("identity %+v, want /v1/me's %v", id, me)
			}
		}

		bobs := n.login(t, "bob")
		if _, err := v.Verify(ctx, bobs); err != nil {
			t.Fatal(err)
		}
		if err := n.auth.SetUserActive(ctx, "bob", false); err != nil {
			t.Fatal(err)
		}
		revoked := n.login(t, "alice")
		if _, err := v.Verify(ctx, revoked); err != nil {
			t.Fatal(err)
		}
		n.logout(t, revoked)
		for _, tc := range []struct {
			name, token string
		}{
			{"unknown", "lk_" + strings.Repeat("A", 43)},
			{"malformed", "lk_ not a token"},
			{"empty", ""},
			{"revoked", revoked},
			{"disabled user", bobs},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := v.Verify(ctx, tc.token); !errors.Is(err, latchkey.ErrInvalidToken) {
					t.Fatalf("Verify: %v, want invalid_token", err)
				}
			})
		}
		if err := v.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRevocationReachesVerifier revokes a token on a node, again and
// again, and polls a verifier and another node for it meanwhile: the
// verifier refuses it as soon as the other node does, and in any case
// before the revocation answers. It logs how long each took.
func TestRevocationReachesVerifier(t *testing.T) {
	const rounds = 15
	forEachDeployment(t, func(t *testing.T, cfg verify.Config, _ func()) {
		ctx := t.Context()
		n1 := startNode(t, cfg)
		n2 := startNode(t, cfg)
		n1.addUser(t, "alice")
		v := open(t, cfg)

		var ver, other, answered []time.Duration
		for range rounds {
			tok := n1.login(t, "alice")
			checks := map[string]func() error{
				"verifier":   func() error { _, err := v.Verify(ctx, tok); return err },
				"other node": func() error { _, err := n2.auth.Authenticate(ctx, tok); return err },
			}
			for name, check := range checks {
				if err := check(); err != nil { // cached from here
					t.Fatalf("%s: %v", name, err)
				}
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				refused = map[string]time.Time{}
			)
			stop := make(chan struct{})
			for name, check := range checks {
				wg.Go(func() {
					for {
						err := check()
						now := time.Now()
						if errors.Is(err, latchkey.ErrInvalidToken) {
							mu.Lock()
							refused[name] = now
							mu.Unlock()
							return
						}
						if err != nil {
							t.Errorf("%s: %v", name, err)
							return
						}
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Microsecond):
						}
					}
				})
			}
			start := time.Now()
			n1.logout(t, tok)
			end := time.Now()
			// No stale answer once the revocation has answered.
			if _, err := v.Verify(ctx, tok); !errors.Is(err, latchkey.ErrInvalidToken) {
				t.Fatalf("the verifier answers %v once the logout answered", err)
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				close(stop)
				<-done
				t.Fatalf("not refused 5s after the logout: %v", refused)
			}
			ver = append(ver, refused["verifier"].Sub(start))
			other = append(other, refused["other node"].Sub(start))
			answered = append(answered, end.Sub(start))
		}
		t.Logf("%d rounds, from the logout request to the first refusal: verifier p50 %s, max %s; another node p50 %s, max %s; the logout answered after p50 %s, max %s",
			rounds, ms(median(ver)), ms(slices.Max(ver)), ms(median(other)), ms(slices.Max(other)), ms(median(answered)), ms(slices.Max(answered)))
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestFailClosed takes the database away from under a verifier: it
// serves its cached token for at most the lease (CacheMaxStaleness) after
// its last read of the change feed, then refuses every token as
// unavailable, and its middleware answers 503 with Retry-After.
func TestFailClosed(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, cfg verify.Config, lose func()) {
		ctx := t.Context()
		n := startNode(t, cfg)
		n.addUser(t, "alice")
		v := open(t, cfg)
		tok := n.login(t, "alice")
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		const lease = 250 * time.Millisecond // the default CacheMaxStaleness
		lose()
		// Every read of the change feed that succeeded started before
		// now: the lease ends before now plus its length.
		lost := time.Now()
		var (
			lastOK      time.Time
			unavailable time.Duration
		)
		for deadline := lost.Add(10 * time.Second); ; {
			asked := time.Now()
			_, err := v.Verify(ctx, tok)
			if err == nil {
				lastOK = asked
			} else if latchkey.ErrorKind(err) == latchkey.KindUnavailable {
				unavailable = time.Since(lost)
				break
			} else {
				t.Fatalf("Verify: %v, want unavailable", err)
			}
			if asked.After(deadline) {
				t.Fatal("the cached token is still served 10s after the database went away")
			}
			time.Sleep(time.Millisecond)
		}
		if !lastOK.IsZero() && lastOK.Sub(lost) >= lease {
			t.Fatalf("the cached token was served %v after the database went away, past the lease of %v", lastOK.Sub(lost), lease)
		}
		t.Logf("served from the cache until %v after the database went away; unavailable after %v", ms(max(0, lastOK.Sub(lost))), ms(unavailable))

		h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("the middleware let a request through without its database")
		}))
		a := call(t, h, "GET", "/", tok, nil)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" || a.json(t)["code"] != "unavailable" {
			t.Fatalf("middleware: %d %v %s, want 503 unavailable with Retry-After", a.status, a.header, a.body)
		}
	})
}

// TestIdleTimeout uses one token through the verifier only, and leaves
// another unused, with an idle timeout of 1s on the node and the verifier
// alike: the unused one expires, on both; the used one lives on, on both,
// since the verifier records its uses in the database.
func TestIdleTimeout(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, cfg verify.Config, _ func()) {
		ctx := t.Context()
		cfg.IdleTimeout = time.Second
		n := startNode(t, cfg)
		n.addUser(t, "alice")
		v := open(t, cfg)
		used, unused := n.login(t, "alice"), n.login(t, "alice")
		for _, tok := range []string{used, unused} {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if _, err := v.Verify(ctx, used); err != nil {
				t.Fatalf("a token used every 200ms: %v", err)
			}
		}
		if _, err := v.Verify(ctx, unused); !errors.Is(err, latchkey.ErrTokenExpired) {
			t.Fatalf("a token unused for 2.5s, through the verifier: %v, want token_expired", err)
		}
		if a := n.me(t, unused); a.status != http.StatusUnauthorized || a.json(t)["code"] != "token_expired" {
			t.Fatalf("a token unused for 2.5s, on the node: %d %s", a.status, a.body)
		}
		if a := n.me(t, used); a.status != http.StatusOK {
			t.Fatalf("a token used through the verifier every 200ms, on the node: %d %s", a.status, a.body)
		}
	})
}

// TestMiddleware holds the middleware to the node's answers: the same
// refusals, byte for byte, as GET /v1/me, and a valid token's identity in
// the context of the handler behind it.
func TestMiddleware(t *testing.T) {
	cfg, _ := deployments[0].setUp(t)
	n := startNode(t, cfg)
	n.addUser(t, "alice")
	v := open(t, cfg)
	var seen []verify.Identity
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := verify.FromContext(r.Context())
		if !ok {
			t.Error("no identity in the context")
		}
		seen = append(seen, id)
		w.WriteHeader(http.StatusTeapot)
	}))
	tok, revoked := n.login(t, "alice"), n.login(t, "alice")
	n.logout(t, revoked)

	if a := call(t, h, "GET", "/anything", tok, nil); a.status != http.StatusTeapot || len(seen) != 1 || seen[0].Username != "alice" {
		t.Fatalf("valid token: %d %s, identities %+v", a.status, a.body, seen)
	}
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no header", nil},
		{"another scheme", []string{"Basic YWxpY2U6c2VjcmV0"}},
		{"no token", []string{"Bearer"}},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}},
		{"malformed", []string{"Bearer lk_a b"}},
		{"unknown", []string{"Bearer lk_" + strings.Repeat("A", 43)}},
		{"revoked", []string{"Token " + revoked}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]answer
			for i, target := range []string{n.url + "/v1/me", "/v1/me"} {
				var h2 http.Handler
				if i == 1 {
					h2 = h
				}
				req, _ := http.NewRequest("GET", target, nil)
				req.Header["Authorization"] = tc.header
				got[i] = do(t, h2, req)
			}
			node, mw := got[0], got[1]
			if node.status != mw.status || string(node.body) != string(mw.body) {
				t.Fatalf("node: %d %s; middleware: %d %s", node.status, node.body, mw.status, mw.body)
			}
			for _, k := range []string{"WWW-Authenticate", "Content-Type", "X-Content-Type-Options"} {
				if node.header.Get(k) != mw.header.Get(k) {
					t.Errorf("%s: node %q, middleware %q", k, node.header.Get(k), mw.header.Get(k))
				}
			}
		})
	}
	if len(seen) != 1 {
		t.Fatalf("the handler ran %d times", len(seen))
	}
	if _, ok := verify.FromContext(context.Background()); ok {
		t.Fatal("an identity in a context without one")
	}
}

// TestFromEnv reads the servers' variables, with their rules and their
// messages.
func TestFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	c, err := verify.FromEnv(env())
	if err != nil {
		t.Fatal(err)
	}
	want := verify.Config{DatabaseURL: "sqlite:latchkey.db", CacheURL: "memory", CacheMaxEntries: 1_000_000,
		CacheMaxStaleness: 250 * time.Millisecond, SyncInterval: 50 * time.Millisecond}
	if c != want {
		t.Fatalf("defaults: %+v, want %+v", c, want)
	}
	c, err = verify.FromEnv(env(
		"LATCHKEY_DATABASE_URL", "postgres://db/x", "LATCHKEY_CACHE_URL", "redis://cache:6379/1",
		"LATCHKEY_TOKEN_IDLE_TIMEOUT", "15m", "LATCHKEY_CACHE_MAX_ENTRIES", "5000",
		"LATCHKEY_CACHE_MAX_STALENESS", "1s", "LATCHKEY_SYNC_INTERVAL", "100ms",
		"LATCHKEY_TOKEN_TTL", "not read", "LATCHKEY_ADDR", "not read"))
	want = verify.Config{DatabaseURL: "postgres://db/x", CacheURL: "redis://cache:6379/1", IdleTimeout: 15 * time.Minute,
		CacheMaxEntries: 5000, CacheMaxStaleness: time.Second, SyncInterval: 100 * time.Millisecond}
	if err != nil || c != want {
		t.Fatalf("%+v, %v; want %+v", c, err, want)
	}
	for _, tc := range []struct {
		env  []string
		want string // as latchkey serve says it
	}{
		{[]string{"LATCHKEY_CACHE_MAX_STALENESS", "2h"}, "cache-max-staleness (from LATCHKEY_CACHE_MAX_STALENESS): must be a Go duration from 10ms to 1h"},
		{[]string{"LATCHKEY_SYNC_INTERVAL", "0"}, "sync-interval (from LATCHKEY_SYNC_INTERVAL): must be a Go duration from 1ms to 1m"},
		{[]string{"LATCHKEY_TOKEN_IDLE_TIMEOUT", "500ms"}, "token-idle-timeout (from LATCHKEY_TOKEN_IDLE_TIMEOUT): must be 0 (off) or a Go duration from 1s to 87600h (10 years)"},
		{[]string{"LATCHKEY_CACHE_MAX_ENTRIES", "many"}, "cache-max-entries (from LATCHKEY_CACHE_MAX_ENTRIES): must be a whole number"},
	} {
		if _, err := verify.FromEnv(env(tc.env...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

// TestOpenRefuses opens verifiers on settings that serve refuses, or on a
// database no server made: each fails, saying why.
func TestOpenRefuses(t *testing.T) {
	missing := "sqlite:" + t.TempDir() + "/none.db"
	for _, tc := range []struct {
		name string
		cfg  verify.Config
		want string
	}{
		{"sync not under the lease", verify.Config{DatabaseURL: missing, SyncInterval: time.Second}, "sync-interval must be under cache-max-staleness"},
		{"lease too long", verify.Config{DatabaseURL: missing, CacheMaxStaleness: 2 * time.Hour}, "cache-max-staleness 2h0m0s: must be a Go duration from 10ms to 1h"},
		{"negative entries", verify.Config{DatabaseURL: missing, CacheMaxEntries: -1}, "cache-max-entries must be at least 1"},
		{"unknown database", verify.Config{DatabaseURL: "mysql://u:secret@db/x"}, `database-url "mysql://u:xxxxx@db/x" is not supported`},
		{"unknown cache", verify.Config{DatabaseURL: missing, CacheURL: "memcached://cache"}, `cache-url "memcached://cache"`},
		{"no database yet", verify.Config{DatabaseURL: missing}, "does not exist: run latchkey migrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.Open(t.Context(), tc.cfg)
			if err == nil {
				v.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("Open: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLeastPrivilege runs a verifier as a PostgreSQL role that may only
// read, write its reader record and the sessions' last use: the grants the
// README gives. It checks, follows a revocation, records uses and closes
// without a warning or an error in its log.
func TestLeastPrivilege(t *testing.T) {
	server := pgtest.ServerURL(t)
	db, schema := pgtest.NewSchema(t)
	redistest.URL(t)
	cfg := verify.Config{DatabaseURL: db, CacheURL: redistest.StartServer(t).URL(), IdleTimeout: time.Second}
	n := startNode(t, cfg)
	n.addUser(t, "alice")

	var b [18]byte
	rand.Read(b[:])
	role, secret := "latchkey_verifier_"+hex.EncodeToString(b[:6]), hex.EncodeToString(b[6:])
	pgtest.Admin(t, server, "CREATE ROLE "+role+" LOGIN PASSWORD '"+secret+"'")
	t.Cleanup(func() {
		pgtest.Admin(t, server, "DROP OWNED BY "+role)
		pgtest.Admin(t, server, "DROP ROLE "+role)
	})
	for _, grant := range []string{
		"GRANT USAGE ON SCHEMA %[1]s TO %[2]s",
		"GRANT SELECT ON %[1]s.users, %[1]s.sessions, %[1]s.changes, %[1]s.changes_pruned TO %[2]s",
		"GRANT UPDATE (last_used_at) ON %[1]s.sessions TO %[2]s",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON %[1]s.readers TO %[2]s",
	} {
		pgtest.Admin(t, server, fmt.Sprintf(grant, schema, role))
	}
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, secret)
	vcfg := cfg
	vcfg.DatabaseURL = u.String()
	var logs strings.Builder
	var logMu sync.Mutex
	vcfg.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelWarn}))
	v, err := verify.Open(t.Context(), vcfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, revoked := n.login(t, "alice"), n.login(t, "alice")
	for range 5 {
		for _, tk := range []string{tok, revoked} {
			if _, err := v.Verify(t.Context(), tk); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	n.logout(t, revoked)
	if _, err := v.Verify(t.Context(), revoked); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Fatalf("revoked: %v", err)
	}
	if a := n.me(t, tok); a.status != http.StatusOK {
		t.Fatalf("a token used through the verifier for 1s, idle timeout 1s, on the node: %d %s", a.status, a.body)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if logs.Len() > 0 {
		t.Fatalf("the verifier logged:\n%s", logs.String())
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
