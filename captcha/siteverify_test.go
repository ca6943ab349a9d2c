package captcha_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/captcha"
)

// secret is the provider secret of the tests. It carries characters that
// encodings change, and a core (secretCore) that no encoding changes: the
// tests look for the core in every error and log line.
const (
	secretCore = "T3stS3cretC0re42"
	secret     = "0x" + secretCore + `+/="&<x>`
	siteKey    = "10000000-ffff-ffff-ffff-000000000001"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// reply is one answer of the fake siteverify server.
type reply struct {
	status   int    // default 200
	body     string // sent as application/json
	slow     bool   // never answer: wait until the client gives up
	drop     bool   // close the connection without answering
	redirect string // answer 307 to this path
}

// call is one request the fake server received.
type call struct {
	method      string
	path        string
	contentType string
	form        url.Values
}

// fakeSiteverify is a siteverify endpoint on loopback that answers the
// replies in order (the last one repeats) and records every request.
type fakeSiteverify struct {
	URL     string
	mu      sync.Mutex
	replies []reply
	calls   []call
	strays  int // requests to another path (a followed redirect)
}

func newFakeSiteverify(t *testing.T, replies ...reply) *fakeSiteverify {
	t.Helper()
	f := &fakeSiteverify{replies: replies}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(f.serve(release)))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: frees slow handlers
	f.URL = srv.URL + "/siteverify"
	return f
}

func (f *fakeSiteverify) serve(release <-chan struct{}) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/siteverify" {
			f.mu.Lock()
			f.strays++
			f.mu.Unlock()
			return
		}
		r.ParseForm()
		f.mu.Lock()
		n := len(f.calls)
		f.calls = append(f.calls, call{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), form: r.PostForm})
		rp := f.replies[min(n, len(f.replies)-1)]
		f.mu.Unlock()
		switch {
		case rp.slow:
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		case rp.drop:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case rp.redirect != "":
			http.Redirect(w, r, rp.redirect, http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if rp.status != 0 {
			w.WriteHeader(rp.status)
		}
		w.Write([]byte(rp.body))
	}
}

func (f *fakeSiteverify) recorded() ([]call, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...), f.strays
}

// providerCase is one provider and the documented answers of its
// siteverify.
type providerCase struct {
	name string
	new  func(captcha.Config) (*captcha.SiteVerify, error)
	// ok is a documented successful answer.
	ok map[string]any
	// codes are the documented error codes and what each must give.
	codes map[string]error
	// retries: Turnstile's idempotent retry.
	retries bool
	// sendsSiteKey: hCaptcha's sitekey field.
	sendsSiteKey bool
	// scoreIsRisk: hCaptcha Enterprise; hasScore/hasAction: the answer
	// carries them.
	hasScore, scoreIsRisk, hasAction bool
}

var (
	errRequired    = latchkey.ErrCaptchaRequired
	errInvalid     = latchkey.ErrCaptchaInvalid
	errUnavailable = latchkey.ErrCaptchaUnavailable
)

var recaptchaCodes = map[string]error{
	"missing-input-secret":   errUnavailable,
	"invalid-input-secret":   errUnavailable,
	"missing-input-response": errInvalid,
	"invalid-input-response": errInvalid,
	"bad-request":            errUnavailable,
	"timeout-or-duplicate":   errInvalid,
}

