package verify_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/verify"
)

// A deployment is the servers' database and cache, as a test sets them
// up: the settings that the servers and the verifier share, and a way to
// make the database go away.
type deployment struct {
	name string
	// setUp returns the settings, and a function that removes the
	// database's tables, as a database lost would.
	setUp func(t testing.TB) (verify.Config, func())
}

var deployments = []deployment{
	{"SQLite", func(t testing.TB) (verify.Config, func()) {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		return verify.Config{DatabaseURL: "sqlite:" + path}, func() {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, table := range []string{"changes", "sessions"} {
				if _, err := db.Exec("DROP TABLE " + table); err != nil {
					t.Fatal(err)
				}
			}
		}
	}},
	{"PostgreSQL and Redis", func(t testing.TB) (verify.Config, func()) {
		db, schema := pgtest.NewSchema(t)
		redistest.URL(t) // the shared Redis's variable enables the Redis tests
		cfg := verify.Config{DatabaseURL: db, CacheURL: redistest.StartServer(t).URL()}
		return cfg, func() {
			server := pgtest.ServerURL(t)
			pgtest.Admin(t, server, "DROP SCHEMA "+schema+" CASCADE")
			pgtest.Admin(t, server, "CREATE SCHEMA "+schema) // for the cleanup, which drops it
		}
	}},
}

// forEachDeployment runs test on every deployment.
func forEachDeployment(t *testing.T, test func(t *testing.T, cfg verify.Config, lose func())) {
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			cfg, lose := d.setUp(t)
			test(t, cfg, lose)
		})
	}
}

const pw = latchkey.Password("correct horse battery staple")

// node is a latchkey server in the test's process, as latchkey serve
// builds it: its own store and cache, opened from cfg through
// internal/dial, an Authenticator with the same settings, its background
// work, and the API on a free port.
type node struct {
	auth *latchkey.Authenticator
	api  http.Handler // its API, which url serves
	url  string
}

// startNode starts a node on cfg's database, migrating it.
func startNode(t testing.TB, cfg verify.Config) *node {
	t.Helper()
	ctx := context.Background()
	db, err := dial.ParseDatabaseURL("database-url", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := dial.OpenStore(ctx, db, true)
	if err != nil {
		t.Fatal(err)
	}
	cacheURL := cfg.CacheURL
	if cacheURL == "" {
		cacheURL = dial.Memory
	}
	cache, err := dial.OpenCache(ctx, cacheURL, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	hasher := password.New(password.Options{Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	a := latchkey.NewAuthenticator(st, cache.Tokens, hasher, latchkey.Options{
		IdleTimeout:  cfg.IdleTimeout,
		SyncInterval: cfg.SyncInterval,
		MaxStaleness: cfg.CacheMaxStaleness,
	})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Run(bg); close(done) }()
	h := api.NewServer(a, api.Options{})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		stop()
		<-done
		cache.Close()
		st.Close()
	})
	return &node{auth: a, api: h, url: srv.URL}
}

// addUser adds a user, unless it exists.
func (n *node) addUser(t testing.TB, name string) {
	t.Helper()
	_, err := n.auth.AddUser(context.Background(), latchkey.NewUser{Username: name, Email: name + "@example.com"}, pw)
	if err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
}

// answer is an HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("%d %q: %v", a.status, a.body, err)
	}
	return m
}

// call sends a request with the token to h, or, when h is nil, to the
// absolute url.
func call(t testing.TB, h http.Handler, method, url, token string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, h, req)
}

// do sends req to h, or, when h is nil, over HTTP.
func do(t testing.TB, h http.Handler, req *http.Request) answer {
	t.Helper()
	if h != nil {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return answer{rec.Code, rec.Header(), rec.Body.Bytes()}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

// login logs name in on the node, over HTTP, and returns the token.
func (n *node) login(t testing.TB, name string) string {
	t.Helper()
	a := call(t, nil, "POST", n.url+"/v1/login", "", map[string]string{"username": name, "password": string(pw)})
	if a.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", name, a.status, a.body)
	}
	return a.json(t)["token"].(string)
}

// logout revokes the token on the node, over HTTP.
func (n *node) logout(t testing.TB, token string) {
	t.Helper()
	if a := call(t, nil, "POST", n.url+"/v1/logout", token, nil); a.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", a.status, a.body)
	}
}

// me is GET /v1/me on the node.
func (n *node) me(t testing.TB, token string) answer {
	t.Helper()
	return call(t, nil, "GET", n.url+"/v1/me", token, nil)
}

// open opens a Verifier on cfg, closed when t ends.
func open(t testing.TB, cfg verify.Config) *verify.Verifier {
	t.Helper()
	v, err := verify.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A test that took the database away gets an error here; the
		// Close tests look at it.
		if err := v.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	return v
}

// ms rounds d for a log line.
func ms(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
