package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// rawLogin posts a login with a user agent of the caller's, sent as it
// is, byte for byte.
func (p *proc) rawLogin(t *testing.T, user, pw, userAgent string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	req, _ := http.NewRequest("POST", p.url+"/v1/login", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestEndToEndClientInputPostgres: what a client sends never reaches
// PostgreSQL as bytes it refuses. A username with NUL is invalid input,
// not an outage, and a user agent in Latin-1 (not UTF-8) is cleaned, and
// its login succeeds.
func TestEndToEndClientInputPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	u, _ := pgtest.NewSchema(t)
	env := []string{"LATCHKEY_DATABASE_URL=" + u}
	addUser(t, env, "alice")
	p := serve(t, env)

	for _, name := range []string{"alice\x00", "\x00", "al\x00ice", "alice\x1b[2K"} {
		st, m := p.rawLogin(t, name, e2ePassword, "test")
		if st != 400 || m["code"] != "invalid_request" || m["fields"] == nil {
			t.Errorf("login as %q: %d %v, want 400 invalid_request naming the username", name, st, m)
		}
	}

	ua := "Mozilla/5.0 (Windows; U; fr-FR) Caf\xe9Navigateur/1.0\t\xa9"
	st, m := p.rawLogin(t, "alice", e2ePassword, ua)
	if st != 200 {
		t.Fatalf("login with a Latin-1 user agent: %d %v", st, m)
	}
	st, m = p.call(t, "GET", "/v1/sessions", m["token"].(string), nil)
	if st != 200 {
		t.Fatalf("sessions: %d %v", st, m)
	}
	got := m["sessions"].([]any)[0].(map[string]any)["user_agent"].(string)
	if want := "Mozilla/5.0 (Windows; U; fr-FR) Caf\uFFFDNavigateur/1.0\uFFFD"; got != want {
		t.Errorf("user agent stored as %q, want %q", got, want)
	}
	// The administrator's commands name users by the same rules.
	for _, args := range [][]string{{"user", "disable", "al\xffice"}, {"user", "enable", "alice\x1b[2K"}} {
		out, err := cli(t, env, "", args...)
		if err == nil || !strings.Contains(out, "username: ") || strings.Contains(out, "invalid byte sequence") {
			t.Errorf("%q: %v\n%s", args, err, out)
		}
	}
	if strings.Contains(p.output(), "invalid byte sequence") || strings.Contains(p.output(), `"level":"ERROR"`) {
		t.Errorf("client input logged an error:\n%s", p.output())
	}
}
