package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEvents: GET /v1/events shows the caller their own events, newest
// first, in pages, a failed login against the account as "login.failure"
// without its reason, and nothing of other users.
func TestEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	e.login(t, "bob")
	r := e.do(t, "POST", "/v1/login", "", "", map[string]string{"username": "alice", "password": "not her password"})
	wantError(t, r, 401, "invalid_credentials")
	e.do(t, "POST", "/v1/login", "", "", map[string]string{"username": "nobody", "password": "not her password"})
	if err := e.auth.FlushEvents(t.Context()); err != nil {
		t.Fatal(err)
	}

	type page struct {
		Events []map[string]any `json:"events"`
		Next   *string          `json:"next"`
	}
	get := func(query string) page {
		t.Helper()
		r := e.do(t, "GET", "/v1/events"+query, "Bearer "+tok, "", nil)
		if r.status != 200 {
			t.Fatalf("GET /v1/events%s: %d %s", query, r.status, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		for _, secret := range []string{"not her password", "wrong_password", "unknown_user", "nobody", "bob"} {
			if strings.Contains(string(r.body), secret) {
				t.Fatalf("the events show %q: %s", secret, r.body)
			}
		}
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := get("")
	if len(all.Events) != 2 || all.Next != nil {
		t.Fatalf("events: %+v, want 2 and no next page", all)
	}
	if all.Events[0]["kind"] != "login.failure" || all.Events[1]["kind"] != "login.success" {
		t.Fatalf("kinds: %v, %v", all.Events[0]["kind"], all.Events[1]["kind"])
	}
	for _, k := range []string{"id", "at", "kind", "ip", "user_agent", "session_id"} {
		if _, ok := all.Events[1][k]; !ok {
			t.Errorf("no %s in %v", k, all.Events[1])
		}
	}
	if all.Events[0]["ip"] != "127.0.0.1" || all.Events[1]["session_id"] == "" {
		t.Errorf("events: %v", all.Events)
	}
	first := get("?limit=1")
	if len(first.Events) != 1 || first.Next == nil {
		t.Fatalf("first page: %+v, want 1 and a next", first)
	}
	second := get("?limit=1&before=" + *first.Next)
	if len(second.Events) != 1 || second.Events[0]["kind"] != "login.success" {
		t.Fatalf("second page: %+v", second)
	}

	for _, q := range []string{"?before=x", "?before=0", "?limit=0", "?limit=201", "?limit=1&limit=2"} {
		r := e.do(t, "GET", "/v1/events"+q, "Bearer "+tok, "", nil)
		wantError(t, r, 400, "invalid_request")
	}
	wantError(t, e.do(t, "GET", "/v1/events", "", "", nil), 401, "not_authenticated")
}
