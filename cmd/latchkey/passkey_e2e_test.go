package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/webauthn/webauthntest"
)

const (
	e2eRPID   = "localhost"
	e2eOrigin = "http://localhost:8080"
)

func passkeyEnv(t *testing.T) []string {
	return append(dbEnv(t), "LATCHKEY_CACHE_URL=memory", "LATCHKEY_CAPTCHA_PROVIDER=none",
		"LATCHKEY_WEBAUTHN_RP_ID="+e2eRPID, "LATCHKEY_WEBAUTHN_ORIGINS="+e2eOrigin,
		// Every passkey login, as every login, spends the address's allowance.
		"LATCHKEY_THROTTLE_IP_BURST=100")
}

// raw is the JSON of an answer p.call decoded, for the authenticator.
func raw(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registerPasskey registers a passkey of a for the token's user.
func (p *proc) registerPasskey(t *testing.T, tok string, a *webauthntest.Authenticator) string {
	t.Helper()
	st, m := p.call(t, "POST", "/v1/webauthn/register/options", tok, map[string]any{"password": e2ePassword})
	if st != 200 {
		t.Fatalf("register options: %d %v", st, m)
	}
	cred, err := a.Create(raw(t, m))
	if err != nil {
		t.Fatal(err)
	}
	st, m = p.call(t, "POST", "/v1/webauthn/register", tok, map[string]any{"credential": json.RawMessage(cred), "name": "e2e"})
	if st != 201 {
		t.Fatalf("register: %d %v", st, m)
	}
	return m["id"].(string)
}

// passkeyAssertion asks for login options and answers them with a.
func (p *proc) passkeyAssertion(t *testing.T, a *webauthntest.Authenticator) map[string]any {
	t.Helper()
	st, m := p.call(t, "POST", "/v1/login/webauthn/options", "", nil)
	if st != 200 {
		t.Fatalf("login options: %d %v", st, m)
	}
	cred, err := a.Get(raw(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"challenge_id": m["challenge_id"], "credential": json.RawMessage(cred)}
}

// TestPasskeyEndToEnd: with the built binary, alice registers a passkey
// with a token and logs in with it, naming no user; a replayed assertion,
// one made at another origin and one of a cloned authenticator are
// refused; the passkey answers the mfa_required of her TOTP; once deleted
// it logs in no more.
func TestPasskeyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(passkeyEnv(t), "LATCHKEY_MFA_KEY="+e2eMFAKey)
	addUser(t, env, "alice")
	p := serve(t, env)
	tok := p.login(t, "alice", e2ePassword)

	a := webauthntest.New(e2eOrigin)
	id := p.registerPasskey(t, tok, a)

	req := p.passkeyAssertion(t, a)
	st, m := p.call(t, "POST", "/v1/login/webauthn", "", req)
	if st != 200 || m["user"].(map[string]any)["username"] != "alice" {
		t.Fatalf("passkey login: %d %v", st, m)
	}
	if st, m := p.call(t, "GET", "/v1/me", m["token"].(string), nil); st != 200 || m["username"] != "alice" {
		t.Fatalf("me with the passkey's token: %d %v", st, m)
	}
	if st, m := p.call(t, "POST", "/v1/login/webauthn", "", req); st != 401 || m["code"] != "invalid_passkey" {
		t.Fatalf("a replayed assertion: %d %v", st, m)
	}
	evil := a.Clone()
	evil.Origin = "http://localhost:9999"
	if st, m := p.call(t, "POST", "/v1/login/webauthn", "", p.passkeyAssertion(t, evil)); st != 401 || m["code"] != "invalid_passkey" {
		t.Fatalf("an assertion at another origin: %d %v", st, m)
	}
	clone := a.Clone()
	if st, m := p.call(t, "POST", "/v1/login/webauthn", "", p.passkeyAssertion(t, a)); st != 200 {
		t.Fatalf("passkey login again: %d %v", st, m)
	}
	if st, m := p.call(t, "POST", "/v1/login/webauthn", "", p.passkeyAssertion(t, clone)); st != 401 || m["code"] != "invalid_passkey" {
		t.Fatalf("a cloned authenticator's assertion: %d %v", st, m)
	}

	// alice enrols a TOTP: her password then asks for a second factor,
	// which the passkey answers.
	st, m = p.call(t, "POST", "/v1/mfa/totp", tok, map[string]string{"password": e2ePassword})
	if st != 200 {
		t.Fatalf("enrol: %d %v", st, m)
	}
	secret := m["secret"].(string)
	if st, m := p.call(t, "POST", "/v1/mfa/totp/confirm", tok, map[string]string{"code": e2eCode(t, secret, time.Now())}); st != 200 {
		t.Fatalf("confirm: %d %v", st, m)
	}
	st, m = p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2ePassword})
	if st != 401 || m["code"] != "mfa_required" {
		t.Fatalf("password step: %d %v", st, m)
	}
	if ms, _ := m["methods"].([]any); len(ms) != 3 || ms[2] != "webauthn" {
		t.Errorf("methods %v, want webauthn listed", m["methods"])
	}
	req = p.passkeyAssertion(t, a)
	req["mfa_token"] = m["mfa_token"]
	if st, m := p.call(t, "POST", "/v1/login/webauthn", "", req); st != 200 {
		t.Fatalf("the passkey answering mfa_required: %d %v", st, m)
	}

	st, m = p.call(t, "GET", "/v1/webauthn/credentials", tok, nil)
	if list, _ := m["credentials"].([]any); st != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", st, m)
	}
	if st, m := p.call(t, "DELETE", "/v1/webauthn/credentials/"+id, tok, nil); st != 204 {
		t.Fatalf("delete: %d %v", st, m)
	}
	if st, m := p.call(t, "POST", "/v1/login/webauthn", "", p.passkeyAssertion(t, a)); st != 401 || m["code"] != "invalid_passkey" {
		t.Fatalf("the deleted passkey: %d %v", st, m)
	}
}

