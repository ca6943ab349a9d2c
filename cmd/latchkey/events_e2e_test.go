package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEventsEndToEnd: with the built binary, the owner of an account sees
// a failed login against it from another address in GET /v1/events, the
// operator lists every event as JSON lines, the events queued when the
// server stops are written, and no password or token is in any log line
// or event.
func TestEventsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(dbEnv(t), "LATCHKEY_TRUSTED_PROXIES=127.0.0.1/32", "LATCHKEY_CACHE_URL=memory", "LATCHKEY_CAPTCHA_PROVIDER=none")
	addUser(t, env, "alice")
	p := serve(t, env)
	ctx := t.Context()
	c := &http.Client{}
	owner, err := postLogin(ctx, c, p, "198.51.100.1", e2ePassword)
	if err != nil || owner.status != 200 {
		t.Fatalf("owner's login: %+v %v", owner, err)
	}
	const wrong = "not alice's passphrase"
	if r, err := postLogin(ctx, c, p, "203.0.113.9", wrong); err != nil || r.status != 401 {
		t.Fatalf("failed login: %+v %v", r, err)
	}
	const typo = "correct horse as a name"
	if st, m := p.call(t, "POST", "/v1/login", "", map[string]string{"username": typo, "password": wrong}); st != 401 {
		t.Fatalf("unknown name: %d %v", st, m)
	}

	// Written within a flush (200 ms).
	var events []any
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, m := p.call(t, "GET", "/v1/events", owner.token, nil)
		if st != 200 {
			t.Fatalf("GET /v1/events: %d %v", st, m)
		}
		events, _ = m["events"].([]any)
		if len(events) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(events) != 2 {
		t.Fatalf("alice's events: %v, want the failure and her login", events)
	}
	failure, success := events[0].(map[string]any), events[1].(map[string]any)
	if failure["kind"] != "login.failure" || failure["ip"] != "203.0.113.9" || success["kind"] != "login.success" || success["ip"] != "198.51.100.1" {
		t.Fatalf("alice's events: %v", events)
	}
	if _, ok := failure["detail"]; ok {
		t.Fatalf("the reason reached the owner: %v", failure)
	}

	// A logout just before a graceful stop is written by the stop.
	if st, _ := p.call(t, "POST", "/v1/logout", owner.token, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("serve stopped with %v\n%s", err, p.output())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}

	out, err := cli(t, append(env, "LATCHKEY_LOG_LEVEL=warn"), "", "events", "--json")
	if err != nil {
		t.Fatalf("events --json: %v\n%s", err, out)
	}
	var kinds []string
	var unknown map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		kinds = append(kinds, m["event"].(string))
		if m["username"] == typo {
			unknown = m
		}
	}
	if got := strings.Join(kinds, " "); got != "login.success login.failure login.failure logout" {
		t.Fatalf("events --json: %s\n%s", got, out)
	}
	if unknown == nil || unknown["user_id"] != nil || unknown["detail"] != "unknown_user" {
		t.Fatalf("the unknown name's event: %v", unknown)
	}
	table, err := cli(t, env, "", "events", "--user", "alice", "--since", "1h")
	if err != nil || strings.Count(table, "\n") != 4 || strings.Contains(table, "unknown_user") {
		t.Fatalf("events --user alice: %v\n%s", err, table)
	}

	// No secret anywhere: not in the server's log, not in the events.
	for _, secret := range []string{e2ePassword, wrong, owner.token, owner.token[3:]} {
		for what, text := range map[string]string{"the log": p.output(), "the events": out + table} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a secret (%.6s…)", what, secret)
			}
		}
	}
	if !strings.Contains(p.output(), `"event":"login.failure"`) {
		t.Errorf("no event line in the log:\n%s", p.output())
	}
}
