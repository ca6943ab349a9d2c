package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/redis"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// loginDevice logs in with a device name and returns the token and its
// session id.
func (p *proc) loginDevice(t testing.TB, user, pw, device string) (token, session string) {
	t.Helper()
	body := map[string]string{"username": user, "password": pw}
	if device != "" {
		body["device_name"] = device
	}
	st, m := p.call(t, "POST", "/v1/login", "", body)
	if st != 200 || m["device_name"] != device {
		t.Fatalf("login %s on %q: %d %v", user, device, st, m)
	}
	return m["token"].(string), m["session_id"].(string)
}

// cliFails runs a command that must fail with exit status code and a
// message holding want.
func cliFails(t *testing.T, env []string, code int, want string, args ...string) {
	t.Helper()
	out, err := cli(t, env, "", args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != code || !strings.Contains(out, want) {
		t.Fatalf("latchkey %s: %v, output %q; want exit status %d and %q", strings.Join(args, " "), err, out, code, want)
	}
}

// TestSessionCommands runs `latchkey session list` and `session revoke`,
// the built binary, beside a running server on one SQLite file: the list
// shows the device names logins gave, and a revocation, by id or of every
// session of a user, is refused by the server the moment the command
// returns, as a logout is.
func TestSessionCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(dbEnv(t), throttleEnv...)
	addUser(t, env, "alice")
	addUser(t, env, "bob")
	p := serve(t, env)
	laptop, laptopID := p.loginDevice(t, "alice", e2ePassword, "Alice's laptop")
	phone, phoneID := p.loginDevice(t, "alice", e2ePassword, "Téléphone d'Anaïs")
	bare, bareID := p.loginDevice(t, "alice", e2ePassword, "")
	bobs, bobsID := p.loginDevice(t, "bob", e2ePassword, "Bob's phone")
	for _, tok := range []string{laptop, phone, bare, bobs} {
		if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 { // cached now
			t.Fatalf("me: %d", st)
		}
	}

	out, err := cli(t, env, "", "session", "list", "alice")
	if err != nil {
		t.Fatalf("session list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "DEVICE NAME") {
		t.Fatalf("session list alice:\n%s", out)
	}
	// Newest first; the session without a device name shows "-".
	for i, want := range []struct{ id, device string }{{bareID, " - "}, {phoneID, "Téléphone d'Anaïs"}, {laptopID, "Alice's laptop"}} {
		if !strings.HasPrefix(lines[i+1], want.id+" ") || !strings.Contains(lines[i+1], want.device) || !strings.Contains(lines[i+1], "127.0.0.1") {
			t.Errorf("session list line %d: %q, want %s with %q", i+1, lines[i+1], want.id, want.device)
		}
	}
	if strings.Contains(out, bobsID) || strings.Contains(out, "Bob's phone") {
		t.Errorf("session list alice shows bob's session:\n%s", out)
	}

	out, err = cli(t, env, "", "session", "list", "--json", "alice")
	if err != nil {
		t.Fatalf("session list --json: %v\n%s", err, out)
	}
	var got []sessionLine
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var l sessionLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("session list --json: %v\n%s", err, out)
		}
		got = append(got, l)
	}
	if len(got) != 3 || strings.Count(out, "\n") != 3 || got[2].ID != laptopID || got[2].DeviceName != "Alice's laptop" ||
		got[0].DeviceName != "" || got[2].Username != "alice" || got[2].IP != "127.0.0.1" || got[2].UserAgent == "" {
		t.Fatalf("session list --json:\n%s", out)
	}
	if _, err := time.Parse(time.RFC3339, got[2].ExpiresAt); err != nil {
		t.Fatalf("expires_at %q: %v", got[2].ExpiresAt, err)
	}

	// One session by id: refused at once, the others not.
	if out, err := cli(t, env, "", "session", "revoke", laptopID); err != nil || !strings.Contains(out, laptopID+" of user") {
		t.Fatalf("session revoke: %v\n%s", err, out)
	}
	if st, m := p.call(t, "GET", "/v1/me", laptop, nil); st != 401 || m["code"] != "invalid_token" {
		t.Fatalf("the revoked token, as the command returned: %d %v", st, m)
	}
	for _, tok := range []string{phone, bare, bobs} {
		if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
			t.Fatalf("a token not revoked: %d", st)
		}
	}
	cliFails(t, env, 1, "no such session", "session", "revoke", laptopID)
	cliFails(t, env, 1, `no such session: "nope\x1b[2K"`, "session", "revoke", "nope\x1b[2K")

	// Every session of a user.
	if out, err := cli(t, env, "", "session", "revoke", "--user", "alice"); err != nil || !strings.Contains(out, "every session of alice was revoked (2)") {
		t.Fatalf("session revoke --user: %v\n%s", err, out)
	}
	for _, tok := range []string{phone, bare} {
		if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 401 || m["code"] != "invalid_token" {
			t.Fatalf("a token of alice, as the command returned: %d %v", st, m)
		}
	}
	if st, _ := p.call(t, "GET", "/v1/me", bobs, nil); st != 200 {
		t.Fatalf("bob's token: %d", st)
	}
	if out, err := cli(t, env, "", "session", "list", "alice"); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("session list after revoke --user: %v\n%s", err, out)
	}
	p.login(t, "alice", e2ePassword) // not disabled: alice logs in again

	cliFails(t, env, 1, "no such user", "session", "list", "nobody")
	cliFails(t, env, 1, "no such user", "session", "revoke", "--user", "nobody")
	cliFails(t, env, 2, "exactly one session id", "session", "revoke")
	cliFails(t, env, 2, "not both", "session", "revoke", bobsID, "--user", "bob")
	cliFails(t, env, 2, "exactly one user name", "session", "list")
	cliFails(t, env, 2, `unknown command "kill"`, "session", "kill")

	for _, tok := range []string{laptop, phone, bare, bobs} {
		if strings.Contains(p.output(), tok[3:]) {
			t.Fatal("a token reached the log")
		}
	}
}

