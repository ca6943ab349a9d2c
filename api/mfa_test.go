package api_test

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkeyhq/latchkey"
)

func apiMFAKey(t *testing.T) *latchkey.MFAKey {
	t.Helper()
	k, err := latchkey.NewMFAKey(bytes.Repeat([]byte{9}, latchkey.MFAKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTPRoutes enrols alice through the API, logs her in with both
// steps, and checks every refusal on the way.
func TestTOTPRoutes(t *testing.T) {
	e := newEnv(t, envOptions{mfaKey: apiMFAKey(t)})
	tok, _ := e.login(t, "alice")
	bearer := "Bearer " + tok

	wantError(t, e.do(t, "POST", "/v1/mfa/totp", bearer, "", map[string]any{"password": "wrong"}), 400, "invalid_request")
	r := e.do(t, "POST", "/v1/mfa/totp", bearer, "", map[string]any{"password": goodPassword})
	if r.status != 200 {
		t.Fatalf("enrol: %d %s", r.status, r.body)
	}
	m := r.json(t)
	secret := m["secret"].(string)
	if !strings.HasPrefix(m["otpauth_url"].(string), "otpauth://totp/") {
		t.Errorf("otpauth_url %v", m["otpauth_url"])
	}
	raw, err := base64.StdEncoding.DecodeString(m["qr_png"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("qr_png is no PNG: %v", err)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("enrolment Cache-Control %q", r.header.Get("Cache-Control"))
	}

	wantError(t, e.do(t, "POST", "/v1/mfa/totp/confirm", bearer, "", map[string]any{"code": "000000"}), 400, "invalid_request")
	r = e.do(t, "POST", "/v1/mfa/totp/confirm", bearer, "", map[string]any{"code": totpCode(t, secret, e.clock.Now())})
	if r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	var codes []string
	for _, c := range r.json(t)["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	wantError(t, e.do(t, "POST", "/v1/mfa/totp", bearer, "", map[string]any{"password": goodPassword}), 409, "mfa_enabled")
	wantError(t, e.do(t, "POST", "/v1/password", bearer, "", map[string]any{"old_password": goodPassword, "new_password": "another good passphrase"}), 400, "mfa_code_required")

	// The password step.
	r = e.do(t, "POST", "/v1/login", "", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": "phone"})
	body := wantError(t, r, 401, "mfa_required")
	mfaToken, _ := body["mfa_token"].(string)
	if !strings.HasPrefix(mfaToken, "lkm_") || body["expires_at"] == nil || len(body["methods"].([]any)) != 2 {
		t.Fatalf("mfa_required body %s", r.body)
	}
	// The mfa_token is no bearer token, on any route.
	for _, route := range [][2]string{{"GET", "/v1/me"}, {"GET", "/v1/sessions"}, {"GET", "/v1/events"}, {"POST", "/v1/logout"}} {
		wantError(t, e.do(t, route[0], route[1], "Bearer "+mfaToken, "", nil), 401, "invalid_token")
	}
	wantError(t, e.do(t, "POST", "/v1/login/mfa", "", "", map[string]any{"mfa_token": mfaToken, "code": "000000"}), 401, "invalid_mfa_code")
	wantError(t, e.do(t, "POST", "/v1/login/mfa", "", "", map[string]any{"mfa_token": "lkm_nope", "code": "000000"}), 401, "invalid_mfa_token")
	wantError(t, e.do(t, "POST", "/v1/login/mfa", "", "", map[string]any{"mfa_token": mfaToken}), 400, "invalid_request")
	e.clock.Add(30 * time.Second)
	r = e.do(t, "POST", "/v1/login/mfa", "", "", map[string]any{"mfa_token": mfaToken, "code": totpCode(t, secret, e.clock.Now())})
	if r.status != 200 {
		t.Fatalf("login/mfa: %d %s", r.status, r.body)
	}
	got := r.json(t)
	if got["device_name"] != "phone" {
		t.Errorf("device_name %v, want the password step's", got["device_name"])
	}
	second := "Bearer " + got["token"].(string)
	if r := e.do(t, "GET", "/v1/me", second, "", nil); r.status != 200 {
		t.Fatalf("me: %d %s", r.status, r.body)
	}

	// A password change with a recovery code.
	r = e.do(t, "POST", "/v1/password", second, "", map[string]any{"old_password": goodPassword, "new_password": "another good passphrase", "code": codes[0]})
	if r.status != 200 {
		t.Fatalf("password: %d %s", r.status, r.body)
	}
	third := "Bearer " + r.json(t)["token"].(string)
	wantError(t, e.do(t, "DELETE", "/v1/mfa/totp", third, "", map[string]any{"password": "another good passphrase", "code": codes[0]}), 400, "invalid_request")
	if r := e.do(t, "DELETE", "/v1/mfa/totp", third, "", map[string]any{"password": "another good passphrase", "code": codes[1]}); r.status != 204 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	wantError(t, e.do(t, "DELETE", "/v1/mfa/totp", third, "", map[string]any{"password": "another good passphrase", "code": codes[2]}), 409, "mfa_not_enabled")
	if r := e.do(t, "POST", "/v1/login", "", "", map[string]any{"username": "alice", "password": "another good passphrase"}); r.status != 200 {
		t.Fatalf("password-only login after disable: %d %s", r.status, r.body)
	}
}

func TestTOTPWithoutKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	r := e.do(t, "POST", "/v1/mfa/totp", "Bearer "+tok, "", map[string]any{"password": goodPassword})
	wantError(t, r, 503, "mfa_unavailable")
	if r.header.Get("Retry-After") != "" {
		t.Error("mfa_unavailable asks to retry")
	}
}
