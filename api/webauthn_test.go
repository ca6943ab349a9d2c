package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/webauthn"
	"github.com/latchkeyhq/latchkey/webauthn/webauthntest"
)

const (
	apiRPID   = "example.com"
	apiOrigin = "https://login.example.com"
)

func passkeyEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	rp, err := webauthn.New(webauthn.Config{RPID: apiRPID, Origins: []string{apiOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	eo.relyingParty = rp
	return newEnv(t, eo)
}

// registerPasskey registers a passkey of a through the API.
func (e *env) registerPasskey(t *testing.T, bearer string, a *webauthntest.Authenticator, name string) map[string]any {
	t.Helper()
	r := e.do(t, "POST", "/v1/webauthn/register/options", bearer, "", map[string]any{"password": goodPassword})
	if r.status != 200 {
		t.Fatalf("register options: %d %s", r.status, r.body)
	}
	cred, err := a.Create(r.body)
	if err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "POST", "/v1/webauthn/register", bearer, "", map[string]any{"credential": json.RawMessage(cred), "name": name})
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	return r.json(t)
}

// passkeyAssertion asks for login options and answers them with a.
func (e *env) passkeyAssertion(t *testing.T, a *webauthntest.Authenticator) map[string]any {
	t.Helper()
	r := e.do(t, "POST", "/v1/login/webauthn/options", "", "", nil)
	if r.status != 200 {
		t.Fatalf("login options: %d %s", r.status, r.body)
	}
	cred, err := a.Get(r.body)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"challenge_id": r.json(t)["challenge_id"], "credential": json.RawMessage(cred)}
}