// TestSessionRevokePublishes runs `latchkey session revoke` against a
// node on PostgreSQL and Redis: the command itself announces the revoked
// session on Redis's invalidation channel (a node replaying its change
// feed announces nothing), and the node refuses the token the moment the
// command returns.
func TestSessionRevokePublishes(t *testing.T) {
	needCluster(t)
	pgURL, _ := pgtest.NewSchema(t)
	srv := redistest.StartServer(t)
	env := append([]string{"LATCHKEY_DATABASE_URL=" + pgURL, "LATCHKEY_CACHE_URL=" + srv.URL()}, throttleEnv...)
	addUser(t, env, "alice")
	p := serve(t, env)

	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opt)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := rc.Subscribe(ctx, redis.DefaultPrefix+"invalidate")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	published := func(d latchkey.Digest) {
		t.Helper()
		for {
			m, err := sub.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("no invalidation naming the session was published: %v", err)
			}
			if bytes.Contains([]byte(m.Payload), d[:]) {
				return
			}
		}
	}

	for _, tc := range []struct {
		name string
		args func(id string) []string
	}{
		{"by id", func(id string) []string { return []string{"session", "revoke", id} }},
		{"of the user", func(string) []string { return []string{"session", "revoke", "--user", "alice"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, id := p.loginDevice(t, "alice", e2ePassword, "node test")
			if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 { // cached in Redis now
				t.Fatalf("me: %d", st)
			}
			if out, err := cli(t, env, "", tc.args(id)...); err != nil {
				t.Fatalf("session revoke: %v\n%s", err, out)
			}
			if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 401 || m["code"] != "invalid_token" {
				t.Fatalf("the revoked token on the node, as the command returned: %d %v", st, m)
			}
			published(latchkey.Token(tok).Digest())
		})
	}
}
