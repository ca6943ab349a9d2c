package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The proxy tests put nginx and Caddy (proxyrun_test.go) between a client
// and a small application, with latchkey's /v1/forward-auth deciding what
// gets through.

// app is the protected application: it records the headers of each
// request by the X-Test-Case header it carries.
type app struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]http.Header
}

func newApp(tb testing.TB) *app {
	a := &app{seen: map[string]http.Header{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.seen[r.Header.Get("X-Test-Case")] = r.Header.Clone()
		a.mu.Unlock()
		io.WriteString(w, "app: ok\n")
	}))
	tb.Cleanup(a.srv.Close)
	return a
}

// got returns the headers the request of case c came with, and whether
// it came.
func (a *app) got(c string) (http.Header, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.seen[c]
	return h, ok
}

// identityHeaders are the headers of a forward-auth answer.
var identityHeaders = []string{
	"X-Latchkey-User-Id", "X-Latchkey-Username", "X-Latchkey-Email", "X-Latchkey-Session-Id", "X-Latchkey-Expires-At",
	"Remote-User", "Remote-Email", "Remote-Name", "X-Auth-Request-User", "X-Auth-Request-Email",
}

// forged is a client's own copy of every identity header.
func forged() http.Header {
	h := http.Header{}
	for _, k := range identityHeaders {
		h[k] = []string{"forged"}
	}
	h["X-Latchkey-User-Id"] = []string{"1"}
	h["Remote-User"] = []string{"admin"}
	return h
}

// session is a token and the identity the application is to see with it.
type session struct {
	token   string
	expires time.Time
	ident   map[string]string
}

// loginFor logs in on latchkey and returns the token with its identity.
func loginFor(tb testing.TB, p *proc, user string) session {
	tb.Helper()
	st, m := p.call(tb, "POST", "/v1/login", "", map[string]string{"username": user, "password": e2ePassword})
	if st != 200 {
		tb.Fatalf("login %s: %d %v", user, st, m)
	}
	u := m["user"].(map[string]any)
	exp, err := time.Parse(time.RFC3339Nano, m["expires_at"].(string))
	if err != nil {
		tb.Fatal(err)
	}
	name := strings.TrimSpace(u["first_name"].(string) + " " + u["last_name"].(string))
	username, email := u["username"].(string), u["email"].(string)
	return session{token: m["token"].(string), expires: exp, ident: map[string]string{
		"X-Latchkey-User-Id": strconv.FormatInt(int64(u["id"].(float64)), 10), "X-Latchkey-Username": username,
		"X-Latchkey-Email": email, "X-Latchkey-Session-Id": m["session_id"].(string),
		"X-Latchkey-Expires-At": exp.UTC().Format(time.RFC3339),
		"Remote-User":           username, "Remote-Email": email, "Remote-Name": name,
		"X-Auth-Request-User": username, "X-Auth-Request-Email": email,
	}}
}

// proxyCase is one request through the proxy.
type proxyCase struct {
	name   string
	method string
	path   string
	header http.Header
	body   string
}

var proxyClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// send sends c to the proxy at base, tagged with X-Test-Case, and returns
// the status and the body.
func send(tb testing.TB, base string, c proxyCase) (int, string) {
	tb.Helper()
	method, path := c.method, c.path
	if method == "" {
		method = "GET"
	}
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequest(method, base+path, strings.NewReader(c.body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("X-Test-Case", c.name)
	res, err := proxyClient.Do(req)
	if err != nil {
		tb.Fatalf("%s: %v", c.name, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// passes sends c and checks that the application answered it and saw
// exactly want's identity: each header once with its value, or, for an
// empty value, empty or absent, never the client's copy.
func passes(t *testing.T, base string, a *app, c proxyCase, want map[string]string) {
	t.Helper()
	st, body := send(t, base, c)
	if st != 200 || body != "app: ok\n" {
		t.Fatalf("%s: %d %q, want the application's 200", c.name, st, body)
	}
	h, ok := a.got(c.name)
	if !ok {
		t.Fatalf("%s: answered 200 without the application", c.name)
	}
	for _, k := range identityHeaders {
		v := h[k]
		switch {
		case want[k] == "" && (len(v) == 0 || len(v) == 1 && v[0] == ""):
		case len(v) == 1 && v[0] == want[k]:
		default:
			t.Errorf("%s: the application saw %s: %q, want %q", c.name, k, v, want[k])
		}
	}
}

// refused sends c and checks that the proxy answered it with status (any
// status that is not 2xx when status is 0), and that the application
// never saw it.
func refused(t *testing.T, base string, a *app, c proxyCase, status int) {
	t.Helper()
	st, body := send(t, base, c)
	switch {
	case status == 0 && st >= 200 && st < 300:
		t.Errorf("%s: %d %q, want a refusal", c.name, st, body)
	case status == 0:
		t.Logf("%s: refused with %d", c.name, st)
	case st != status:
		t.Errorf("%s: %d %q, want %d", c.name, st, body, status)
	}
	if _, ok := a.got(c.name); ok {
		t.Errorf("%s: the application was reached", c.name)
	}
}

// addProxyUsers adds alice, with an email and a name, and nobody, with
// neither.
func addProxyUsers(t *testing.T, env []string) {
	t.Helper()
	if out, err := cli(t, env, e2ePassword+"\n", "user", "add", "alice", "--email", "alice@example.com",
		"--first-name", "Alice", "--last-name", "Liddell", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	if out, err := cli(t, env, e2ePassword+"\n", "user", "add", "nobody", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
}

// testProxy runs the forward-auth checks through the proxy that start
// starts, given latchkey's and the application's host:port.
func testProxy(t *testing.T, start func(t *testing.T, lk, app string) string) {
	env := dbEnv(t)
	addProxyUsers(t, env)
	a := newApp(t)
	appAddr := hostPort(t, a.srv.URL)
	lk := serve(t, append(env, "LATCHKEY_TRUSTED_PROXIES=127.0.0.1"))
	base := start(t, hostPort(t, lk.url), appAddr)

	alice, nobody := loginFor(t, lk, "alice"), loginFor(t, lk, "nobody")
	if alice.ident["Remote-Name"] != "Alice Liddell" || nobody.ident["X-Latchkey-Email"] != "" {
		t.Fatalf("identities %v, %v", alice.ident, nobody.ident)
	}
	bearer := func(s session) http.Header { return http.Header{"Authorization": {"Bearer " + s.token}} }
	with := func(h http.Header, more http.Header) http.Header {
		h = h.Clone()
		for k, v := range more {
			h[k] = v
		}
		return h
	}

	t.Run("valid token", func(t *testing.T) {
		passes(t, base, a, proxyCase{name: "valid", path: "/some/page?x=1", header: bearer(alice)}, alice.ident)
		passes(t, base, a, proxyCase{name: "valid, Token scheme, a POST with a body", method: "POST", path: "/form",
			header: http.Header{"Authorization": {"Token " + alice.token}, "Content-Type": {"application/x-www-form-urlencoded"}},
			body:   "a=1&b=2"}, alice.ident)
	})
	t.Run("client identity headers are replaced", func(t *testing.T) {
		passes(t, base, a, proxyCase{name: "forged, valid token", header: with(forged(), bearer(alice))}, alice.ident)
		// Empty fields: the client's copies must not survive either.
		passes(t, base, a, proxyCase{name: "forged, user without email or name", header: with(forged(), bearer(nobody))}, nobody.ident)
	})
	t.Run("refused", func(t *testing.T) {
		for _, c := range []proxyCase{
			{name: "no token"},
			{name: "no token, forged identity", header: forged()},
			{name: "wrong token", method: "POST", path: "/private/page?secret=s3cr3t",
				header: http.Header{"Authorization": {"Bearer lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}},
			{name: "malformed token", header: http.Header{"Authorization": {"Bearer not a token"}}},
			{name: "another scheme", header: http.Header{"Authorization": {"Basic YWxpY2U6eA=="}}},
		} {
			refused(t, base, a, c, 401)
		}
		// The refusal of the wrong token is logged with what the
		// proxy, trusted, said it checked; without the query.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(lk.output(), `"uri":"/private/page"`) {
			if time.Now().After(deadline) {
				t.Fatalf("no refusal logged with the proxy's request:\n%s", lk.output())
			}
			time.Sleep(20 * time.Millisecond)
		}
		var line map[string]any
		for _, l := range strings.Split(lk.output(), "\n") {
			if strings.Contains(l, `"uri":"/private/page"`) {
				json.Unmarshal([]byte(l), &line)
			}
		}
		if line["msg"] != "forward-auth refused" || line["method"] != "POST" || line["code"] != "invalid_token" {
			t.Errorf("refusal logged as %v", line)
		}
		if strings.Contains(lk.output(), "s3cr3t") {
			t.Error("the query string reached the log")
		}
	})
	t.Run("revoked", func(t *testing.T) {
		s := loginFor(t, lk, "alice")
		passes(t, base, a, proxyCase{name: "before logout", header: bearer(s)}, s.ident)
		if st, _ := lk.call(t, "POST", "/v1/logout", s.token, nil); st != 204 {
			t.Fatalf("logout: %d", st)
		}
		refused(t, base, a, proxyCase{name: "after logout", header: bearer(s)}, 401)
	})

	// A server of its own, with tokens that live 2 s, for the expiry and
	// then to be stopped.
	short := serve(t, append(env, "LATCHKEY_TOKEN_TTL=2s"))
	shortBase := start(t, hostPort(t, short.url), appAddr)
	t.Run("expired", func(t *testing.T) {
		s := loginFor(t, short, "alice")
		passes(t, shortBase, a, proxyCase{name: "before expiry", header: bearer(s)}, s.ident)
		time.Sleep(time.Until(s.expires) + 50*time.Millisecond)
		refused(t, shortBase, a, proxyCase{name: "after expiry", header: bearer(s)}, 401)
	})
	t.Run("latchkey stopped", func(t *testing.T) {
		s := loginFor(t, short, "alice")
		passes(t, shortBase, a, proxyCase{name: "before the stop", header: bearer(s)}, s.ident)
		short.cmd.Process.Kill()
		if err := <-short.done; err == nil || !errors.As(err, new(*exec.ExitError)) {
			t.Fatalf("latchkey did not stop: %v", err)
		}
		short.done <- nil // for the cleanup
		refused(t, shortBase, a, proxyCase{name: "stopped", header: bearer(s)}, 0)
		refused(t, shortBase, a, proxyCase{name: "stopped, forged", header: with(forged(), bearer(s))}, 0)
	})
}

func TestProxyNginx(t *testing.T) {
	needProxy(t, "nginx", "/usr/sbin")
	testProxy(t, func(t *testing.T, lk, app string) string { return startNginx(t, lk, app, "") })
}

func TestProxyCaddy(t *testing.T) {
	needProxy(t, "caddy")
	testProxy(t, func(t *testing.T, lk, app string) string { return startCaddy(t, lk, app) })
}

// BenchmarkNginxAuthRequest measures what the auth_request round trip
// costs through nginx: requests a second to the application through the
// README's configuration, with a valid token, and through a location of
// the same nginx that proxies the application without asking latchkey.
// Client, nginx, latchkey and the application share the machine; compare
// the two req/s figures of one run.
func BenchmarkNginxAuthRequest(b *testing.B) {
	env := dbEnv(b)
	addUser(b, env, "alice")
	a := newApp(b)
	direct := freeAddr(b)
	lk := serve(b, env)
	base := startNginx(b, hostPort(b, lk.url), hostPort(b, a.srv.URL), `    server {
        listen `+direct+`;
        location / {
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Connection "";
            proxy_http_version 1.1;
            proxy_pass http://app;
        }
    }
`)
	tok := lk.login(b, "alice", e2ePassword)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	for _, bc := range []struct{ name, url string }{{"direct", "http://" + direct + "/page"}, {"auth_request", base + "/page"}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetParallelism(16) // 32 clients on two cores, as scripts/bench
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", bc.url, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						b.Errorf("%s: %d", bc.name, res.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
