package api_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
)

// sessionsOf returns the caller's sessions as GET /v1/sessions lists them.
func (e *env) sessionsOf(t *testing.T, token string) []map[string]any {
	t.Helper()
	r := e.do(t, "GET", "/v1/sessions", "Bearer "+token, "", nil)
	if r.status != 200 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	var body struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Sessions
}

// TestDeviceName logs in with a device_name in each body format, and
// checks that the name comes back, normalised, in the login's answer and
// in GET /v1/sessions, and that a login without one has "".
func TestDeviceName(t *testing.T) {
	e := newEnv(t, envOptions{})
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("username", "alice")
	mw.WriteField("password", goodPassword)
	mw.WriteField("device_name", "山田の iPad 📱")
	mw.Close()
	for _, tc := range []struct {
		name, contentType string
		body              any
		want              string
	}{
		{"JSON", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": "Alice's laptop"}, "Alice's laptop"},
		{"JSON null", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": nil}, ""},
		{"JSON empty", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": ""}, ""},
		{"absent", "", map[string]any{"username": "alice", "password": goodPassword}, ""},
		{"form, NFD and spaces", "application/x-www-form-urlencoded",
			url.Values{"username": {"alice"}, "password": {goodPassword}, "device_name": {"  Te\u0301le\u0301phone  "}}.Encode(), "T\u00e9l\u00e9phone"},
		{"multipart", mw.FormDataContentType(), mp.Bytes(), "山田の iPad 📱"},
		{"longest", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": strings.Repeat("é", 64)}, strings.Repeat("é", 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/login", "", tc.contentType, tc.body)
			if r.status != 200 {
				t.Fatalf("login: %d %s", r.status, r.body)
			}
			m := r.json(t)
			if m["device_name"] != tc.want {
				t.Fatalf("login answered device_name %q, want %q", m["device_name"], tc.want)
			}
			found := false
			for _, s := range e.sessionsOf(t, m["token"].(string)) {
				dn, ok := s["device_name"].(string)
				if !ok {
					t.Fatalf("session without a device_name string: %v", s)
				}
				if s["current"] == true {
					found = true
					if dn != tc.want {
						t.Fatalf("GET /v1/sessions: device_name %q, want %q", dn, tc.want)
					}
				}
			}
			if !found {
				t.Fatal("no current session listed")
			}
		})
	}
}

// TestDeviceNameRefused checks each refusal of a device name: a 400
// invalid_request naming the field with a message that says why, and no
// session created.
func TestDeviceNameRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.login(t, "alice")
	for _, tc := range []struct {
		name, contentType string
		device            any
		msg               string
	}{
		{"too long", "", strings.Repeat("a", 65), "Ensure this field has no more than 64 characters."},
		{"too long once trimmed of nothing", "", strings.Repeat("é", 65), "Ensure this field has no more than 64 characters."},
		{"newline", "", "phone\nadmin logged in", "Device names may not contain control characters."},
		{"NUL", "", "phone\x00", "Device names may not contain control characters."},
		{"escape sequence", "", "phone\x1b[31m", "Device names may not contain control characters."},
		{"right-to-left override", "", "evil\u202egnp.exe", "Device names may not contain bidirectional formatting characters."},
		{"not a string", "", 42, "Not a valid string."},
		{"an object", "", map[string]string{"a": "b"}, "Not a valid string."},
		{"Latin-1 in a form", "application/x-www-form-urlencoded", "t%E9l%E9phone", "Device names must be UTF-8."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.contentType != "" {
				body := "username=alice&password=" + url.QueryEscape(goodPassword) + "&device_name=" + tc.device.(string)
				r = e.do(t, "POST", "/v1/login", "", tc.contentType, body)
			} else {
				r = e.do(t, "POST", "/v1/login", "", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": tc.device})
			}
			m := wantError(t, r, 400, "invalid_request")
			fields, _ := m["fields"].(map[string]any)
			msgs, _ := fields["device_name"].([]any)
			if len(msgs) != 1 || msgs[0] != tc.msg || len(fields) != 1 {
				t.Fatalf("fields = %v, want device_name: %q", m["fields"], tc.msg)
			}
		})
	}
	if n := len(e.sessionsOf(t, tok)); n != 1 {
		t.Fatalf("alice has %d sessions after refused logins, want 1", n)
	}
	// A wrong password with a bad device name is a 400 too: the name is
	// checked before the password, whose hash is not computed for it.
	r := e.do(t, "POST", "/v1/login", "", "", map[string]any{"username": "alice", "password": "wrong", "device_name": "a\nb"})
	wantError(t, r, 400, "invalid_request")
}

// TestDeviceNamePasswordChange checks that the token a password change
// issues keeps the device name of the token that asked for it.
func TestDeviceNamePasswordChange(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do(t, "POST", "/v1/login", "", "", map[string]any{"username": "alice", "password": goodPassword, "device_name": "Alice's laptop"})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	tok := r.json(t)["token"].(string)
	e.login(t, "alice") // another device, without a name
	r = e.do(t, "POST", "/v1/password", "Bearer "+tok, "", map[string]string{"old_password": goodPassword, "new_password": "another long passphrase"})
	if r.status != 200 {
		t.Fatalf("password: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["device_name"] != "Alice's laptop" {
		t.Fatalf("password change answered device_name %q", m["device_name"])
	}
	ss := e.sessionsOf(t, m["token"].(string))
	if len(ss) != 1 || ss[0]["device_name"] != "Alice's laptop" || ss[0]["current"] != true {
		t.Fatalf("sessions after the password change: %v", ss)
	}
}
