package api_test

import (
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/captcha"
	"github.com/latchkeyhq/latchkey/throttle"
)

// TestChallengeLimit checks that GET /v1/captcha/challenge is limited per
// client address, the address the login throttle counts: a forwarded one
// only from a trusted proxy.
func TestChallengeLimit(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		// perForwarded: each forwarded address is a client of its own.
		perForwarded bool
	}{
		{"behind a trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true},
		{"forwarded by an untrusted peer", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			p, err := captcha.NewPoW(captcha.PoWConfig{
				Secret:    "a test secret of enough length",
				Guard:     memory.NewClaims(memory.ClaimsOptions{}),
				MaxNumber: 10,
				Limiter: newLimiter(t, throttle.Config{
					Challenge: latchkey.Bucket{Burst: 3, Every: time.Minute},
					Now:       func() time.Time { return now }, // a full minute to wait
				}),
			})
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, envOptions{api: api.Options{Challenges: p, ClientIP: api.ClientIP{Trusted: tt.trusted}}})
			get := func(from string) response {
				t.Helper()
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/captcha/challenge", nil)
				req.Header.Set("X-Forwarded-For", from)
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return response{res.StatusCode, res.Header, b}
			}
			for i := range 3 {
				if r := get("198.51.100.1"); r.status != 200 {
					t.Fatalf("challenge %d: %d %s", i+1, r.status, r.body)
				}
			}
			r := get("198.51.100.1")
			wantError(t, r, 429, "throttled")
			if got := r.header.Get("Retry-After"); got != "60" {
				t.Errorf("Retry-After %q, want 60", got)
			}
			r = get("198.51.100.2")
			if ok := r.status == 200; ok != tt.perForwarded {
				t.Errorf("another forwarded address: %d %s", r.status, r.body)
			}
		})
	}
}
