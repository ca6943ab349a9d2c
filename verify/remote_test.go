package verify_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/verify"
)

// counted serves h on a free port, counting the requests and the
// connections it takes.
type counted struct {
	*httptest.Server
	requests, conns atomic.Int64
}

func serveCounted(t testing.TB, h http.Handler) *counted {
	t.Helper()
	c := &counted{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

// remoteFixture is a node on SQLite, served through a counted server,
// with alice, and the service client billing of introspection.
type remoteFixture struct {
	n      *node
	srv    *counted
	secret string
	cfg    verify.Config
}

func newRemoteFixture(t testing.TB, cfg verify.Config) *remoteFixture {
	t.Helper()
	n := startNode(t, cfg)
	n.addUser(t, "alice")
	_, secret, err := n.auth.AddServiceClient(context.Background(), "billing")
	if err != nil {
		t.Fatal(err)
	}
	return &remoteFixture{n: n, srv: serveCounted(t, n.api), secret: secret.Reveal(), cfg: cfg}
}

// remote returns a Remote on f's server, in mode, with rc's other
// settings, closed when t ends.
func (f *remoteFixture) remote(t testing.TB, mode verify.Mode, rc verify.RemoteConfig) *verify.Remote {
	t.Helper()
	rc.URL, rc.Mode = f.srv.URL, mode
	if mode == verify.Introspect && rc.ClientID == "" {
		rc.ClientID, rc.ClientSecret = "billing", f.secret
	}
	r, err := verify.NewRemote(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

var modes = []verify.Mode{verify.ForwardAuth, verify.Introspect}

// TestRemote asks a node's /v1/forward-auth and /v1/introspect: the
// identity of a valid token is the in-process verifier's, every other
// token is refused, a token that cannot be one costs no request, and
// every check asks (no MaxCache).
func TestRemote(t *testing.T) {
	cfg, _ := deployments[0].setUp(t)
	f := newRemoteFixture(t, cfg)
	f.n.addUser(t, "bob")
	v := open(t, cfg)
	ctx := t.Context()
	tok, revoked, bobs := f.n.login(t, "alice"), f.n.login(t, "alice"), f.n.login(t, "bob")
	want, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	want.ExpiresAt = want.ExpiresAt.Truncate(time.Second)
	f.n.logout(t, revoked)
	if err := f.n.auth.SetUserActive(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			r := f.remote(t, mode, verify.RemoteConfig{})
			before := f.srv.requests.Load()
			for range 3 {
				id, err := r.Verify(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				if !id.ExpiresAt.Equal(want.ExpiresAt) {
					t.Fatalf("expires at %v, want %v", id.ExpiresAt, want.ExpiresAt)
				}
				id.ExpiresAt = want.ExpiresAt
				if id != want {
					t.Fatalf("identity %+v, want the verifier's %+v", id, want)
				}
			}
			if n := f.srv.requests.Load() - before; n != 3 {
				t.Fatalf("3 checks made %d requests, want 3 (no MaxCache)", n)
			}
			for name, token := range map[string]string{"revoked": revoked, "disabled user": bobs, "unknown": "lk_" + strings.Repeat("A", 43)} {
				if _, err := r.Verify(ctx, token); !errors.Is(err, latchkey.ErrInvalidToken) {
					t.Errorf("%s: %v, want invalid_token", name, err)
				}
			}
			before = f.srv.requests.Load()
			for _, token := range []string{"", "lk_a b", "lk_\r\nX-Latchkey-User-Id: 1", strings.Repeat("x", 300)} {
				if _, err := r.Verify(ctx, token); !errors.Is(err, latchkey.ErrInvalidToken) {
					t.Errorf("%q: %v, want invalid_token", token, err)
				}
			}
			if n := f.srv.requests.Load() - before; n != 0 {
				t.Fatalf("tokens that cannot be ones made %d requests", n)
			}

			var seen verify.Identity
			h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				seen, _ = verify.FromContext(req.Context())
			}))
			if a := call(t, h, "GET", "/", tok, nil); a.status != http.StatusOK || seen.Username != "alice" {
				t.Fatalf("middleware, valid token: %d %s, identity %+v", a.status, a.body, seen)
			}
			mw, node := call(t, h, "GET", "/", revoked, nil), f.n.me(t, revoked)
			if mw.status != node.status || string(mw.body) != string(node.body) || mw.header.Get("WWW-Authenticate") != node.header.Get("WWW-Authenticate") {
				t.Fatalf("middleware, revoked token: %d %s; node: %d %s", mw.status, mw.body, node.status, node.body)
			}
		})
	}
}

