package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// clientAdd runs `latchkey client add name` and returns its standard
// output, which must be the new secret alone.
func clientAdd(t *testing.T, env []string, name string) string {
	t.Helper()
	cmd := exec.Command(binary(t), "client", "add", name)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client add %s: %v\n%s", name, err, stderr.String())
	}
	if !regexp.MustCompile(`^lkc_[A-Za-z0-9_-]{43}\n$`).Match(out) {
		t.Fatalf("client add %s wrote %q on stdout, want the secret alone", name, out)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// introspect asks the server about token as the service client id.
func (p *proc) introspect(t *testing.T, id, secret, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.url+"/v1/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.openapi(t).Check(t, req, res.StatusCode, res.Header, b)
	var m map[string]any
	json.Unmarshal(b, &m)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("introspect: %d %v without no-store", res.StatusCode, m)
	}
	return res.StatusCode, res.Header, m
}

// TestEndToEndIntrospect registers a service client with the binary, and
// has it introspect a live token and a logged-out one on a running
// server, be refused with a wrong secret, and be throttled after repeated
// bad credentials; the server's log holds none of the secrets.
func TestEndToEndIntrospect(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(dbEnv(t), "LATCHKEY_THROTTLE_CLIENT_RATE=1/1m", "LATCHKEY_THROTTLE_CLIENT_BURST=3")
	addUser(t, env, "alice")
	secret := clientAdd(t, env, "billing")
	if out, err := cli(t, env, "", "client", "add", "billing"); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("client add of a taken name: %v\n%s", err, out)
	}
	p := serve(t, env)

	tok := p.login(t, "alice", e2ePassword)
	st, _, m := p.introspect(t, "billing", secret, tok)
	if st != 200 || m["active"] != true || m["username"] != "alice" || m["email"] != "alice@example.com" ||
		m["token_type"] != "Bearer" || m["sub"] == "" || m["jti"] == "" || m["exp"] == nil || m["iat"] == nil {
		t.Fatalf("introspect a live token: %d %v", st, m)
	}
	if st, _ := p.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _, m := p.introspect(t, "billing", secret, tok); st != 200 || len(m) != 1 || m["active"] != false {
		t.Fatalf("introspect a logged-out token: %d %v", st, m)
	}
	if out, err := cli(t, env, "", "client", "list"); err != nil || !strings.Contains(out, "billing") || strings.Contains(out, secret[4:]) {
		t.Fatalf("client list: %v\n%s", err, out)
	}

	tok = p.login(t, "alice", e2ePassword)
	wrong := "lkc_" + strings.Repeat("W", 43)
	refused := func(id, secret, what string) {
		t.Helper()
		st, h, m := p.introspect(t, id, secret, tok)
		if st != 401 || m["code"] != "invalid_client" || h.Get("WWW-Authenticate") != `Basic realm="latchkey"` {
			t.Fatalf("%s: %d %v %q, want 401 invalid_client", what, st, m, h.Get("WWW-Authenticate"))
		}
	}
	refused("billing", wrong, "a wrong secret")
	// A client removed by the command line is refused by the running
	// server from then on.
	reports := clientAdd(t, env, "reports")
	if st, _, m := p.introspect(t, "reports", reports, tok); st != 200 || m["active"] != true {
		t.Fatalf("a second client: %d %v", st, m)
	}
	if out, err := cli(t, env, "", "client", "remove", "reports"); err != nil {
		t.Fatalf("client remove: %v\n%s", err, out)
	}
	refused("reports", reports, "a removed client")
	refused("nosuch", secret, "an unknown client")
	// Three failures: the burst. The address is refused now, whatever it
	// sends, for the minute the next failure takes.
	for _, s := range []string{wrong, secret} {
		st, h, m := p.introspect(t, "billing", s, tok)
		secs, err := strconv.Atoi(h.Get("Retry-After"))
		if st != 429 || m["code"] != "throttled" || err != nil || secs < 1 || secs > 60 {
			t.Fatalf("after 3 failures: %d %v, Retry-After %q; want 429 throttled within the minute", st, m, h.Get("Retry-After"))
		}
	}

	log := p.output()
	if !strings.Contains(log, `"msg":"introspect: client refused"`) {
		t.Fatalf("no refusal in the log:\n%s", log)
	}
	for _, s := range []string{secret[4:], reports[4:], wrong[4:], tok[3:]} {
		if strings.Contains(log, s) {
			t.Fatalf("a secret reached the log:\n%s", log)
		}
	}
}
