package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// metricsURL waits for the server's "metrics listening" line and returns
// its /metrics URL.
func (p *proc) metricsURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.output(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "metrics listening" {
				return "http://" + m["addr"].(string) + "/metrics"
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no metrics listening line\n%s", p.output())
	return ""
}

func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", url, res.StatusCode, b)
	}
	return string(b)
}

// labelValue matches each label value of the text exposition.
var labelValue = regexp.MustCompile(`([a-z_]+)="((?:[^"\\]|\\.)*)"`)

// sample returns the value of the exposition's line for series.
func sample(t *testing.T, out, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Errorf("no %s in the exposition", series)
	return 0
}

// TestEndToEndMetrics scrapes the built binary's /metrics, on a listener
// of its own, after a login, a failed one, a cache hit and a logout: the
// counters moved, and no label holds the username, the token, the session,
// the address or the user id.
func TestEndToEndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := dbEnv(t)
	addUser(t, env, "alice")
	p := serve(t, append(env, "LATCHKEY_METRICS_ADDR=127.0.0.1:0"))
	url := p.metricsURL(t)

	if st, _ := p.call(t, "GET", "/metrics", "", nil); st != 404 {
		t.Fatalf("the API's port serves /metrics: %d", st)
	}
	_, login := p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2ePassword})
	tok, _ := login["token"].(string)
	if tok == "" {
		t.Fatalf("login: %v", login)
	}
	if st, _ := p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": "not the password"}); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	st, me := p.call(t, "GET", "/v1/me", tok, nil)
	if st != 200 {
		t.Fatalf("me: %d %v", st, me)
	}
	if st, _ := p.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}

	out := scrapeMetrics(t, url)
	for _, want := range []string{
		`latchkey_logins_total{outcome="success"} 1`,
		`latchkey_logins_total{outcome="invalid_credentials"} 1`,
		`latchkey_login_duration_seconds_count 2`,
		`latchkey_revocations_total{reason="logout"} 1`,
		`latchkey_http_requests_total{code="200",route="POST /v1/login"} 1`,
		`latchkey_http_requests_total{code="401",route="POST /v1/login"} 1`,
		`latchkey_http_requests_total{code="200",route="GET /v1/me"} 1`,
		`latchkey_http_requests_total{code="204",route="POST /v1/logout"} 1`,
		`latchkey_http_requests_total{code="404",route="unmatched"} 1`,
		`latchkey_http_request_duration_seconds_count{route="GET /v1/me"} 1`,
		`latchkey_hash_queue_wait_seconds_count `,
		`latchkey_hash_slots_in_use 0`,
		`latchkey_cache_trusted 1`,
		`latchkey_change_feed_lag_seconds `,
		`latchkey_cache_entries{kind="user"} `,
		`latchkey_build_info{goversion="go`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the exposition", want)
		}
	}
	// /v1/me and the logout: from the cache or, when a sync dropped the
	// lease meanwhile, from the database.
	if n := sample(t, out, `latchkey_token_checks_total{cache="hit",result="valid"}`) +
		sample(t, out, `latchkey_token_checks_total{cache="miss",result="valid"}`); n != 2 {
		t.Errorf("%v valid token checks, want 2", n)
	}
	user, _ := me["id"].(float64)
	secrets := []string{"alice", tok, tok[3:], login["session_id"].(string), "127.0.0.1", "example.com"}
	for _, m := range labelValue.FindAllStringSubmatch(out, -1) {
		name, v := m[1], m[2]
		if name == "le" || name == "quantile" {
			continue // a bucket's bound
		}
		if v == fmt.Sprint(int64(user)) {
			t.Errorf("a label holds the user id: %s", m[0])
		}
		for _, s := range secrets {
			if strings.Contains(v, s) {
				t.Errorf("a label holds %q: %s", s, m[0])
			}
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", out)
	}
}