var providerCases = []providerCase{
	{
		name: "recaptcha v2",
		new:  captcha.NewRecaptcha,
		ok: map[string]any{
			"success":      true,
			"challenge_ts": "2025-06-01T11:59:50Z",
			"hostname":     "login.example.com",
		},
		codes: recaptchaCodes,
	},
	{
		name: "recaptcha v3",
		new:  captcha.NewRecaptcha,
		ok: map[string]any{
			"success":      true,
			"score":        0.9,
			"action":       "login",
			"challenge_ts": "2025-06-01T11:59:50+0000",
			"hostname":     "login.example.com",
		},
		codes:     recaptchaCodes,
		hasScore:  true,
		hasAction: true,
	},
	{
		name: "hcaptcha",
		new:  captcha.NewHCaptcha,
		ok: map[string]any{
			"success":      true,
			"challenge_ts": "2025-06-01T11:59:50.123Z",
			"hostname":     "login.example.com",
			"credit":       false,
		},
		codes: map[string]error{
			"missing-input-secret":             errUnavailable,
			"invalid-input-secret":             errUnavailable,
			"missing-input-response":           errInvalid,
			"invalid-input-response":           errInvalid,
			"expired-input-response":           errInvalid,
			"already-seen-response":            errInvalid,
			"bad-request":                      errUnavailable,
			"missing-remoteip":                 errUnavailable,
			"invalid-remoteip":                 errUnavailable,
			"not-using-dummy-passcode":         errUnavailable,
			"sitekey-secret-mismatch":          errUnavailable,
			"invalid-or-already-seen-response": errInvalid,
		},
		sendsSiteKey: true,
	},
	{
		name: "hcaptcha enterprise",
		new:  captcha.NewHCaptcha,
		ok: map[string]any{
			"success":      true,
			"challenge_ts": "2025-06-01T11:59:50.123Z",
			"hostname":     "login.example.com",
			"score":        0.1,
			"score_reason": []string{"safe"},
		},
		codes:        map[string]error{"invalid-input-response": errInvalid, "sitekey-secret-mismatch": errUnavailable},
		sendsSiteKey: true,
		hasScore:     true,
		scoreIsRisk:  true,
	},
	{
		name: "turnstile",
		new:  captcha.NewTurnstile,
		ok: map[string]any{
			"success":      true,
			"error-codes":  []string{},
			"challenge_ts": "2025-06-01T11:59:50.274Z",
			"hostname":     "login.example.com",
			"action":       "login",
			"cdata":        "sessionid-123456789",
			"metadata":     map[string]any{"ephemeral_id": "x:9f78e0ed210960d7693b167e"},
		},
		codes: map[string]error{
			"missing-input-secret":   errUnavailable,
			"invalid-input-secret":   errUnavailable,
			"missing-input-response": errInvalid,
			"invalid-input-response": errInvalid,
			"invalid-widget-id":      errUnavailable,
			"invalid-parsed-secret":  errUnavailable,
			"bad-request":            errUnavailable,
			"timeout-or-duplicate":   errInvalid,
			"internal-error":         errUnavailable,
		},
		retries:   true,
		hasAction: true,
	},
}