// TestPasskeysOffEndToEnd: without a relying party, the passkey routes
// answer 503 webauthn_unavailable.
func TestPasskeysOffEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(dbEnv(t), "LATCHKEY_CACHE_URL=memory", "LATCHKEY_CAPTCHA_PROVIDER=none")
	p := serve(t, env)
	if st, m := p.call(t, "POST", "/v1/login/webauthn/options", "", nil); st != 503 || m["code"] != "webauthn_unavailable" {
		t.Fatalf("login options without a relying party: %d %v", st, m)
	}
}

// TestPasskeyTwoNodes: two servers on one PostgreSQL and one Redis. Each
// ceremony begins on one node and ends on the other, its challenge kept
// in Redis; a replay on the first node finds it taken.
func TestPasskeyTwoNodes(t *testing.T) {
	needCluster(t)
	pgURL, _ := pgtest.NewSchema(t)
	srv := redistest.StartServer(t)
	env := append([]string{"LATCHKEY_DATABASE_URL=" + pgURL, "LATCHKEY_CACHE_URL=" + srv.URL(), "LATCHKEY_CAPTCHA_PROVIDER=none",
		"LATCHKEY_WEBAUTHN_RP_ID=" + e2eRPID, "LATCHKEY_WEBAUTHN_ORIGINS=" + e2eOrigin}, throttleEnv...)
	addUser(t, env, "alice")
	a0, a1 := serve(t, env), serve(t, env)
	tok := a0.login(t, "alice", e2ePassword)

	st, m := a0.call(t, "POST", "/v1/webauthn/register/options", tok, map[string]any{"password": e2ePassword})
	if st != 200 {
		t.Fatalf("register options on node 0: %d %v", st, m)
	}
	a := webauthntest.New(e2eOrigin)
	cred, err := a.Create(raw(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if st, m := a1.call(t, "POST", "/v1/webauthn/register", tok, map[string]any{"credential": json.RawMessage(cred)}); st != 201 {
		t.Fatalf("register on node 1: %d %v", st, m)
	}

	req := a1.passkeyAssertion(t, a)
	if st, m := a0.call(t, "POST", "/v1/login/webauthn", "", req); st != 200 {
		t.Fatalf("passkey login begun on node 1, ended on node 0: %d %v", st, m)
	}
	if st, m := a1.call(t, "POST", "/v1/login/webauthn", "", req); st != 401 || m["code"] != "invalid_passkey" {
		t.Fatalf("the assertion replayed on node 1: %d %v", st, m)
	}
}