func TestPasskeyRoutes(t *testing.T) {
	e := passkeyEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	bearer := "Bearer " + tok

	wantError(t, e.do(t, "POST", "/v1/webauthn/register/options", "", "", nil), 401, "not_authenticated")
	// A token alone does not begin a registration: the password is asked.
	for _, body := range []any{map[string]any{}, map[string]any{"password": "not the passphrase"}} {
		m := wantError(t, e.do(t, "POST", "/v1/webauthn/register/options", bearer, "", body), 400, "invalid_request")
		if f, _ := m["fields"].(map[string]any); f["password"] == nil {
			t.Errorf("register options with %v: %v, want a password field error", body, m)
		}
	}
	wantError(t, e.do(t, "POST", "/v1/webauthn/register", bearer, "", map[string]any{"credential": map[string]any{"id": "x"}}), 409, "passkey_not_pending")

	a := webauthntest.New(apiOrigin)
	pk := e.registerPasskey(t, bearer, a, "Laptop")
	if pk["name"] != "Laptop" || pk["last_used_at"] != nil || pk["id"] == "" {
		t.Errorf("registered %v", pk)
	}
	if want := webauthntest.B64(a.Credentials()[0].ID); pk["id"] != want {
		t.Errorf("id %v, want the credential id %s", pk["id"], want)
	}

	// A passkey login, with no username.
	req := e.passkeyAssertion(t, a)
	r := e.do(t, "POST", "/v1/login/webauthn", "", "", req)
	if r.status != 200 {
		t.Fatalf("passkey login: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["token"] == "" || m["user"].(map[string]any)["username"] != "alice" {
		t.Errorf("passkey login answered %s", r.body)
	}
	// Replayed: the challenge was used.
	wantError(t, e.do(t, "POST", "/v1/login/webauthn", "", "", req), 401, "invalid_passkey")

	// At a wrong origin.
	evil := a.Clone()
	evil.Origin = "https://evil.test"
	wantError(t, e.do(t, "POST", "/v1/login/webauthn", "", "", e.passkeyAssertion(t, evil)), 401, "invalid_passkey")

	r = e.do(t, "GET", "/v1/webauthn/credentials", bearer, "", nil)
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	list := r.json(t)["credentials"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["last_used_at"] == nil {
		t.Errorf("list %s", r.body)
	}

	// Bob cannot remove alice's passkey.
	bobTok, _ := e.login(t, "bob")
	wantError(t, e.do(t, "DELETE", "/v1/webauthn/credentials/"+pk["id"].(string), "Bearer "+bobTok, "", nil), 404, "not_found")
	if r := e.do(t, "DELETE", "/v1/webauthn/credentials/"+pk["id"].(string), bearer, "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.do(t, "DELETE", "/v1/webauthn/credentials/"+pk["id"].(string), bearer, "", nil), 404, "not_found")
}

func TestPasskeyBodies(t *testing.T) {
	e := passkeyEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	bearer := "Bearer " + tok
	for _, tc := range []struct {
		name, path, token string
		body              any
		field             string
	}{
		{"NoCredential", "/v1/webauthn/register", bearer, map[string]any{"name": "x"}, "credential"},
		{"CredentialNotObject", "/v1/webauthn/register", bearer, map[string]any{"credential": 3}, "credential"},
		{"NameNotString", "/v1/webauthn/register", bearer, map[string]any{"credential": map[string]any{}, "name": 3}, "name"},
		{"LoginNoChallenge", "/v1/login/webauthn", "", map[string]any{"credential": map[string]any{}}, "challenge_id"},
		{"LoginCredentialString", "/v1/login/webauthn", "", map[string]any{"challenge_id": "lkw_x", "credential": "nope"}, "credential"},
		{"LoginMalformed", "/v1/login/webauthn", "", map[string]any{"challenge_id": "lkw_x", "credential": map[string]any{"id": "x"}}, "credential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := wantError(t, e.do(t, "POST", tc.path, tc.token, "", tc.body), 400, "invalid_request")
			if fs, _ := m["fields"].(map[string]any); fs[tc.field] == nil {
				t.Errorf("fields %v: no %s", m["fields"], tc.field)
			}
		})
	}
}

// TestPasskeyForm: a form body carries the credential as a JSON string.
func TestPasskeyForm(t *testing.T) {
	e := passkeyEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	a := webauthntest.New(apiOrigin)
	e.registerPasskey(t, "Bearer "+tok, a, "")
	req := e.passkeyAssertion(t, a)
	form := "challenge_id=" + req["challenge_id"].(string) + "&credential=" + urlQuery(string(req["credential"].(json.RawMessage)))
	if r := e.do(t, "POST", "/v1/login/webauthn", "", "application/x-www-form-urlencoded", form); r.status != 200 {
		t.Fatalf("passkey login by form: %d %s", r.status, r.body)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D", " ", "%20", "\"", "%22", "{", "%7B", "}", "%7D")
	return r.Replace(s)
}

func TestPasskeysUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	wantError(t, e.do(t, "POST", "/v1/webauthn/register/options", "Bearer "+tok, "", map[string]any{"password": goodPassword}), 503, "webauthn_unavailable")
	wantError(t, e.do(t, "POST", "/v1/login/webauthn/options", "", "", nil), 503, "webauthn_unavailable")
}

func TestPasskeyAnswersMFARequired(t *testing.T) {
	e := passkeyEnv(t, envOptions{mfaKey: apiMFAKey(t)})
	tok, _ := e.login(t, "alice")
	bearer := "Bearer " + tok
	r := e.do(t, "POST", "/v1/mfa/totp", bearer, "", map[string]any{"password": goodPassword})
	secret := r.json(t)["secret"].(string)
	if r := e.do(t, "POST", "/v1/mfa/totp/confirm", bearer, "", map[string]any{"code": totpCode(t, secret, e.clock.Now())}); r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	a := webauthntest.New(apiOrigin)
	e.registerPasskey(t, bearer, a, "")

	m := wantError(t, e.do(t, "POST", "/v1/login", "", "", map[string]any{"username": "alice", "password": goodPassword}), 401, "mfa_required")
	if ms, _ := m["methods"].([]any); len(ms) != 3 || ms[2] != "webauthn" {
		t.Errorf("methods %v", m["methods"])
	}
	req := e.passkeyAssertion(t, a)
	req["mfa_token"] = m["mfa_token"]
	if r := e.do(t, "POST", "/v1/login/webauthn", "", "", req); r.status != 200 {
		t.Fatalf("passkey with the mfa_token: %d %s", r.status, r.body)
	}
}

// TestPasskeySpreadBody: the credential's fields may sit at the top of
// the body, beside the route's own, as the login page sends them.
func TestPasskeySpreadBody(t *testing.T) {
	e := passkeyEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	bearer := "Bearer " + tok
	a := webauthntest.New(apiOrigin)

	spread := func(cred []byte, own map[string]any) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(cred, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range own {
			m[k] = v
		}
		return m
	}
	r := e.do(t, "POST", "/v1/webauthn/register/options", bearer, "application/json", `{"password":"`+goodPassword+`"}`)
	cred, err := a.Create(r.body)
	if err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "POST", "/v1/webauthn/register", bearer, "", spread(cred, map[string]any{"name": "Spread"}))
	if r.status != 201 || r.json(t)["name"] != "Spread" {
		t.Fatalf("register with the credential spread: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/login/webauthn/options", "", "application/json", "{}")
	cred, err = a.Get(r.body)
	if err != nil {
		t.Fatal(err)
	}
	body := spread(cred, map[string]any{"challenge_id": r.json(t)["challenge_id"], "device_name": "Phone"})
	r = e.do(t, "POST", "/v1/login/webauthn", "", "", body)
	if r.status != 200 || r.json(t)["device_name"] != "Phone" {
		t.Fatalf("passkey login with the credential spread: %d %s", r.status, r.body)
	}
}
