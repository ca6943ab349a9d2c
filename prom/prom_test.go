package prom_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/prom"
	"github.com/latchkeyhq/latchkey/throttle"
)

func newMetrics() *prom.Metrics {
	m := prom.New(prom.Options{Version: "v1.2.3", CaptchaProvider: "turnstile"})
	m.Watch(prom.State{
		CacheTrusted:   func() bool { return true },
		ChangeFeedLag:  func() time.Duration { return 40 * time.Millisecond },
		CacheEntries:   func() (int, int) { return 3, 2 },
		HashSlotsInUse: func() int { return 1 },
	})
	return m
}

func scrape(t *testing.T, m *prom.Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics = %d", w.Code)
	}
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

// TestExposition checks that each observation lands under its name and
// labels.
func TestExposition(t *testing.T) {
	m := newMetrics()
	m.Login(latchkey.LoginSuccess, 30*time.Millisecond)
	m.Login(latchkey.LoginInvalidCredentials, 30*time.Millisecond)
	m.TokenCheck(true, latchkey.TokenValid)
	m.TokenCheck(false, latchkey.TokenExpired)
	m.ThrottleRefusal(throttle.LimitBackoff)
	m.ThrottleRefusal(throttle.LimitChallenge) // not a login limit: not counted
	m.CaptchaVerification(latchkey.CaptchaUnavailable)
	m.Revocation(latchkey.RevokedLogout)
	m.HashWait(2 * time.Millisecond)
	m.Route("GET /v1/me").Request(200, time.Millisecond)
	m.Route("GET /v1/me").Request(200, time.Millisecond)
	m.Route("").Request(404, time.Millisecond)
	out := scrape(t, m)
	for _, want := range []string{
		`latchkey_logins_total{outcome="success"} 1`,
		`latchkey_logins_total{outcome="invalid_credentials"} 1`,
		`latchkey_logins_total{outcome="throttled"} 0`,
		`latchkey_login_duration_seconds_count 2`,
		`latchkey_token_checks_total{cache="hit",result="valid"} 1`,
		`latchkey_token_checks_total{cache="miss",result="expired"} 1`,
		`latchkey_token_checks_total{cache="miss",result="unavailable"} 0`,
		`latchkey_throttle_refusals_total{limit="backoff"} 1`,
		`latchkey_throttle_refusals_total{limit="ip"} 0`,
		`latchkey_captcha_verifications_total{provider="turnstile",result="unavailable"} 1`,
		`latchkey_revocations_total{reason="logout"} 1`,
		`latchkey_revocations_total{reason="user_disabled"} 0`,
		`latchkey_hash_queue_wait_seconds_count 1`,
		`latchkey_hash_slots_in_use 1`,
		`latchkey_cache_trusted 1`,
		`latchkey_change_feed_lag_seconds 0.04`,
		`latchkey_cache_entries{kind="session"} 3`,
		`latchkey_cache_entries{kind="user"} 2`,
		`latchkey_http_requests_total{code="200",route="GET /v1/me"} 2`,
		`latchkey_http_requests_total{code="404",route="unmatched"} 1`,
		`latchkey_http_request_duration_seconds_count{route="GET /v1/me"} 2`,
		`latchkey_build_info{goversion="go`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
}

// TestHitPathAllocatesNothing: what a cached token check on /v1/me
// reports costs no allocation.
func TestHitPathAllocatesNothing(t *testing.T) {
	m := newMetrics()
	r := m.Route("GET /v1/me")
	r.Request(200, time.Millisecond) // binds the status's counter
	if n := testing.AllocsPerRun(1000, func() {
		m.TokenCheck(true, latchkey.TokenValid)
		r.Request(200, time.Millisecond)
	}); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
