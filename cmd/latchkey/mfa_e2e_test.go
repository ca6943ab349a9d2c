package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const (
	e2eMFAKey   = "3f1c9a0e5b7d2c4f8a6e1d3b5c7f9a2e4d6b8c0a1f3e5d7c9b2a4f6e8d0c1b3a"
	otherMFAKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func e2eCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMFAEndToEnd: with the built binary, alice enrols a TOTP, computes
// its codes from the secret shown, and logs in with both steps; a
// recovery code works once; the mfa_token is no bearer token; after
// `latchkey user mfa-reset` her sessions are gone and the password alone
// logs in; a server given another key refuses to start.
func TestMFAEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(dbEnv(t), "LATCHKEY_MFA_KEY="+e2eMFAKey, "LATCHKEY_CACHE_URL=memory", "LATCHKEY_CAPTCHA_PROVIDER=none")
	addUser(t, env, "alice")
	p := serve(t, env)

	tok := p.login(t, "alice", e2ePassword)
	st, m := p.call(t, "POST", "/v1/mfa/totp", tok, map[string]string{"password": e2ePassword})
	if st != 200 {
		t.Fatalf("enrol: %d %v", st, m)
	}
	secret := m["secret"].(string)
	st, m = p.call(t, "POST", "/v1/mfa/totp/confirm", tok, map[string]string{"code": e2eCode(t, secret, time.Now())})
	if st != 200 {
		t.Fatalf("confirm: %d %v", st, m)
	}
	recovery := m["recovery_codes"].([]any)
	if st, _ := p.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}

	mfaToken := func() string {
		t.Helper()
		st, m := p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2ePassword})
		if st != 401 || m["code"] != "mfa_required" {
			t.Fatalf("password step: %d %v", st, m)
		}
		return m["mfa_token"].(string)
	}
	mt := mfaToken()
	if st, m := p.call(t, "GET", "/v1/me", mt, nil); st != 401 || m["code"] != "invalid_token" {
		t.Fatalf("the mfa_token on /v1/me: %d %v", st, m)
	}
	// The confirmation used this step's code: the next step's is in the
	// window, and later.
	st, m = p.call(t, "POST", "/v1/login/mfa", "", map[string]string{"mfa_token": mt, "code": e2eCode(t, secret, time.Now().Add(30*time.Second))})
	if st != 200 {
		t.Fatalf("second step: %d %v", st, m)
	}
	tok = m["token"].(string)
	if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 200 || m["username"] != "alice" {
		t.Fatalf("me: %d %v", st, m)
	}

	rc := recovery[0].(string)
	if st, m := p.call(t, "POST", "/v1/login/mfa", "", map[string]string{"mfa_token": mfaToken(), "code": rc}); st != 200 {
		t.Fatalf("a recovery code: %d %v", st, m)
	}
	if st, m := p.call(t, "POST", "/v1/login/mfa", "", map[string]string{"mfa_token": mfaToken(), "code": rc}); st != 401 || m["code"] != "invalid_mfa_code" {
		t.Fatalf("a recovery code used twice: %d %v", st, m)
	}

	out, err := cli(t, env, "", "user", "mfa-reset", "alice")
	if err != nil || !strings.Contains(out, "second factors of alice removed") {
		t.Fatalf("mfa-reset: %v\n%s", err, out)
	}
	p.refusedWithin(t, tok, 2*time.Second)
	p.login(t, "alice", e2ePassword)

	// Another key: refused at start, naming the setting, never the key.
	out, err = cli(t, append(env, "LATCHKEY_MFA_KEY="+otherMFAKey), "", "serve", "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(out, "LATCHKEY_MFA_KEY") || strings.Contains(out, otherMFAKey) {
		t.Fatalf("serve with another key: %v\n%s", err, out)
	}
	for _, secretText := range []string{e2eMFAKey, secret} {
		if strings.Contains(p.output(), secretText) {
			t.Fatal("a secret reached the log")
		}
	}
}