// TestRemoteExpired lets a token idle out on the node: forward auth says
// it expired, introspection that it is not active.
func TestRemoteExpired(t *testing.T) {
	cfg, _ := deployments[0].setUp(t)
	cfg.IdleTimeout = time.Second
	f := newRemoteFixture(t, cfg)
	tok := f.n.login(t, "alice")
	time.Sleep(1500 * time.Millisecond)
	for mode, want := range map[verify.Mode]error{verify.ForwardAuth: latchkey.ErrTokenExpired, verify.Introspect: latchkey.ErrInvalidToken} {
		if _, err := f.remote(t, mode, verify.RemoteConfig{}).Verify(t.Context(), tok); !errors.Is(err, want) {
			t.Errorf("%v: %v, want %v", mode, err, want)
		}
	}
}

// TestRemoteFailsClosed asks servers that do not give latchkey's answers:
// each check fails as unavailable, and the middleware answers 503 with
// Retry-After.
func TestRemoteFailsClosed(t *testing.T) {
	cfg, _ := deployments[0].setUp(t)
	f := newRemoteFixture(t, cfg)
	tok := f.n.login(t, "alice")
	elsewhere := serveCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	release := make(chan struct{})
	defer close(release) // before the servers' cleanups, which wait for their handlers
	fake := func(h http.HandlerFunc) string { return serveCounted(t, h).URL }
	for _, tc := range []struct {
		name       string
		url        string
		modes      []verify.Mode
		rc         verify.RemoteConfig
		retryAfter string
		cause      error
	}{
		{name: "503", url: fake(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
		}), modes: modes, retryAfter: "7"},
		{name: "429", url: fake(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		}), modes: modes, retryAfter: "30"},
		{name: "500", url: fake(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }), modes: modes, retryAfter: "1"},
		{name: "404", url: fake(http.NotFound), modes: modes, retryAfter: "1"},
		{name: "a redirect, not followed", url: fake(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL, http.StatusFound)
		}), modes: modes, retryAfter: "1"},
		{name: "200 of something else", url: fake(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"active":true,"ok":true}`))
		}), modes: modes, retryAfter: "1"},
		{name: "active without a user", url: fake(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"active":true,"sub":"","username":"alice","exp":1}`))
		}), modes: []verify.Mode{verify.Introspect}, retryAfter: "1"},
		{name: "too slow", url: fake(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}), modes: modes, rc: verify.RemoteConfig{Timeout: 50 * time.Millisecond}, retryAfter: "1", cause: context.DeadlineExceeded},
		{name: "nobody listening", url: gone.URL, modes: modes, retryAfter: "1"},
		{name: "wrong client secret", url: f.srv.URL, modes: []verify.Mode{verify.Introspect},
			rc: verify.RemoteConfig{ClientID: "billing", ClientSecret: "lkc_wrong"}, retryAfter: "1"},
		{name: "unknown client", url: f.srv.URL, modes: []verify.Mode{verify.Introspect},
			rc: verify.RemoteConfig{ClientID: "nobody", ClientSecret: f.secret}, retryAfter: "1"},
	} {
		for _, mode := range tc.modes {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				rc := tc.rc
				rc.URL, rc.Mode = tc.url, mode
				if mode == verify.Introspect && rc.ClientID == "" {
					rc.ClientID, rc.ClientSecret = "billing", f.secret
				}
				r, err := verify.NewRemote(rc)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				_, err = r.Verify(t.Context(), tok)
				if latchkey.ErrorKind(err) != latchkey.KindUnavailable || tc.cause != nil && !errors.Is(err, tc.cause) {
					t.Fatalf("Verify: %v, want unavailable (%v)", err, tc.cause)
				}
				h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					t.Error("let through")
				}))
				a := call(t, h, "GET", "/", tok, nil)
				if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != tc.retryAfter || a.json(t)["code"] != "unavailable" {
					t.Fatalf("middleware: %d %v %s, want 503 unavailable, Retry-After %s", a.status, a.header, a.body, tc.retryAfter)
				}
			})
		}
	}
	if n := elsewhere.requests.Load(); n != 0 {
		t.Fatalf("a redirect was followed %d times", n)
	}
}

