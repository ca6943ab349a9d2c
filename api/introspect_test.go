package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/throttle"
)

// basic is the Authorization header of a service client: id and secret
// form-urlencoded, then base64, as RFC 6749 §2.3.1 has it.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// newIntrospectEnv is newEnv with the service client billing, whose
// Authorization header it returns with its secret.
func newIntrospectEnv(t *testing.T, eo envOptions) (e *env, auth, secret string) {
	t.Helper()
	e = newEnv(t, eo)
	_, s, err := e.auth.AddServiceClient(context.Background(), "billing")
	if err != nil {
		t.Fatal(err)
	}
	return e, basic("billing", s.Reveal()), s.Reveal()
}

// introspect posts a form body to /v1/introspect with the Authorization
// header auth (none when empty) and the headers hdr.
func (e *env) introspect(t *testing.T, auth, body string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/introspect", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// tamper returns s with its last character changed.
func tamper(s string) string {
	last := "A"
	if strings.HasSuffix(s, last) {
		last = "B"
	}
	return s[:len(s)-1] + last
}

func tokenForm(tok string) string { return url.Values{"token": {tok}}.Encode() }

// wantNoStore checks that r is kept out of caches.
func wantNoStore(t *testing.T, r response) {
	t.Helper()
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Fatalf("%d %s without no-store: %v", r.status, r.body, r.header)
	}
}

// wantInactive checks that r is the answer about a token that is not
// active, and nothing more.
func wantInactive(t *testing.T, r response) {
	t.Helper()
	if r.status != 200 || string(r.body) != "{\"active\":false}\n" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q, want 200 {\"active\":false}", r.status, r.body)
	}
	wantNoStore(t, r)
}

// wantInvalidClient checks that r refuses the service client.
func wantInvalidClient(t *testing.T, r response) {
	t.Helper()
	if r.status != 401 {
		t.Fatalf("status %d %s, want 401", r.status, r.body)
	}
	m := r.json(t)
	if m["code"] != "invalid_client" || m["detail"] != "Client authentication failed." || len(m) != 2 {
		t.Fatalf("body %s, want invalid_client", r.body)
	}
	if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != `Basic realm="latchkey"` {
		t.Fatalf("WWW-Authenticate %q, want Basic realm", got)
	}
	wantNoStore(t, r)
}

