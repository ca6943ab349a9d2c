package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/password"
)

// identityHeaders are the headers of a forward-auth answer.
var identityHeaders = []string{
	"X-Latchkey-User-Id", "X-Latchkey-Username", "X-Latchkey-Email", "X-Latchkey-Session-Id", "X-Latchkey-Expires-At",
	"Remote-User", "Remote-Email", "Remote-Name", "X-Auth-Request-User", "X-Auth-Request-Email",
}

// forward sends a forward-auth check with the given header lines.
func (e *env) forward(t testing.TB, method string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/v1/forward-auth", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return response{res.StatusCode, res.Header, b.Bytes()}
}

// wantIdentity checks a 200 forward-auth answer: no body, not cached,
// and every identity header once, with the value want gives (empty when
// it gives none).
func wantIdentity(t *testing.T, r response, want map[string]string) {
	t.Helper()
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("%d %q, want 200 and no body", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	for _, k := range identityHeaders {
		v, ok := r.header[k]
		if !ok || len(v) != 1 || v[0] != want[k] {
			t.Errorf("%s = %q (present: %v), want [%q]", k, v, ok, want[k])
		}
	}
}

// identityOf is what the forward-auth answer of a login's token says.
func identityOf(t *testing.T, login map[string]any) map[string]string {
	t.Helper()
	u := login["user"].(map[string]any)
	exp, err := time.Parse(time.RFC3339Nano, login["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSpace(u["first_name"].(string) + " " + u["last_name"].(string))
	user, email := u["username"].(string), u["email"].(string)
	return map[string]string{
		"X-Latchkey-User-Id": strconv.FormatInt(int64(u["id"].(float64)), 10), "X-Latchkey-Username": user,
		"X-Latchkey-Email": email, "X-Latchkey-Session-Id": login["session_id"].(string),
		"X-Latchkey-Expires-At": exp.UTC().Format(time.RFC3339),
		"Remote-User":           user, "Remote-Email": email, "Remote-Name": name,
		"X-Auth-Request-User": user, "X-Auth-Request-Email": email,
	}
}

func TestForwardAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, login := e.login(t, "alice")
	want := identityOf(t, login)
	if want["Remote-Name"] != "Alice" || want["X-Latchkey-Email"] != "alice@example.com" {
		t.Fatalf("identity %v", want)
	}
	// Any method; the body is ignored; both schemes.
	for _, tc := range []struct{ method, auth, body string }{
		{"GET", "Bearer " + tok, ""},
		{"HEAD", "Bearer " + tok, ""},
		{"POST", "Token " + tok, `{"username":"bob"}`},
		{"PUT", "bearer " + tok, "not json at all"},
		{"DELETE", "Bearer " + tok, ""},
		{"OPTIONS", "Bearer " + tok, ""},
		{"PATCH", "Bearer " + tok, ""},
	} {
		t.Run(tc.method, func(t *testing.T) {
			wantIdentity(t, e.forward(t, tc.method, http.Header{"Authorization": {tc.auth}}, tc.body), want)
		})
	}
}

// TestForwardAuthEmptyFields: a user without an email or a name still
// gets every header, empty, so that a proxy copying only the headers it
// finds cannot let a client's own copy through.
func TestForwardAuthEmptyFields(t *testing.T) {
	e := newEnv(t, envOptions{})
	if _, err := e.auth.AddUser(context.Background(), latchkey.NewUser{Username: "nobody"}, goodPassword); err != nil {
		t.Fatal(err)
	}
	tok, login := e.login(t, "nobody")
	want := identityOf(t, login)
	for _, k := range []string{"X-Latchkey-Email", "Remote-Email", "Remote-Name", "X-Auth-Request-Email"} {
		if want[k] != "" {
			t.Fatalf("%s = %q, want empty", k, want[k])
		}
	}
	wantIdentity(t, e.forward(t, "GET", http.Header{"Authorization": {"Bearer " + tok}}, ""), want)
}

// TestForwardAuthClientHeaders: identity headers the client sends have
// no effect on the answer, which carries latchkey's values alone.
func TestForwardAuthClientHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, login := e.login(t, "alice")
	h := http.Header{"Authorization": {"Bearer " + tok}}
	for _, k := range identityHeaders {
		h[k] = []string{"forged"}
	}
	h["X-Latchkey-User-Id"] = []string{"1", "2"}
	wantIdentity(t, e.forward(t, "GET", h, ""), identityOf(t, login))
	// Without a token they are no credentials.
	delete(h, "Authorization")
	r := e.forward(t, "GET", h, "")
	wantError(t, r, 401, "not_authenticated")
	if _, ok := r.header["X-Latchkey-User-Id"]; ok {
		t.Fatal("a refusal carries identity headers")
	}
}

// TestForwardAuthUnsafeValues: an email or a name with a line break or
// another control character, as a Django import may bring, cannot split
// a header: each such character becomes U+FFFD.
func TestForwardAuthUnsafeValues(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := password.New(password.Options{Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	hash, err := h.Hash(context.Background(), goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateUser(context.Background(), latchkey.User{
		Username: "eve", Email: "eve@example.com\r\nX-Admin: 1", FirstName: "Eve\x00", LastName: "Ünïcode\xff",
		PasswordHash: hash, Active: true, DateJoined: e.clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	tok, login := e.login(t, "eve")
	want := identityOf(t, login)
	for _, k := range []string{"X-Latchkey-Email", "Remote-Email", "X-Auth-Request-Email"} {
		want[k] = "eve@example.com\uFFFD\uFFFDX-Admin: 1"
	}
	want["Remote-Name"] = "Eve\uFFFD Ünïcode\uFFFD"
	r := e.forward(t, "GET", http.Header{"Authorization": {"Bearer " + tok}}, "")
	wantIdentity(t, r, want)
	if _, ok := r.header["X-Admin"]; ok {
		t.Fatal("a value split its header")
	}
}

func TestForwardAuthRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	expired, _ := e.login(t, "alice")
	e.clock.Add(time.Hour)
	revoked, _ := e.login(t, "alice")
	if r := e.do(t, "POST", "/v1/logout", "Bearer "+revoked, "", nil); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	disabled, _ := e.login(t, "bob")
	if err := e.auth.SetUserActive(context.Background(), "bob", false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth, code string
	}{
		{"no token", "", "not_authenticated"},
		{"basic", "Basic YWxpY2U6eA==", "not_authenticated"},
		{"unknown token", "Bearer lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "invalid_token"},
		{"malformed token", "Bearer lk_ä", "invalid_token"},
		{"expired", "Bearer " + expired, "token_expired"},
		{"revoked", "Bearer " + revoked, "invalid_token"},
		{"user disabled", "Bearer " + disabled, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			r := e.forward(t, "GET", h, "")
			wantError(t, r, 401, tc.code)
			if tc.code != "not_authenticated" && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			for _, k := range identityHeaders {
				if _, ok := r.header[k]; ok {
					t.Fatalf("a refusal carries %s", k)
				}
			}
		})
	}
}

// TestForwardAuthUnavailable: a check that cannot run is a 503 with
// Retry-After, which no proxy lets through.
func TestForwardAuthUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.store.Close()
	r := e.forward(t, "GET", http.Header{"Authorization": {"Bearer lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, "")
	wantError(t, r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if _, ok := r.header["X-Latchkey-User-Id"]; ok {
		t.Fatal("a 503 carries identity headers")
	}
}

func TestForwardAuthCookie(t *testing.T) {
	off := newEnv(t, envOptions{})
	tok, _ := off.login(t, "alice")
	t.Run("off by default", func(t *testing.T) {
		for _, name := range []string{"lk", "latchkey", "token", "__Host-latchkey"} {
			wantError(t, off.forward(t, "GET", http.Header{"Cookie": {name + "=" + tok}}, ""), 401, "not_authenticated")
		}
	})

	e := newEnv(t, envOptions{api: api.Options{ForwardAuthCookie: "__Host-lk"}})
	alice, aliceLogin := e.login(t, "alice")
	bob, bobLogin := e.login(t, "bob")
	for _, tc := range []struct {
		name   string
		header http.Header
		want   map[string]any // the login whose identity answers; nil: refused with code
		code   string
	}{
		{"cookie", http.Header{"Cookie": {"__Host-lk=" + alice}}, aliceLogin, ""},
		{"among others, quoted", http.Header{"Cookie": {`a=1; __Host-lk="` + alice + `"; b=2`}}, aliceLogin, ""},
		{"the header wins", http.Header{"Authorization": {"Bearer " + bob}, "Cookie": {"__Host-lk=" + alice}}, bobLogin, ""},
		{"another scheme in the header", http.Header{"Authorization": {"Basic YWxpY2U6eA=="}, "Cookie": {"__Host-lk=" + alice}}, aliceLogin, ""},
		{"a bad header is not passed over", http.Header{"Authorization": {"Bearer lk_ä"}, "Cookie": {"__Host-lk=" + alice}}, nil, "invalid_token"},
		{"twice", http.Header{"Cookie": {"__Host-lk=" + alice + "; __Host-lk=" + bob}}, nil, "invalid_token"},
		{"twice, the same", http.Header{"Cookie": {"__Host-lk=" + alice, "__Host-lk=" + alice}}, nil, "invalid_token"},
		{"not a token", http.Header{"Cookie": {"__Host-lk=a,b"}}, nil, "invalid_token"},
		{"unknown token", http.Header{"Cookie": {"__Host-lk=lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, nil, "invalid_token"},
		{"another cookie", http.Header{"Cookie": {"lk=" + alice}}, nil, "not_authenticated"},
		{"none", http.Header{}, nil, "not_authenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.forward(t, "GET", tc.header, "")
			if tc.want == nil {
				wantError(t, r, 401, tc.code)
				return
			}
			wantIdentity(t, r, identityOf(t, tc.want))
		})
	}
	t.Run("only forward-auth reads it", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/me", nil)
		req.Header.Set("Cookie", "__Host-lk="+alice)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("/v1/me with the cookie: %d", res.StatusCode)
		}
	})
}

// lockedBuffer is a log destination that the server's goroutines and the
// test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON lines logged so far, and forgets them.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	l.b.Reset()
	return out
}

// TestForwardAuthLog: a refusal is logged, at info when a token was sent
// and at debug when none was, with what a trusted proxy says it checked
// (the path without its query) and never the token; what an untrusted
// peer says is not logged.
func TestForwardAuthLog(t *testing.T) {
	fwd := http.Header{
		"X-Forwarded-Method": {"POST"}, "X-Forwarded-Host": {"app.example.com"},
		"X-Forwarded-Uri": {"/admin/users?reset=s3cr3t"},
	}
	const bad = "lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct {
		name    string
		trusted string
		auth    string
		level   string
		code    string
		logged  bool // method, host and uri
	}{
		{"trusted proxy, bad token", "127.0.0.0/8", "Bearer " + bad, "INFO", "invalid_token", true},
		{"trusted proxy, no token", "127.0.0.1", "", "DEBUG", "not_authenticated", true},
		{"untrusted peer", "10.0.0.0/8", "Bearer " + bad, "INFO", "invalid_token", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf lockedBuffer
			trusted, err := api.ParseTrustedProxies(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, envOptions{api: api.Options{
				Logger:   slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
				ClientIP: api.ClientIP{Trusted: trusted},
			}})
			good, _ := e.login(t, "alice")
			buf.lines(t)
			h := fwd.Clone()
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			h.Set("X-Forwarded-For", "192.0.2.7")
			wantError(t, e.forward(t, "GET", h, ""), 401, tc.code)
			// An accepted check logs nothing.
			h.Set("Authorization", "Bearer "+good)
			if r := e.forward(t, "GET", h, ""); r.status != 200 {
				t.Fatalf("good token: %d", r.status)
			}
			lines := buf.lines(t)
			if len(lines) != 1 {
				t.Fatalf("log lines %v, want one", lines)
			}
			m := lines[0]
			ip := "127.0.0.1"
			if tc.logged {
				ip = "192.0.2.7"
			}
			if m["msg"] != "forward-auth refused" || m["level"] != tc.level || m["code"] != tc.code || m["ip"] != ip {
				t.Fatalf("log line %v", m)
			}
			if tc.logged {
				if m["method"] != "POST" || m["host"] != "app.example.com" || m["uri"] != "/admin/users" {
					t.Fatalf("log line %v", m)
				}
			} else if _, ok := m["uri"]; ok {
				t.Fatalf("an untrusted peer's headers were logged: %v", m)
			}
			b, _ := json.Marshal(m)
			for _, secret := range []string{bad[3:], good[3:], "s3cr3t"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Fatalf("the log holds a secret: %s", b)
				}
			}
		})
	}
}