// with returns the answer m with the given fields set (nil deletes).
func with(m map[string]any, kv ...any) string {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func refusal(codes ...string) string {
	b, _ := json.Marshal(map[string]any{"success": false, "error-codes": codes})
	return string(b)
}

// svCase is one verification against the fake server.
type svCase struct {
	name     string
	cfg      func(*captcha.Config)
	response string // default "tok-123"
	remoteIP string // default "203.0.113.7"
	replies  []reply
	want     error // nil: passed
	calls    int
	// wantIP is the remoteip the provider must receive ("" none);
	// default "203.0.113.7".
	wantIP *string
}

func strp(s string) *string { return &s }

// cases returns the table for provider p.
func cases(p providerCase) []svCase {
	ok := with(p.ok)
	// retried is what a network error or a 5xx costs: Turnstile retries
	// once, the others never (their tokens are single-use).
	failCalls, retryWant := 1, error(errUnavailable)
	if p.retries {
		failCalls, retryWant = 2, nil
	}
	tcs := []svCase{
		{name: "success", replies: []reply{{body: ok}}, calls: 1},
		{name: "empty response", response: "-", replies: []reply{{body: ok}}, want: errRequired},
		{name: "response at the limit", response: strings.Repeat("t", captcha.MaxResponseLength), replies: []reply{{body: ok}}, calls: 1},
		{name: "response over the limit", response: strings.Repeat("t", captcha.MaxResponseLength+1), replies: []reply{{body: ok}}, want: errInvalid},
		{name: "refused without error codes", replies: []reply{{body: `{"success":false}`}}, want: errInvalid, calls: 1},
		{name: "refused with an unknown code", replies: []reply{{body: refusal("new-code")}}, want: errUnavailable, calls: 1},
		{name: "token and server codes", replies: []reply{{body: refusal("invalid-input-response", "invalid-input-secret")}}, want: errUnavailable, calls: 1},
		{name: "token and unknown codes", replies: []reply{{body: refusal("invalid-input-response", "new-code")}}, want: errInvalid, calls: 1},
		{name: "success with error codes", replies: []reply{{body: with(p.ok, "error-codes", []string{"invalid-input-secret"})}}, want: errUnavailable, calls: 1},
		{name: "hostname allowed", cfg: hosts("other.example.com", "LOGIN.example.com."), replies: []reply{{body: ok}}, calls: 1},
		{name: "hostname mismatch", cfg: hosts("other.example.com"), replies: []reply{{body: with(p.ok, "hostname", "evil.example.net")}}, want: errInvalid, calls: 1},
		{name: "hostname missing", cfg: hosts("login.example.com"), replies: []reply{{body: with(p.ok, "hostname", nil)}}, want: errInvalid, calls: 1},
		{name: "any hostname", replies: []reply{{body: with(p.ok, "hostname", "anything.example.org")}}, calls: 1},
		{name: "old challenge", replies: []reply{{body: with(p.ok, "challenge_ts", "2025-06-01T11:54:59Z")}}, want: errInvalid, calls: 1},
		{name: "old challenge, check off", cfg: func(c *captcha.Config) { c.MaxAge = -1 }, replies: []reply{{body: with(p.ok, "challenge_ts", "2025-06-01T11:00:00Z")}}, calls: 1},
		{name: "unreadable challenge_ts", replies: []reply{{body: with(p.ok, "challenge_ts", "yesterday")}}, want: errUnavailable, calls: 1},
		{name: "slow answer", cfg: func(c *captcha.Config) { c.Timeout = 100 * time.Millisecond }, replies: []reply{{slow: true}}, want: errUnavailable, calls: 1},
		{name: "500", replies: []reply{{status: 500, body: `{"error":"oops"}`}}, want: errUnavailable, calls: failCalls},
		{name: "502 then success", replies: []reply{{status: 502, body: "<html>Bad Gateway</html>"}, {body: ok}}, want: retryWant, calls: failCalls},
		{name: "connection dropped then success", replies: []reply{{drop: true}, {body: ok}}, want: retryWant, calls: failCalls},
		{name: "connection dropped twice", replies: []reply{{drop: true}}, want: errUnavailable, calls: failCalls},
		{name: "garbage", replies: []reply{{body: "<html><body>Just a moment...</body></html>"}}, want: errUnavailable, calls: 1},
		{name: "empty body", replies: []reply{{body: ""}}, want: errUnavailable, calls: 1},
		{name: "null", replies: []reply{{body: "null"}}, want: errUnavailable, calls: 1},
		{name: "array", replies: []reply{{body: "[true]"}}, want: errUnavailable, calls: 1},
		{name: "no success field", replies: []reply{{body: with(p.ok, "success", nil)}}, want: errUnavailable, calls: 1},
		{name: "success not a boolean", replies: []reply{{body: with(p.ok, "success", "true")}}, want: errUnavailable, calls: 1},
		{name: "error codes not a list", replies: []reply{{body: `{"success":false,"error-codes":"invalid-input-response"}`}}, want: errUnavailable, calls: 1},
		{name: "data after the object", replies: []reply{{body: ok + `{"success":true}`}}, want: errUnavailable, calls: 1},
		{name: "answer over 64 KiB", replies: []reply{{body: with(p.ok, "padding", strings.Repeat("x", 64<<10))}}, want: errUnavailable, calls: 1},
		{name: "redirect", replies: []reply{{redirect: "/elsewhere"}}, want: errUnavailable, calls: 1},
		{name: "400 with a refusal", replies: []reply{{status: 400, body: refusal("invalid-input-response")}}, want: errInvalid, calls: 1},
		{name: "400 with success", replies: []reply{{status: 400, body: ok}}, want: errUnavailable, calls: 1},
		{name: "403 garbage", replies: []reply{{status: 403, body: "Forbidden"}}, want: errUnavailable, calls: 1},
		{name: "secret echoed in a refusal", replies: []reply{{body: refusal("invalid-input-secret", secret, "x"+secret+"y")}}, want: errUnavailable, calls: 1},
		{name: "secret echoed as hostname", cfg: hosts("login.example.com"), replies: []reply{{body: with(p.ok, "hostname", strings.Repeat("a", 60)+secret)}}, want: errInvalid, calls: 1},
		{name: "secret echoed as challenge_ts", replies: []reply{{body: with(p.ok, "challenge_ts", secret)}}, want: errUnavailable, calls: 1},
		{name: "mapped IPv4", remoteIP: "::ffff:198.51.100.9", replies: []reply{{body: ok}}, calls: 1, wantIP: strp("198.51.100.9")},
		{name: "IPv6 with zone", remoteIP: "fe80::1%eth0", replies: []reply{{body: ok}}, calls: 1, wantIP: strp("fe80::1")},
		{name: "no client IP", remoteIP: "-", replies: []reply{{body: ok}}, calls: 1, wantIP: strp("")},
		{name: "client IP not an IP", remoteIP: "unknown", replies: []reply{{body: ok}}, calls: 1, wantIP: strp("")},
		{name: "site key set", cfg: func(c *captcha.Config) { c.SiteKey = siteKey }, replies: []reply{{body: ok}}, calls: 1},
	}
	for code, want := range p.codes {
		tcs = append(tcs, svCase{name: "error code " + code, replies: []reply{{body: refusal(code)}}, want: want, calls: 1})
	}
	if p.hasAction {
		tcs = append(tcs,
			svCase{name: "action mismatch", replies: []reply{{body: with(p.ok, "action", "signup")}}, want: errInvalid, calls: 1},
			svCase{name: "action configured", cfg: func(c *captcha.Config) { c.Action = "signup" }, replies: []reply{{body: with(p.ok, "action", "signup")}}, calls: 1},
			svCase{name: "secret echoed as action", replies: []reply{{body: with(p.ok, "action", secret)}}, want: errInvalid, calls: 1},
		)
	}
	if p.hasScore {
		good, bad := 0.5, 0.49 // at and under the default minimum
		if p.scoreIsRisk {
			good, bad = 0.5, 0.51 // risks: at and over 1 - minimum
		}
		tcs = append(tcs,
			svCase{name: "score at the limit", replies: []reply{{body: with(p.ok, "score", good)}}, calls: 1},
			svCase{name: "score past the limit", replies: []reply{{body: with(p.ok, "score", bad)}}, want: errInvalid, calls: 1},
			svCase{name: "score check off", cfg: func(c *captcha.Config) { c.MinScore = -1 }, replies: []reply{{body: with(p.ok, "score", bad)}}, calls: 1},
			svCase{name: "score out of range", replies: []reply{{body: with(p.ok, "score", 1.5)}}, want: errUnavailable, calls: 1},
			svCase{name: "score not a number", replies: []reply{{body: with(p.ok, "score", "high")}}, want: errUnavailable, calls: 1},
		)
		if !p.scoreIsRisk {
			tcs = append(tcs,
				svCase{name: "low score", replies: []reply{{body: with(p.ok, "score", 0.1)}}, want: errInvalid, calls: 1},
				svCase{name: "stricter minimum", cfg: func(c *captcha.Config) { c.MinScore = 0.95 }, replies: []reply{{body: ok}}, want: errInvalid, calls: 1},
			)
		} else {
			tcs = append(tcs, svCase{name: "high risk", replies: []reply{{body: with(p.ok, "score", 0.9)}}, want: errInvalid, calls: 1})
		}
	}
	return tcs
}

func hosts(hs ...string) func(*captcha.Config) {
	return func(c *captcha.Config) { c.Hostnames = hs }
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSiteVerify(t *testing.T) {
	for _, p := range providerCases {
		t.Run(p.name, func(t *testing.T) {
			for _, tc := range cases(p) {
				t.Run(tc.name, func(t *testing.T) {
					runCase(t, p, tc)
				})
			}
		})
	}
}

func runCase(t *testing.T, p providerCase, tc svCase) {
	f := newFakeSiteverify(t, tc.replies...)
	var logs bytes.Buffer
	cfg := captcha.Config{
		Secret:    secret,
		VerifyURL: f.URL,
		Now:       func() time.Time { return testNow },
		Logger:    slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	v, err := p.new(cfg)
	if err != nil {
		t.Fatal(err)
	}
	response := tc.response
	switch response {
	case "":
		response = "tok-123"
	case "-":
		response = ""
	}
	remoteIP := tc.remoteIP
	switch remoteIP {
	case "":
		remoteIP = "203.0.113.7"
	case "-":
		remoteIP = ""
	}

	err = v.Verify(context.Background(), response, remoteIP)
	checkErr(t, err, tc.want)

	// The HTTP edge logs the error of a 503; do the same here, and check
	// that neither that line nor the verifier's own carries the secret.
	slog.New(slog.NewJSONHandler(&logs, nil)).Error("request failed", "err", err)
	noSecret(t, "log output", logs.String())
	if tc.want == errInvalid && !strings.Contains(logs.String(), "captcha rejected") {
		t.Errorf("a refusal was not logged:\n%s", logs.String())
	}
	if tc.want != errInvalid && strings.Contains(logs.String(), "captcha rejected") {
		t.Errorf("logged a refusal that is not one:\n%s", logs.String())
	}

	calls, strays := f.recorded()
	if len(calls) != tc.calls {
		t.Fatalf("provider got %d calls, want %d", len(calls), tc.calls)
	}
	if strays != 0 {
		t.Errorf("%d requests went elsewhere (a followed redirect?)", strays)
	}
	wantIP := "203.0.113.7"
	if tc.wantIP != nil {
		wantIP = *tc.wantIP
	}
	var keys []string
	for i, c := range calls {
		if c.method != http.MethodPost || c.contentType != "application/x-www-form-urlencoded" {
			t.Errorf("call %d: %s with %q, want a form POST", i, c.method, c.contentType)
		}
		want := url.Values{"secret": {secret}, "response": {response}}
		if wantIP != "" {
			want.Set("remoteip", wantIP)
		}
		if p.sendsSiteKey && cfg.SiteKey != "" {
			want.Set("sitekey", cfg.SiteKey)
		}
		if p.retries {
			k := c.form.Get("idempotency_key")
			if !uuidRE.MatchString(k) {
				t.Errorf("call %d: idempotency_key %q is not a random UUID", i, k)
			}
			keys = append(keys, k)
			want.Set("idempotency_key", k)
		}
		if !equalForms(c.form, want) {
			t.Errorf("call %d: form %v, want %v", i, c.form, want)
		}
	}
	if len(keys) == 2 && keys[0] != keys[1] {
		t.Errorf("retry used idempotency_key %q, first call %q", keys[1], keys[0])
	}
}

func equalForms(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if len(v) != 1 || b.Get(k) != v[0] {
			return false
		}
	}
	return true
}

// checkErr checks err against want (nil, or one of the captcha errors),
// and that it never shows the secret.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Verify: %v, want a pass", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Verify: %v, want %v", err, want)
	}
	e := latchkey.AsError(err)
	if want == errUnavailable && e.RetryAfter <= 0 {
		t.Errorf("unavailable without Retry-After: %+v", e)
	}
	noSecret(t, "error", err.Error())
	noSecret(t, "error %+v", fmt.Sprintf("%+v", err))
	if e.Detail != latchkey.AsError(want).Detail {
		t.Errorf("detail %q, want the generic %q", e.Detail, latchkey.AsError(want).Detail)
	}
}

func noSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, form := range []string{secretCore, url.QueryEscape(secret)} {
		if strings.Contains(s, form) {
			t.Errorf("%s shows the secret: %s", what, s)
		}
	}
}

// TestSiteVerifyUnreachable checks that a provider that cannot be reached
// is unavailable, and that the error (which names the URL) shows no
// secret.
func TestSiteVerifyUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/siteverify"
	srv.Close()
	for _, p := range providerCases {
		t.Run(p.name, func(t *testing.T) {
			v, err := p.new(captcha.Config{Secret: secret, VerifyURL: u, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			checkErr(t, v.Verify(context.Background(), "tok-123", "203.0.113.7"), errUnavailable)
		})
	}
}

// TestSiteVerifyCanceled checks that a request that went away is not a
// pass.
func TestSiteVerifyCanceled(t *testing.T) {
	f := newFakeSiteverify(t, reply{body: `{"success":true}`})
	v, err := captcha.NewTurnstile(captcha.Config{Secret: secret, VerifyURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checkErr(t, v.Verify(ctx, "tok-123", ""), errUnavailable)
}

// TestTurnstileIdempotencyKeys checks that each verification draws a new
// idempotency key.
func TestTurnstileIdempotencyKeys(t *testing.T) {
	f := newFakeSiteverify(t, reply{body: `{"success":true}`})
	v, err := captcha.NewTurnstile(captcha.Config{Secret: secret, VerifyURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := v.Verify(context.Background(), "tok-123", ""); err != nil {
			t.Fatal(err)
		}
	}
	calls, _ := f.recorded()
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c.form.Get("idempotency_key")] = true
	}
	if len(seen) != 3 {
		t.Fatalf("3 verifications used %d distinct idempotency keys", len(seen))
	}
}

func TestSiteVerifyOfficialURLs(t *testing.T) {
	// No call out: the constants are what the providers document.
	for name, u := range map[string]string{
		"recaptcha": captcha.RecaptchaURL,
		"hcaptcha":  captcha.HCaptchaURL,
		"turnstile": captcha.TurnstileURL,
	} {
		if want := map[string]string{
			"recaptcha": "https://www.google.com/recaptcha/api/siteverify",
			"hcaptcha":  "https://api.hcaptcha.com/siteverify",
			"turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
		}[name]; u != want {
			t.Errorf("%s: %s, want %s", name, u, want)
		}
	}
}

func TestNewSiteVerifyConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  captcha.Config
		ok   bool
	}{
		{"defaults", captcha.Config{Secret: secret}, true},
		{"no secret", captcha.Config{}, false},
		{"short secret", captcha.Config{Secret: "abc"}, false},
		{"relative URL", captcha.Config{Secret: secret, VerifyURL: "/siteverify"}, false},
		{"ftp URL", captcha.Config{Secret: secret, VerifyURL: "ftp://example.com/x"}, false},
		{"bad URL", captcha.Config{Secret: secret, VerifyURL: "http://[::1"}, false},
		{"score over 1", captcha.Config{Secret: secret, MinScore: 1.1}, false},
		{"score NaN", captcha.Config{Secret: secret, MinScore: math.NaN()}, false},
		{"score 1", captcha.Config{Secret: secret, MinScore: 1}, true},
		{"negative timeout", captcha.Config{Secret: secret, Timeout: -time.Second}, false},
		{"empty hostname", captcha.Config{Secret: secret, Hostnames: []string{"a.example", " "}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range providerCases {
				_, err := p.new(tt.cfg)
				if (err == nil) != tt.ok {
					t.Fatalf("%s: err = %v, want ok %v", p.name, err, tt.ok)
				}
				if err != nil {
					noSecret(t, "error", err.Error())
				}
			}
		})
	}
}

