package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/captcha"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/throttle"
	throttlememory "github.com/latchkeyhq/latchkey/throttle/memory"
)

// countingHasher is a cheap real hasher that counts its key derivations.
func countingHasher(n *atomic.Int64) *password.Hasher {
	return password.New(password.Options{
		Params:    password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		OnCompute: func() { n.Add(1) },
	})
}

func newLimiter(t testing.TB, cfg throttle.Config) *throttle.Limiter {
	t.Helper()
	l, err := throttle.New(throttlememory.New(throttlememory.Options{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) loginBody(t testing.TB, hdr map[string]string, body map[string]string) response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/login", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, raw}
}

func TestThrottleIP(t *testing.T) {
	var hashes atomic.Int64
	e := newEnv(t, envOptions{hasher: countingHasher(&hashes),
		throttle: newLimiter(t, throttle.Config{IP: latchkey.Bucket{Burst: 3, Every: 20 * time.Second}}),
	})
	tok, _ := e.login(t, "alice") // one attempt of the burst
	wrong := map[string]string{"username": "bob", "password": "wrong password"}
	for range 2 {
		if r := e.loginBody(t, nil, wrong); r.status != 401 {
			t.Fatalf("status %d", r.status)
		}
	}
	before := hashes.Load()
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"plain", nil},
		{"spoofed X-Forwarded-For from an untrusted peer", map[string]string{"X-Forwarded-For": "1.2.3.4"}},
		{"spoofed Forwarded", map[string]string{"Forwarded": "for=1.2.3.5"}},
		{"a valid token changes nothing", map[string]string{"Authorization": "Bearer " + tok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.loginBody(t, tc.hdr, map[string]string{"username": "alice", "password": goodPassword})
			m := wantError(t, r, 429, "throttled")
			ra, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 20 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if !strings.Contains(m["detail"].(string), strconv.Itoa(ra)) {
				t.Fatalf("detail %q does not say when to retry (%d s)", m["detail"], ra)
			}
		})
	}
	if n := hashes.Load() - before; n != 0 {
		t.Fatalf("throttled logins computed %d hashes", n)
	}
}

func TestThrottleTrustedProxy(t *testing.T) {
	e := newEnv(t, envOptions{
		api:      api.Options{ClientIP: api.ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		throttle: newLimiter(t, throttle.Config{IP: latchkey.Bucket{Burst: 2, Every: time.Minute}}),
	})
	// Behind a trusted proxy, each forwarded client has its own allowance.
	for i := range 3 {
		for range 2 {
			r := e.loginBody(t, map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}, map[string]string{"username": "alice", "password": goodPassword})
			if r.status != 200 {
				t.Fatalf("client %d: %d %s", i, r.status, r.body)
			}
		}
		r := e.loginBody(t, map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}, map[string]string{"username": "alice", "password": goodPassword})
		wantError(t, r, 429, "throttled")
	}
	// The session records the forwarded address.
	r := e.loginBody(t, map[string]string{"X-Forwarded-For": "198.51.100.7, 127.0.0.2"}, map[string]string{"username": "bob", "password": goodPassword})
	var is struct{ Token string }
	json.Unmarshal(r.body, &is)
	r = e.do(t, "GET", "/v1/sessions", "Bearer "+is.Token, "", nil)
	if !strings.Contains(string(r.body), `"ip":"198.51.100.7"`) {
		t.Fatalf("sessions %s, want the forwarded address", r.body)
	}
}

func TestThrottlePasswordChange(t *testing.T) {
	e := newEnv(t, envOptions{
		throttle: newLimiter(t, throttle.Config{
			IP:      latchkey.Bucket{Burst: 100, Every: time.Second},
			Backoff: latchkey.Backoff{After: 2, Base: time.Minute, Max: time.Hour},
		}),
	})
	tok, _ := e.login(t, "alice")
	for i := range 2 {
		r := e.do(t, "POST", "/v1/password", "Bearer "+tok, "", map[string]string{"old_password": "guess " + strconv.Itoa(i), "new_password": "another long passphrase"})
		wantError(t, r, 400, "invalid_request")
	}
	r := e.do(t, "POST", "/v1/password", "Bearer "+tok, "", map[string]string{"old_password": "guess 4", "new_password": "another long passphrase"})
	wantError(t, r, 429, "throttled")
}

// powEnv serves the built-in proof-of-work captcha.
func powEnv(t *testing.T, after int, hashes *atomic.Int64) (*env, *captcha.PoW) {
	t.Helper()
	p, err := captcha.NewPoW(captcha.PoWConfig{
		Secret:    "a test secret of enough length",
		Guard:     memory.NewClaims(memory.ClaimsOptions{}),
		MaxNumber: 2000,
	})
	if err != nil {
		t.Fatal(err)
	}
	eo := envOptions{hasher: countingHasher(hashes), captcha: p, captchaAfter: after,
		api: api.Options{Challenges: p, ClientIP: api.ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}}
	if after > 0 {
		eo.throttle = newLimiter(t, throttle.Config{})
	}
	return newEnv(t, eo), p
}

