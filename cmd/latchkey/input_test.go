package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/sqlite"
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
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.openapi(t).Check(t, req, res.StatusCode, res.Header, body)
	var m map[string]any
	json.Unmarshal(body, &m)
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

// TestEndToEndUsernames: usernames are NFKC-normalised, as Django's. `user
// add` refuses a look-alike that NFKC folds and names the user holding
// the name; `import django` skips a name with control characters, which
// once forged a row in `user list`; and `user list` shows a name stored
// before names were normalised quoted, so that it can be found.
func TestEndToEndUsernames(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := dbEnv(t)
	addUser(t, env, "alice")
	addUser(t, env, "jos\u00e9")
	for _, tc := range []struct{ typed, taken string }{
		{"alice", "alice"},
		{"ａｌｉｃｅ", "alice"},          // fullwidth
		{"jose\u0301", "jos\u00e9"}, // NFD
	} {
		out, err := cli(t, env, e2ePassword+"\n", "user", "add", tc.typed, "--password-stdin")
		if err == nil || !strings.Contains(out, "username: A user named "+tc.taken+" already exists") {
			t.Errorf("user add %q: %v\n%s", tc.typed, err, out)
		}
	}
	addUser(t, env, "\u0430lice") // Cyrillic а: NFKC keeps it a name of its own

	dump := filepath.Join(t.TempDir(), "users.json")
	forged := `[{"model": "auth.user", "pk": 100, "fields": {"username": "eve\u001b[1A\u001b[2K\n4  root  root@example.com", "password": "md5$x$y", "is_active": true, "date_joined": "2026-11-28T10:00:00Z"}}]`
	if err := os.WriteFile(dump, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, env, "", "import", "django", "--dumpdata", dump)
	if err != nil || !strings.Contains(out, `user 100 ("eve\x1b[1A\x1b[2K\n4  root  root@example.com"): invalid username`) || strings.Contains(out, "\x1b") {
		t.Errorf("import: %v\n%s", err, out)
	}

	// Names stored before: by an older `user add`, and by an older import.
	st, err := sqlite.Open(t.Context(), strings.TrimPrefix(env[0], "LATCHKEY_DATABASE_URL=sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ｂｏｂ", "mallory\x1b[2K\n"} {
		if _, err := st.CreateUser(t.Context(), latchkey.User{Username: name, Active: true, DateJoined: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, err = cli(t, env, "", "user", "list")
	if err != nil {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		names = append(names, strings.Fields(line)[1])
	}
	want := []string{"alice", "jos\u00e9", "\u0430lice", `"\uff42\uff4f\uff42"`, `"mallory\x1b[2K\n"`}
	if !slices.Equal(names, want) || strings.Contains(out, "\x1b") {
		t.Errorf("user list names %q, want %q:\n%s", names, want, out)
	}
}