// TestSiteVerifyKeepsClient checks that the caller's client is used but
// not changed (redirects are refused on a copy).
func TestSiteVerifyKeepsClient(t *testing.T) {
	f := newFakeSiteverify(t, reply{redirect: "/elsewhere"})
	client := &http.Client{}
	v, err := captcha.NewHCaptcha(captcha.Config{Secret: secret, VerifyURL: f.URL, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, v.Verify(context.Background(), "tok-123", ""), errUnavailable)
	if client.CheckRedirect != nil {
		t.Error("the caller's client was changed")
	}
	if _, strays := f.recorded(); strays != 0 {
		t.Error("the redirect was followed")
	}
}

// TestSecretNotPrinted checks that printing or logging a Config or a
// verifier shows no secret.
func TestSecretNotPrinted(t *testing.T) {
	cfg := captcha.Config{Secret: secret, SiteKey: siteKey}
	v, err := captcha.NewRecaptcha(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := captcha.PoWConfig{Secret: secret, Guard: newGuard()}
	p, err := captcha.NewPoW(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	for _, x := range []any{cfg, &cfg, v, pcfg, &pcfg, p} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			noSecret(t, verb, fmt.Sprintf(verb, x))
		}
		log.Info("x", "value", x)
	}
	noSecret(t, "log", buf.String())
}
