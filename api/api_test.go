package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/api/openapitest"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/sqlite"
)

const goodPassword = "a long enough passphrase"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	srv   *httptest.Server
	auth  *latchkey.Authenticator
	store *sqlite.Store
	cache *memory.Cache
	clock *clock
}

type envOptions struct {
	hasher *password.Hasher
	api    api.Options
	// The login gate's parts, given to the Authenticator.
	throttle     latchkey.Throttle
	captcha      latchkey.CaptchaVerifier
	captchaAfter int
	// clientThrottle limits the failed authentications of service
	// clients.
	clientThrottle latchkey.ServiceClientThrottle
	// logger, when set, is the Authenticator's and the server's.
	logger *slog.Logger
	// wrap, when set, wraps the store the Authenticator is given.
	wrap func(latchkey.Store) latchkey.Store
	// metrics, when set, are the Authenticator's.
	metrics latchkey.Metrics
	// mfaKey, when set, seals TOTP secrets.
	mfaKey *latchkey.MFAKey
	// relyingParty, when set, checks passkeys.
	relyingParty latchkey.RelyingParty
}

func newEnv(t testing.TB, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	h := eo.hasher
	if h == nil {
		h = password.New(password.Options{Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	}
	var as latchkey.Store = st
	if eo.wrap != nil {
		as = eo.wrap(st)
	}
	cache := memory.New(memory.Options{MaxEntries: 1000, Now: c.Now})
	a := latchkey.NewAuthenticator(as, cache, h, latchkey.Options{
		TokenTTL:      time.Hour,
		Now:           c.Now,
		CheckPassword: password.Policy{MinLength: 12}.Check,
		Logger:        eo.logger,

		Throttle:              eo.throttle,
		Captcha:               eo.captcha,
		CaptchaAfterFailures:  eo.captchaAfter,
		ServiceClientThrottle: eo.clientThrottle,
		Metrics:               eo.metrics,
		MFAKey:                eo.mfaKey,
		RelyingParty:          eo.relyingParty,
		Challenges:            memory.NewChallenges(memory.ChallengesOptions{Now: c.Now}),
	})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if eo.logger != nil {
		eo.api.Logger = eo.logger
	}
	srv := httptest.NewServer(api.NewServer(a, eo.api))
	t.Cleanup(srv.Close)
	checkOpenAPI(t, srv)
	e := &env{srv: srv, auth: a, store: st, cache: cache, clock: c}
	for _, name := range []string{"alice", "bob", "leo"} {
		if _, err := a.AddUser(ctx, latchkey.NewUser{Username: name, Email: name + "@example.com", FirstName: strings.ToUpper(name[:1]) + name[1:]}, goodPassword); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetUserActive(ctx, "leo", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, latchkey.User{Username: "mallory", PasswordHash: "!" + goodPassword, Active: true, DateJoined: c.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request; body may be a string (sent as is) or a value
// (JSON-encoded).
func (e *env) do(t testing.TB, method, path, token, contentType string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// openapiDoc is the API's OpenAPI document, loaded once.
var openapiDoc = sync.OnceValues(func() (*openapitest.Document, error) {
	return openapitest.Parse(api.OpenAPIDocument)
})

// openapiChecked is a transport that holds every answer from the API
// server at host to the OpenAPI document.
type openapiChecked struct {
	t    testing.TB
	host string
	doc  *openapitest.Document
	next http.RoundTripper
}

func (c openapiChecked) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil || req.URL.Host != c.host {
		return res, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	c.doc.Check(c.t, req, res.StatusCode, res.Header, b)
	return res, nil
}

// checkOpenAPI makes the client of srv, which every request helper
// uses, hold each answer it receives from srv to the OpenAPI document.
func checkOpenAPI(t testing.TB, srv *httptest.Server) {
	t.Helper()
	doc, err := openapiDoc()
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	c.Transport = openapiChecked{t: t, host: srv.Listener.Addr().String(), doc: doc, next: c.Transport}
}

func (e *env) login(t testing.TB, user string) (token string, body map[string]any) {
	t.Helper()
	r := e.do(t, "POST", "/v1/login", "", "", map[string]string{"username": user, "password": goodPassword})
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	m := r.json(t)
	return m["token"].(string), m
}

func wantError(t *testing.T, r response, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	m := r.json(t)
	if m["code"] != code {
		t.Fatalf("code = %v, want %s; body %s", m["code"], code, r.body)
	}
	if d, _ := m["detail"].(string); d == "" {
		t.Fatalf("no detail in %s", r.body)
	}
	if status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="latchkey"`) {
		t.Fatalf("401 without WWW-Authenticate: %q", r.header.Get("WWW-Authenticate"))
	}
	return m
}

func TestLoginResponse(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := e.clock.Now()
	tok, m := e.login(t, "alice")
	if !strings.HasPrefix(tok, "lk_") || len(tok) < 3+43 {
		t.Fatalf("token %q", tok)
	}
	if m["token_type"] != "Bearer" || m["session_id"] == "" {
		t.Fatalf("body %v", m)
	}
	exp, err := time.Parse(time.RFC3339, m["expires_at"].(string))
	if err != nil || !exp.Equal(before.Add(time.Hour)) || exp.Location() != time.UTC {
		t.Fatalf("expires_at %v (%v), want %v", m["expires_at"], err, before.Add(time.Hour))
	}
	u := m["user"].(map[string]any)
	for _, k := range []string{"id", "username", "email", "first_name", "last_name", "last_login", "date_joined"} {
		if _, ok := u[k]; !ok {
			t.Fatalf("user lacks %s: %v", k, u)
		}
	}
	if _, ok := u["password"]; ok {
		t.Fatal("user carries a password field")
	}
	if ll, _ := time.Parse(time.RFC3339, u["last_login"].(string)); !ll.Equal(before) {
		t.Fatalf("last_login %v, want %v", u["last_login"], before)
	}
	// Form bodies work too, url-encoded and multipart.
	r := e.do(t, "POST", "/v1/login", "", "application/x-www-form-urlencoded",
		url.Values{"username": {"alice"}, "password": {goodPassword}}.Encode())
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("form login: %d %v %s", r.status, r.header, r.body)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("username", "alice")
	mw.WriteField("password", goodPassword)
	mw.Close()
	if r := e.do(t, "POST", "/v1/login", "", mw.FormDataContentType(), buf.Bytes()); r.status != 200 {
		t.Fatalf("multipart login: %d %s", r.status, r.body)
	}
}

func TestErrorTable(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	bobTok, _ := e.login(t, "bob")
	for _, tc := range []struct {
		name                   string
		method, path, auth, ct string
		body                   any
		status                 int
		code                   string
		field                  string
	}{
		{name: "malformed json", method: "POST", path: "/v1/login", ct: "application/json", body: `{"username":`, status: 400, code: "invalid_request"},
		{name: "json array", method: "POST", path: "/v1/login", ct: "application/json", body: `["alice"]`, status: 400, code: "invalid_request"},
		{name: "two json objects", method: "POST", path: "/v1/login", ct: "application/json", body: `{"username":"a","password":"b"}{}`, status: 400, code: "invalid_request"},
		{name: "missing password", method: "POST", path: "/v1/login", body: map[string]string{"username": "alice"}, status: 400, code: "invalid_request", field: "password"},
		{name: "number as username", method: "POST", path: "/v1/login", ct: "application/json", body: `{"username":7,"password":"x"}`, status: 400, code: "invalid_request", field: "username"},
		{name: "username too long", method: "POST", path: "/v1/login", body: map[string]string{"username": strings.Repeat("a", 151), "password": "x"}, status: 400, code: "invalid_request", field: "username"},
		{name: "password too long", method: "POST", path: "/v1/login", body: map[string]string{"username": "alice", "password": strings.Repeat("a", 1025)}, status: 400, code: "invalid_request", field: "password"},
		{name: "body over 64 KiB", method: "POST", path: "/v1/login", body: map[string]string{"username": "alice", "password": strings.Repeat("a", 70000)}, status: 413, code: "request_too_large"},
		{name: "text body", method: "POST", path: "/v1/login", ct: "text/plain", body: "username=alice", status: 415, code: "unsupported_media_type"},
		{name: "no content type", method: "POST", path: "/v1/login", body: "{}", status: 415, code: "unsupported_media_type"},
		{name: "unknown user", method: "POST", path: "/v1/login", body: map[string]string{"username": "nobody", "password": goodPassword}, status: 401, code: "invalid_credentials"},
		{name: "wrong password", method: "POST", path: "/v1/login", body: map[string]string{"username": "alice", "password": "wrong password"}, status: 401, code: "invalid_credentials"},
		{name: "inactive user", method: "POST", path: "/v1/login", body: map[string]string{"username": "leo", "password": goodPassword}, status: 401, code: "invalid_credentials"},
		{name: "unusable password", method: "POST", path: "/v1/login", body: map[string]string{"username": "mallory", "password": "!" + goodPassword}, status: 401, code: "invalid_credentials"},
		{name: "no token", method: "GET", path: "/v1/me", status: 401, code: "not_authenticated"},
		{name: "basic auth", method: "GET", path: "/v1/me", auth: "Basic YWxpY2U6eA==", status: 401, code: "not_authenticated"},
		{name: "token in query ignored", method: "GET", path: "/v1/me?token=" + tok, status: 401, code: "not_authenticated"},
		{name: "unknown token", method: "GET", path: "/v1/me", auth: "Bearer lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", status: 401, code: "invalid_token"},
		{name: "malformed token", method: "GET", path: "/v1/me", auth: "Bearer lk_ä", status: 401, code: "invalid_token"},
		{name: "scheme without token", method: "GET", path: "/v1/me", auth: "Bearer", status: 401, code: "invalid_token"},
		{name: "token with space", method: "GET", path: "/v1/me", auth: "Bearer " + tok + " x", status: 401, code: "invalid_token"},
		{name: "wrong old password", method: "POST", path: "/v1/password", auth: "Bearer " + bobTok, body: map[string]string{"old_password": "wrong one", "new_password": "another long passphrase"}, status: 400, code: "invalid_request", field: "old_password"},
		{name: "weak new password", method: "POST", path: "/v1/password", auth: "Bearer " + bobTok, body: map[string]string{"old_password": goodPassword, "new_password": "short"}, status: 400, code: "invalid_request", field: "new_password"},
		{name: "common new password", method: "POST", path: "/v1/password", auth: "Bearer " + bobTok, body: map[string]string{"old_password": goodPassword, "new_password": "qwerty123456"}, status: 400, code: "invalid_request", field: "new_password"},
		{name: "bad logout scope", method: "POST", path: "/v1/logout?scope=everything", auth: "Bearer " + bobTok, status: 400, code: "invalid_request", field: "scope"},
		{name: "unknown route", method: "GET", path: "/v1/nothing", status: 404, code: "not_found"},
		{name: "wrong method", method: "GET", path: "/v1/login", status: 405, code: "method_not_allowed"},
		{name: "unknown session", method: "DELETE", path: "/v1/sessions/nope", auth: "Token " + bobTok, status: 404, code: "not_found"},
		{name: "session id with a NUL", method: "DELETE", path: "/v1/sessions/a%00b", auth: "Token " + bobTok, status: 404, code: "not_found"},
		{name: "session id not UTF-8", method: "DELETE", path: "/v1/sessions/%E9", auth: "Token " + bobTok, status: 404, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, tc.auth, tc.ct, tc.body)
			m := wantError(t, r, tc.status, tc.code)
			if tc.field != "" {
				fs, _ := m["fields"].(map[string]any)
				if msgs, _ := fs[tc.field].([]any); len(msgs) == 0 {
					t.Fatalf("no message for field %s: %s", tc.field, r.body)
				}
			}
			if tc.code == "invalid_token" && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q lacks the error", r.header.Get("WWW-Authenticate"))
			}
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	// The refused requests changed nothing: both tokens still work.
	for _, tk := range []string{tok, bobTok} {
		if r := e.do(t, "GET", "/v1/me", "Bearer "+tk, "", nil); r.status != 200 {
			t.Fatalf("token refused after the error table: %d %s", r.status, r.body)
		}
	}
}

// multipartBody is a multipart/form-data body of the fields, in order,
// and its content type; a field named "file:NAME" is sent as a file.
func multipartBody(kv ...string) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(kv); i += 2 {
		if name, ok := strings.CutPrefix(kv[i], "file:"); ok {
			w, _ := mw.CreateFormFile(name, "f.txt")
			io.WriteString(w, kv[i+1])
			continue
		}
		mw.WriteField(kv[i], kv[i+1])
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// TestRepeatedFields sends bodies that give a field twice: whichever value
// the server took, a proxy or a firewall in front of it may have read the
// other, so the body is refused, in every format, naming the field.
func TestRepeatedFields(t *testing.T) {
	e := newEnv(t, envOptions{})
	const pw = `"` + goodPassword + `"`
	for _, tc := range []struct {
		name     string
		ct, body string
		parts    []string // a multipart body of these fields, when set
		fields   []string
	}{
		{"json", "application/json", `{"username":"alice","password":` + pw + `,"username":"bob"}`, nil, []string{"username"}},
		{"json, the same value", "application/json", `{"username":"alice","password":` + pw + `,"password":` + pw + `}`, nil, []string{"password"}},
		{"json, escaped", "application/json", `{"username":"alice","password":` + pw + `,"user\u006eame":"alice"}`, nil, []string{"username"}},
		{"json, null then a value", "application/json", `{"username":null,"username":"alice","password":` + pw + `}`, nil, []string{"username"}},
		{"json, a value then an object", "application/json", `{"username":"alice","password":` + pw + `,"username":{}}`, nil, []string{"username"}},
		{"json, a field the login does not read", "application/json", `{"username":"alice","password":` + pw + `,"x":1,"x":2}`, nil, []string{"x"}},
		{"json, two fields, three times", "application/json", `{"username":"alice","password":` + pw + `,"username":"a","password":"b","username":"c"}`, nil, []string{"username", "password"}},
		{"json, a captcha field", "application/problem+json", `{"username":"alice","password":` + pw + `,"captcha":"a","captcha":"b"}`, nil, []string{"captcha"}},
		{"form", "application/x-www-form-urlencoded", "username=alice&password=" + url.QueryEscape(goodPassword) + "&username=bob", nil, []string{"username"}},
		{"form, escaped", "application/x-www-form-urlencoded", "username=alice&password=" + url.QueryEscape(goodPassword) + "&user%6Eame=alice", nil, []string{"username"}},
		{"form, empty values", "application/x-www-form-urlencoded", "username=alice&password=" + url.QueryEscape(goodPassword) + "&x=&x=", nil, []string{"x"}},
		{"multipart", "", "", []string{"username", "alice", "password", goodPassword, "username", "bob"}, []string{"username"}},
		{"multipart, a value and a file", "", "", []string{"username", "alice", "password", goodPassword, "file:username", "bob"}, []string{"username"}},
		{"multipart, two files", "", "", []string{"username", "alice", "password", goodPassword, "file:avatar", "a", "file:avatar", "b"}, []string{"avatar"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := tc.ct, []byte(tc.body)
			if tc.parts != nil {
				ct, body = multipartBody(tc.parts...)
			}
			m := wantError(t, e.do(t, "POST", "/v1/login", "", ct, body), 400, "invalid_request")
			fs, _ := m["fields"].(map[string]any)
			if len(fs) != len(tc.fields) {
				t.Fatalf("fields %v, want %v", fs, tc.fields)
			}
			for _, f := range tc.fields {
				if msgs, _ := fs[f].([]any); len(msgs) == 0 {
					t.Fatalf("fields %v do not name %s", fs, f)
				}
			}
		})
	}
	// What is not repeated is not refused: names differing in case, a
	// file beside other values.
	for _, tc := range []struct{ name, ct, body string }{
		{"json, case", "application/json", `{"username":"alice","password":` + pw + `,"Username":"bob"}`},
		{"form, case", "application/x-www-form-urlencoded", "username=alice&password=" + url.QueryEscape(goodPassword) + "&USERNAME=bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do(t, "POST", "/v1/login", "", tc.ct, tc.body); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	t.Run("multipart, a file", func(t *testing.T) {
		ct, b := multipartBody("username", "alice", "password", goodPassword, "file:avatar", "a")
		if r := e.do(t, "POST", "/v1/login", "", ct, b); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestCredentialFailuresIdentical(t *testing.T) {
	e := newEnv(t, envOptions{})
	var first []byte
	for _, c := range [][2]string{{"nobody", goodPassword}, {"alice", "wrong password"}, {"leo", goodPassword}, {"mallory", "!" + goodPassword}} {
		r := e.do(t, "POST", "/v1/login", "", "", map[string]string{"username": c[0], "password": c[1]})
		if first == nil {
			first = r.body
		}
		if r.status != 401 || !bytes.Equal(r.body, first) {
			t.Fatalf("%s: %d %s, want 401 %s", c[0], r.status, r.body, first)
		}
	}
}

func TestTokenExpired(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	e.clock.Add(time.Hour)
	r := e.do(t, "GET", "/v1/me", "Bearer "+tok, "", nil)
	wantError(t, r, 401, "token_expired")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
}

func TestDisabledUserToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	if err := e.auth.SetUserActive(context.Background(), "alice", false); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.do(t, "GET", "/v1/me", "Bearer "+tok, "", nil), 401, "invalid_token")
}

func TestOverloaded(t *testing.T) {
	// Real argon2id at the default cost, one slot, one waiter, and a
	// short queue timeout: a burst of logins must be partly refused.
	h := password.New(password.Options{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 10 * time.Millisecond})
	e := newEnv(t, envOptions{hasher: h})
	var wg sync.WaitGroup
	results := make(chan response, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- e.do(t, "POST", "/v1/login", "", "", map[string]string{"username": "alice", "password": goodPassword})
		}()
	}
	wg.Wait()
	close(results)
	var ok, overloaded int
	for r := range results {
		switch r.status {
		case 200:
			ok++
		case 503:
			wantError(t, r, 503, "overloaded")
			if r.header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			overloaded++
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	if ok == 0 || overloaded == 0 {
		t.Fatalf("%d ok and %d overloaded; want some of each", ok, overloaded)
	}
}

func TestFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	other, _ := e.login(t, "alice")
	// Both schemes, any case.
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "Token " + tok, "TOKEN " + tok} {
		r := e.do(t, "GET", "/v1/me", h, "", nil)
		if r.status != 200 {
			t.Fatalf("%q: %d %s", h, r.status, r.body)
		}
		if m := r.json(t); m["username"] != "alice" || m["email"] != "alice@example.com" || m["first_name"] != "Alice" {
			t.Fatalf("me = %v", m)
		}
	}
	r := e.do(t, "GET", "/v1/sessions", "Bearer "+tok, "", nil)
	if r.status != 200 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	var ss struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
			IP      string `json:"ip"`
		} `json:"sessions"`
	}
	json.Unmarshal(r.body, &ss)
	if len(ss.Sessions) != 2 {
		t.Fatalf("sessions = %s", r.body)
	}
	var otherID string
	for _, s := range ss.Sessions {
		if s.IP != "127.0.0.1" {
			t.Fatalf("ip %q", s.IP)
		}
		if !s.Current {
			otherID = s.ID
		}
	}
	if otherID == "" {
		t.Fatalf("no current flag: %s", r.body)
	}
	if r := e.do(t, "DELETE", "/v1/sessions/"+otherID, "Bearer "+tok, "", nil); r.status != 204 {
		t.Fatalf("delete session: %d %s", r.status, r.body)
	}
	wantError(t, e.do(t, "GET", "/v1/me", "Bearer "+other, "", nil), 401, "invalid_token")
	wantError(t, e.do(t, "DELETE", "/v1/sessions/"+otherID, "Bearer "+tok, "", nil), 404, "not_found")

	r = e.do(t, "POST", "/v1/password", "Bearer "+tok, "", map[string]string{"old_password": goodPassword, "new_password": "a different passphrase"})
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("password: %d %v %s", r.status, r.header, r.body)
	}
	newTok := r.json(t)["token"].(string)
	wantError(t, e.do(t, "GET", "/v1/me", "Bearer "+tok, "", nil), 401, "invalid_token")
	if r := e.do(t, "GET", "/v1/me", "Bearer "+newTok, "", nil); r.status != 200 {
		t.Fatalf("new token: %d", r.status)
	}
	if r := e.do(t, "POST", "/v1/logout", "Bearer "+newTok, "", nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantError(t, e.do(t, "GET", "/v1/me", "Bearer "+newTok, "", nil), 401, "invalid_token")
}

// TestNoStore checks that no answer carrying a token or the user's data
// may be kept by a cache.
func TestNoStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	other, _ := e.login(t, "alice")
	var ss struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	json.Unmarshal(e.do(t, "GET", "/v1/sessions", "Bearer "+other, "", nil).body, &ss)
	var otherID string
	for _, s := range ss.Sessions {
		if s.Current {
			otherID = s.ID
		}
	}
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
	}{
		{"login", "POST", "/v1/login", map[string]string{"username": "alice", "password": goodPassword}, 200},
		{"me", "GET", "/v1/me", nil, 200},
		{"sessions", "GET", "/v1/sessions", nil, 200},
		{"an error after the token", "POST", "/v1/logout?scope=nowhere", nil, 400},
		{"delete a session", "DELETE", "/v1/sessions/" + otherID, nil, 204},
		{"password", "POST", "/v1/password", map[string]string{"old_password": goodPassword, "new_password": "a different passphrase"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, "Bearer "+tok, "", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if cc, p := r.header.Get("Cache-Control"), r.header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
				t.Fatalf("Cache-Control %q, Pragma %q; want no-store, no-cache", cc, p)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := e.do(t, "GET", p, "", "", nil); r.status != 200 {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
	e.store.Close()
	wantError(t, e.do(t, "GET", "/readyz", "", "", nil), 503, "unavailable")
}

// TestRoutes builds the server, so conflicting patterns fail CI.
func TestRoutes(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("routes conflict: %v", r)
		}
	}()
	api.NewServer(nil, api.Options{})
}