func TestIntrospectActive(t *testing.T) {
	e, auth, _ := newIntrospectEnv(t, envOptions{})
	now := e.clock.Now()
	tok, login := e.login(t, "alice")
	id := int64(login["user"].(map[string]any)["id"].(float64))
	for _, tc := range []struct{ name, ct, body string }{
		{"form", "application/x-www-form-urlencoded", tokenForm(tok)},
		{"access token hint", "application/x-www-form-urlencoded", tokenForm(tok) + "&token_type_hint=access_token"},
		{"refresh token hint", "application/x-www-form-urlencoded", "token_type_hint=refresh_token&" + tokenForm(tok)},
		{"json", "application/json", `{"token":"` + tok + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/introspect", auth, tc.ct, tc.body)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			wantNoStore(t, r)
			var got map[string]any
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"active":     true,
				"token_type": "Bearer",
				"sub":        strconv.FormatInt(id, 10),
				"username":   "alice",
				"email":      "alice@example.com",
				"exp":        json.Number(strconv.FormatInt(now.Add(time.Hour).Unix(), 10)),
				"iat":        json.Number(strconv.FormatInt(now.Unix(), 10)),
				"jti":        login["session_id"],
			}
			if len(got) != len(want) {
				t.Fatalf("body %s, want the keys of %v", r.body, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

// failingSessions is a store whose session lookups fail, as a database
// that stopped answering does.
type failingSessions struct{ latchkey.Store }

func (failingSessions) SessionByDigest(context.Context, latchkey.Digest) (latchkey.Session, latchkey.User, error) {
	return latchkey.Session{}, latchkey.User{}, latchkey.Internal("store: session by digest: %w", errors.New("disk on fire"))
}

func TestIntrospectInactive(t *testing.T) {
	e, auth, _ := newIntrospectEnv(t, envOptions{})
	alice, _ := e.login(t, "alice")
	loggedOut, _ := e.login(t, "alice")
	if r := e.do(t, "POST", "/v1/logout", "Bearer "+loggedOut, "", nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	bob, _ := e.login(t, "bob")
	if err := e.auth.SetUserActive(context.Background(), "bob", false); err != nil {
		t.Fatal(err)
	}
	unknown, _ := latchkey.NewToken(nil)
	for _, tc := range []struct{ name, token string }{
		{"unknown", unknown.Reveal()},
		{"logged out", loggedOut},
		{"user disabled", bob},
		{"malformed", "lk_ä"},
		{"with a space", alice + " x"},
		{"too long", strings.Repeat("a", 257)},
		{"a client secret", "lkc_" + strings.Repeat("A", 43)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantInactive(t, e.introspect(t, auth, tokenForm(tc.token), nil))
		})
	}
	t.Run("expired", func(t *testing.T) {
		if r := e.introspect(t, auth, tokenForm(alice), nil); r.status != 200 || !strings.Contains(string(r.body), `"active":true`) {
			t.Fatalf("before its expiry: %d %s", r.status, r.body)
		}
		e.clock.Add(time.Hour)
		wantInactive(t, e.introspect(t, auth, tokenForm(alice), nil))
	})
}

// TestIntrospectRequest checks the refusals of a malformed request: the
// rest of the API's, and no-store on each.
func TestIntrospectRequest(t *testing.T) {
	e, auth, _ := newIntrospectEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	for _, tc := range []struct {
		name, ct, body string
		status         int
		code, field    string
	}{
		{"no token", "application/x-www-form-urlencoded", "token_type_hint=access_token", 400, "invalid_request", "token"},
		{"empty token", "application/x-www-form-urlencoded", "token=", 400, "invalid_request", "token"},
		{"token twice", "application/x-www-form-urlencoded", tokenForm(tok) + "&" + tokenForm(tok), 400, "invalid_request", "token"},
		{"hint twice", "application/x-www-form-urlencoded", tokenForm(tok) + "&token_type_hint=a&token_type_hint=b", 400, "invalid_request", "token_type_hint"},
		{"token in json twice", "application/json", `{"token":"a","token":"` + tok + `"}`, 400, "invalid_request", "token"},
		{"token a number", "application/json", `{"token":7}`, 400, "invalid_request", "token"},
		{"text", "text/plain", tokenForm(tok), 415, "unsupported_media_type", ""},
		{"over 64 KiB", "application/x-www-form-urlencoded", tokenForm(strings.Repeat("a", 70000)), 413, "request_too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/introspect", auth, tc.ct, tc.body)
			m := wantError(t, r, tc.status, tc.code)
			wantNoStore(t, r)
			if tc.field != "" {
				if fs, _ := m["fields"].(map[string]any); fs[tc.field] == nil {
					t.Fatalf("fields %v do not name %s", m["fields"], tc.field)
				}
			}
		})
	}
	wantError(t, e.do(t, "GET", "/v1/introspect", auth, "", nil), 405, "method_not_allowed")
}

// TestIntrospectClientAuth checks that the service client must
// authenticate with HTTP Basic, its id and secret form-urlencoded, and
// that every failure gets one identical answer.
func TestIntrospectClientAuth(t *testing.T) {
	e, auth, secret := newIntrospectEnv(t, envOptions{})
	_, other, err := e.auth.AddServiceClient(context.Background(), "reports")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := e.login(t, "alice")
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	var first []byte
	for _, tc := range []struct {
		name string
		auth []string
	}{
		{"no credentials", nil},
		{"the user's token", []string{"Bearer " + tok}},
		{"not base64", []string{"Basic !!!"}},
		{"no colon", []string{b64("billing" + secret)}},
		{"no secret", []string{b64("billing:")}},
		{"no name", []string{b64(":" + secret)}},
		{"wrong secret", []string{basic("billing", tamper(secret))}},
		{"unknown client", []string{basic("nosuch", secret)}},
		{"another client's secret", []string{basic("reports", secret)}},
		{"the name in another case", []string{basic("Billing", secret)}},
		{"a name no client can have", []string{basic("bill ing", secret)}},
		{"the secret's digest", []string{basic("billing", latchkey.ClientSecret(secret).Digest().Hex())}},
		{"a bad escape", []string{b64("billing:%zz" + secret)}},
		{"twice", []string{auth, auth}},
		{"in the query", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/introspect"
			if tc.name == "in the query" {
				path += "?client_id=billing&client_secret=" + url.QueryEscape(secret)
			}
			req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(tokenForm(tok)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			r := response{res.StatusCode, res.Header, b}
			wantInvalidClient(t, r)
			if first == nil {
				first = r.body
			}
			if !bytes.Equal(r.body, first) {
				t.Fatalf("body %s, want the same as %s", r.body, first)
			}
		})
	}
	// Credentials in the body are not read either.
	wantInvalidClient(t, e.introspect(t, "", tokenForm(tok)+"&client_id=billing&client_secret="+url.QueryEscape(secret), nil))

	// What RFC 6749 allows is accepted: any case of the scheme, spaces,
	// an id escaped, and each client with its own secret.
	for _, a := range []string{
		auth,
		"basic " + strings.TrimPrefix(auth, "Basic "),
		"BASIC   " + strings.TrimPrefix(auth, "Basic ") + " ",
		b64("%62illing:" + url.QueryEscape(secret)),
		basic("reports", other.Reveal()),
	} {
		if r := e.introspect(t, a, tokenForm(tok), nil); r.status != 200 || !strings.Contains(string(r.body), `"active":true`) {
			t.Fatalf("Authorization %q: %d %s", a, r.status, r.body)
		}
	}
	// A removed client is refused at once.
	if err := e.auth.RemoveServiceClient(context.Background(), "billing"); err != nil {
		t.Fatal(err)
	}
	wantInvalidClient(t, e.introspect(t, auth, tokenForm(tok), nil))
}

// TestIntrospectThrottled checks that failed client authentications are
// limited per client address, and nothing else is.
func TestIntrospectThrottled(t *testing.T) {
	now := time.Now()
	e, auth, secret := newIntrospectEnv(t, envOptions{
		api: api.Options{ClientIP: api.ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		clientThrottle: newLimiter(t, throttle.Config{
			ServiceClient: latchkey.Bucket{Burst: 3, Every: time.Minute},
			Now:           func() time.Time { return now }, // a full minute to wait
		}),
	})
	tok, _ := e.login(t, "alice")
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	active := func(ip string) {
		t.Helper()
		if r := e.introspect(t, auth, tokenForm(tok), from(ip)); r.status != 200 || !strings.Contains(string(r.body), `"active":true`) {
			t.Fatalf("from %s: %d %s", ip, r.status, r.body)
		}
	}
	// Successes, and requests without credentials, are not counted.
	for range 20 {
		active("198.51.100.1")
		wantInvalidClient(t, e.introspect(t, "", tokenForm(tok), from("198.51.100.1")))
	}
	// An unknown client counts as a wrong secret does.
	wantInvalidClient(t, e.introspect(t, basic("nosuch", secret), tokenForm(tok), from("198.51.100.1")))
	wantInvalidClient(t, e.introspect(t, basic("billing", "lkc_wrong"), tokenForm(tok), from("198.51.100.1")))
	wantInvalidClient(t, e.introspect(t, basic("bill ing", secret), tokenForm(tok), from("198.51.100.1")))
	// Past the burst, the address is refused whatever it sends.
	for _, a := range []string{auth, basic("billing", "lkc_wrong")} {
		r := e.introspect(t, a, tokenForm(tok), from("198.51.100.1"))
		wantError(t, r, 429, "throttled")
		wantNoStore(t, r)
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Fatalf("Retry-After %q, want 60", got)
		}
		if strings.Contains(string(r.body), "active") {
			t.Fatalf("a refusal says something of the token: %s", r.body)
		}
	}
	// Another address is another client.
	active("198.51.100.2")
	wantInvalidClient(t, e.introspect(t, basic("billing", "lkc_wrong"), tokenForm(tok), from("198.51.100.2")))
	active("198.51.100.2")
}

// downThrottle is a throttle that cannot count.
type downThrottle struct{}

func (downThrottle) CheckServiceClient(context.Context, netip.Addr) error {
	return latchkey.Unavailable(errors.New("throttle: store down"))
}

func (downThrottle) RecordServiceClient(context.Context, netip.Addr, latchkey.Outcome) error {
	return nil
}

// TestIntrospectUnavailable checks that a check that could not run is a
// 503 with Retry-After, never an answer about the token.
func TestIntrospectUnavailable(t *testing.T) {
	want503 := func(t *testing.T, r response) {
		t.Helper()
		wantError(t, r, 503, "unavailable")
		wantNoStore(t, r)
		if r.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
	unknown, _ := latchkey.NewToken(nil)
	t.Run("token check", func(t *testing.T) {
		e, auth, _ := newIntrospectEnv(t, envOptions{wrap: func(s latchkey.Store) latchkey.Store { return failingSessions{s} }})
		want503(t, e.introspect(t, auth, tokenForm(unknown.Reveal()), nil))
		// A malformed token needs no store to be refused.
		wantInactive(t, e.introspect(t, auth, tokenForm("a b"), nil))
	})
	t.Run("client lookup", func(t *testing.T) {
		e, auth, _ := newIntrospectEnv(t, envOptions{})
		e.store.Close()
		want503(t, e.introspect(t, auth, tokenForm(unknown.Reveal()), nil))
	})
	t.Run("throttle", func(t *testing.T) {
		e, auth, _ := newIntrospectEnv(t, envOptions{clientThrottle: downThrottle{}})
		want503(t, e.introspect(t, auth, tokenForm(unknown.Reveal()), nil))
	})
}

// TestIntrospectLog checks that no secret reaches the log: neither the
// client's secret, right or wrong, nor the token, nor their digests; and
// that a refused client is logged by name only when it exists.
func TestIntrospectLog(t *testing.T) {
	var buf bytes.Buffer
	now := time.Now()
	e, auth, secret := newIntrospectEnv(t, envOptions{
		logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		clientThrottle: newLimiter(t, throttle.Config{
			ServiceClient: latchkey.Bucket{Burst: 2, Every: time.Minute},
			Now:           func() time.Time { return now },
		}),
	})
	tok, _ := e.login(t, "alice")
	wrong := "lkc_" + strings.Repeat("W", 43)
	guess := "lkc_" + strings.Repeat("G", 43)
	if r := e.introspect(t, auth, tokenForm(tok), nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	wantInactive(t, e.introspect(t, auth, tokenForm("lk_"+strings.Repeat("U", 43)), nil))
	wantInvalidClient(t, e.introspect(t, basic("billing", wrong), tokenForm(tok), nil))
	wantInvalidClient(t, e.introspect(t, basic(guess, wrong), tokenForm(tok), nil))
	wantError(t, e.introspect(t, basic("billing", wrong), tokenForm(tok), nil), 429, "throttled")

	log := buf.String()
	for _, s := range []string{
		secret, secret[4:], wrong[4:], guess[4:], tok, tok[3:], strings.Repeat("U", 43),
		latchkey.ClientSecret(secret).Digest().Hex(), latchkey.ClientSecret(wrong).Digest().Hex(),
		latchkey.Token(tok).Digest().Hex(),
	} {
		if strings.Contains(log, s) {
			t.Fatalf("a secret reached the log:\n%s", log)
		}
	}
	type line struct{ Msg, Outcome, Client, Reason string }
	var refused []line
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.Msg == "introspect: client refused" {
			refused = append(refused, v)
		}
	}
	want := []line{
		{"introspect: client refused", "invalid_client", "billing", ""},
		{"introspect: client refused", "invalid_client", "", ""},
		{"introspect: client refused", "throttled", "billing", "service_client_failures"},
	}
	if !slices.Equal(refused, want) {
		t.Fatalf("refusals logged %+v, want %+v\n%s", refused, want, log)
	}
}
