package api_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/api"
)

// routeCounts is an api.Metrics that counts requests by route and status.
type routeCounts struct {
	mu     sync.Mutex
	counts map[string]int
}

type routeCount struct {
	c       *routeCounts
	pattern string
}

func (c *routeCounts) Route(pattern string) api.RouteMetrics { return routeCount{c, pattern} }

func (r routeCount) Request(code int, d time.Duration) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if d < 0 {
		r.c.counts["negative duration"]++
	}
	r.c.counts[fmt.Sprintf("%s %d", r.pattern, code)]++
}

// TestMetricsByRoute checks that requests are counted under the pattern
// that matched them, never their path, with the status they got.
func TestMetricsByRoute(t *testing.T) {
	m := &routeCounts{counts: map[string]int{}}
	e := newEnv(t, envOptions{api: api.Options{Metrics: m}})
	tok, body := e.login(t, "alice")
	bearer := "Bearer " + tok
	e.do(t, "GET", "/v1/me", bearer, "", nil)
	e.do(t, "GET", "/v1/me", "", "", nil)
	e.do(t, "DELETE", "/v1/sessions/"+body["session_id"].(string), bearer, "", nil)
	e.do(t, "DELETE", "/v1/sessions/nosuchsession", bearer, "", nil)
	e.do(t, "GET", "/v1/forward-auth", bearer, "", nil)
	e.do(t, "GET", "/v1/nosuchroute", "", "", nil)
	e.do(t, "PUT", "/v1/login", "", "", nil)
	e.do(t, "GET", "/healthz", "", "", nil)
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]int{
		"POST /v1/login 200":           1,
		"GET /v1/me 200":               1,
		"GET /v1/me 401":               1,
		"DELETE /v1/sessions/{id} 204": 1,
		"DELETE /v1/sessions/{id} 401": 1, // the session's own token, revoked by the delete
		"GET /v1/forward-auth 401":     1,
		" 404":                         1,
		" 405":                         1,
		"GET /healthz 200":             1,
	}
	if fmt.Sprint(m.counts) != fmt.Sprint(want) {
		t.Fatalf("counted %v, want %v", m.counts, want)
	}
}