// solved fetches a challenge over HTTP and solves it as the widget does.
func (e *env) solved(t *testing.T) string {
	t.Helper()
	r := e.do(t, "GET", "/v1/captcha/challenge", "", "", nil)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("challenge: %d %s", r.status, r.body)
	}
	var ch captcha.Challenge
	json.Unmarshal(r.body, &ch)
	for n := int64(0); n <= ch.MaxNumber; n++ {
		sum := sha256.Sum256([]byte(ch.Salt + strconv.FormatInt(n, 10)))
		if hex.EncodeToString(sum[:]) == ch.Challenge {
			b, _ := json.Marshal(map[string]any{"algorithm": ch.Algorithm, "challenge": ch.Challenge, "number": n, "salt": ch.Salt, "signature": ch.Signature})
			return base64.StdEncoding.EncodeToString(b)
		}
	}
	t.Fatal("challenge has no solution")
	return ""
}

func TestCaptchaBeforePassword(t *testing.T) {
	var hashes atomic.Int64
	e, _ := powEnv(t, 0, &hashes)
	hashes.Store(0) // the users' creation
	login := func(pw, field, resp string) response {
		body := map[string]string{"username": "alice", "password": pw}
		if field != "" {
			body[field] = resp
		}
		return e.loginBody(t, nil, body)
	}
	wantError(t, login(goodPassword, "", ""), 400, "captcha_required")
	bad := e.solved(t)
	bad = bad[:len(bad)-4] + "AAA="
	right := login(goodPassword, "captcha", bad)
	wrong := login("wrong password", "captcha", bad)
	wantError(t, right, 400, "captcha_invalid")
	if string(right.body) != string(wrong.body) {
		t.Fatalf("a wrong captcha answers differently with the right password: %s vs %s", right.body, wrong.body)
	}
	wantError(t, login(goodPassword, "altcha", strings.Repeat("A", 2049)), 400, "captcha_invalid")
	if n := hashes.Load(); n != 0 {
		t.Fatalf("%d passwords hashed without a valid captcha", n)
	}
	for _, field := range []string{"captcha", "altcha", "g-recaptcha-response", "g_recaptcha_response"} {
		sol := e.solved(t)
		if r := login(goodPassword, field, sol); r.status != 200 {
			t.Fatalf("%s: %d %s", field, r.status, r.body)
		}
		// Each solution is accepted once.
		wantError(t, login(goodPassword, field, sol), 400, "captcha_invalid")
	}
}

func TestCaptchaAfterFailures(t *testing.T) {
	var hashes atomic.Int64
	e, _ := powEnv(t, 2, &hashes)
	for i, user := range []string{"bob", "nobody"} {
		t.Run(user, func(t *testing.T) {
			from := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
			fail := func() map[string]any {
				return wantError(t, e.loginBody(t, from, map[string]string{"username": user, "password": "wrong password"}), 401, "invalid_credentials")
			}
			if m := fail(); m["captcha_required"] != nil {
				t.Fatalf("first failure already asks for a captcha: %v", m)
			}
			if m := fail(); m["captcha_required"] != true {
				t.Fatalf("second failure does not announce the captcha: %v", m)
			}
			wantError(t, e.loginBody(t, from, map[string]string{"username": user, "password": "wrong password"}), 400, "captcha_required")
		})
	}
	// Another user from an address that failed: the address asks too.
	from := map[string]string{"X-Forwarded-For": "198.51.100.0"}
	wantError(t, e.loginBody(t, from, map[string]string{"username": "alice", "password": goodPassword}), 400, "captcha_required")
	if r := e.loginBody(t, nil, map[string]string{"username": "alice", "password": goodPassword}); r.status != 200 {
		t.Fatalf("alice from a clean address: %d %s", r.status, r.body)
	}
	if r := e.loginBody(t, from, map[string]string{"username": "alice", "password": goodPassword, "captcha": e.solved(t)}); r.status != 200 {
		t.Fatalf("login with captcha: %d %s", r.status, r.body)
	}
}

func TestCaptchaUnavailableFailsClosed(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer fake.Close()
	v, err := captcha.NewRecaptcha(captcha.Config{Secret: "s3cret-value", VerifyURL: fake.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{captcha: v})
	r := e.loginBody(t, nil, map[string]string{"username": "alice", "password": goodPassword, "g-recaptcha-response": "token"})
	wantError(t, r, 503, "captcha_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if strings.Contains(string(r.body), "s3cret") {
		t.Fatal("the secret reached the client")
	}
	// Without the challenge route configured, it is not found.
	wantError(t, e.do(t, "GET", "/v1/captcha/challenge", "", "", nil), 404, "not_found")
}