// TestRemoteMaxCache keeps positive answers for 300ms: a check within
// them asks nothing, a token revoked meanwhile is accepted no longer than
// that after the request that said it was valid, and refusals are never
// kept.
func TestRemoteMaxCache(t *testing.T) {
	cfg, _ := deployments[0].setUp(t)
	f := newRemoteFixture(t, cfg)
	ctx := t.Context()
	const maxCache = 300 * time.Millisecond
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			r := f.remote(t, mode, verify.RemoteConfig{MaxCache: maxCache})
			tok := f.n.login(t, "alice")
			before := f.srv.requests.Load()
			var asked time.Time // when the first check, which asked, returned
			for i := range 5 {
				if _, err := r.Verify(ctx, tok); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					asked = time.Now()
				}
			}
			if n := f.srv.requests.Load() - before; n != 1 {
				t.Fatalf("5 checks within MaxCache made %d requests, want 1", n)
			}
			f.n.logout(t, tok)
			var lastOK time.Time
			for {
				now := time.Now()
				_, err := r.Verify(ctx, tok)
				if errors.Is(err, latchkey.ErrInvalidToken) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				lastOK = now
				if now.Sub(asked) > 5*time.Second {
					t.Fatal("a revoked token is still accepted 5s on")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if lastOK.Sub(asked) >= maxCache {
				t.Fatalf("a revoked token was accepted %v after the server last said it was valid, MaxCache %v", lastOK.Sub(asked), maxCache)
			}
			t.Logf("MaxCache %v: the revoked token was accepted until %v after the request that said it was valid", maxCache, ms(lastOK.Sub(asked)))
			before = f.srv.requests.Load()
			for range 3 {
				if _, err := r.Verify(ctx, tok); !errors.Is(err, latchkey.ErrInvalidToken) {
					t.Fatal(err)
				}
			}
			if n := f.srv.requests.Load() - before; n != 3 {
				t.Fatalf("3 checks of a refused token made %d requests, want 3: refusals are not kept", n)
			}
		})
	}
}

// TestRemoteRefusalSpoilsAnswerInFlight: a positive answer that was on its
// way when the server refused the token is given to its caller, and not
// kept for the next.
func TestRemoteRefusalSpoilsAnswerInFlight(t *testing.T) {
	var n atomic.Int64
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := serveCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-release
			h := w.Header()
			h.Set("X-Latchkey-User-Id", "7")
			h.Set("X-Latchkey-Username", "alice")
			h.Set("X-Latchkey-Session-Id", "s1")
			h.Set("X-Latchkey-Expires-At", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"code":"invalid_token","detail":"Invalid token."}`))
	}))
	r, err := verify.NewRemote(verify.RemoteConfig{URL: srv.URL, MaxCache: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tok := "lk_" + strings.Repeat("A", 43)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := r.Verify(t.Context(), tok); err != nil {
			t.Errorf("the first check: %v", err)
		}
	})
	<-arrived
	if _, err := r.Verify(t.Context(), tok); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Fatalf("the second check: %v", err)
	}
	close(release)
	wg.Wait()
	if _, err := r.Verify(t.Context(), tok); !errors.Is(err, latchkey.ErrInvalidToken) {
		t.Fatalf("the third check: %v, want the server's refusal, not the first answer kept", err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d requests, want 3", n.Load())
	}
}

// TestRemoteKeepAlive checks from several goroutines at once: the checks
// share a few connections, kept alive, rather than one each.
func TestRemoteKeepAlive(t *testing.T) {
	cfg, _ := deployments[0].setUp(t)
	f := newRemoteFixture(t, cfg)
	tok := f.n.login(t, "alice")
	const workers, each = 4, 50
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			r := f.remote(t, mode, verify.RemoteConfig{})
			before := f.srv.conns.Load()
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						if _, err := r.Verify(t.Context(), tok); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			// A check that finds every connection busy dials one, and
			// takes the first that comes, dialed or freed: a few more
			// than the goroutines may open, but not one per check.
			if n := f.srv.conns.Load() - before; n > 2*workers {
				t.Fatalf("%d checks from %d goroutines opened %d connections", workers*each, workers, n)
			}
		})
	}
}

func TestNewRemoteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		rc   verify.RemoteConfig
		want string
	}{
		{"no URL", verify.RemoteConfig{}, "remote URL"},
		{"not http", verify.RemoteConfig{URL: "ftp://auth"}, "remote URL"},
		{"credentials in the URL", verify.RemoteConfig{URL: "https://billing:secret@auth"}, "without credentials"},
		{"introspection without a client", verify.RemoteConfig{URL: "https://auth", Mode: verify.Introspect}, "ClientID and ClientSecret"},
		{"unknown mode", verify.RemoteConfig{URL: "https://auth", Mode: 9}, "Mode(9)"},
		{"negative MaxCache", verify.RemoteConfig{URL: "https://auth", MaxCache: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.NewRemote(tc.rc)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("NewRemote: %v, want %q", err, tc.want)
			}
		})
	}
}
