package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"mime/multipart"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

func TestBearerToken(t *testing.T) {
	tok := "lk_" + strings.Repeat("A", 43)
	for _, tc := range []struct {
		name   string
		values []string
		want   string
		err    error
	}{
		{"bearer", []string{"Bearer " + tok}, tok, nil},
		{"token scheme", []string{"Token " + tok}, tok, nil},
		{"lower case", []string{"bearer " + tok}, tok, nil},
		{"django key", []string{"Token 273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4"}, "273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4", nil},
		{"extra spaces", []string{"Bearer   " + tok + "  "}, tok, nil},
		{"none", nil, "", latchkey.ErrNotAuthenticated},
		{"empty", []string{""}, "", latchkey.ErrNotAuthenticated},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", latchkey.ErrNotAuthenticated},
		{"no token", []string{"Bearer"}, "", latchkey.ErrInvalidToken},
		{"blank token", []string{"Bearer    "}, "", latchkey.ErrInvalidToken},
		{"two tokens", []string{"Bearer a b"}, "", latchkey.ErrInvalidToken},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "", latchkey.ErrInvalidToken},
		{"control char", []string{"Bearer lk_a\x00b"}, "", latchkey.ErrInvalidToken},
		{"too long", []string{"Bearer " + strings.Repeat("a", 257)}, "", latchkey.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bearerToken(tc.values)
			if got != tc.want || !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
				t.Fatalf("bearerToken(%q) = %q, %v; want %q, %v", tc.values, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer lk_abc", "Token 273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4", "bearer  x ", "Basic a", "Bearer", "", "Bearer a=b", "Bearer ==", "Token a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := bearerToken([]string{h})
		if err != nil {
			if tok != "" {
				t.Fatal("token returned with an error")
			}
			if k := latchkey.ErrorKind(err); k != latchkey.KindUnauthenticated {
				t.Fatalf("kind %v", k)
			}
			return
		}
		if !latchkey.ValidTokenSyntax(tok) || !strings.Contains(h, tok) {
			t.Fatalf("token %q from %q", tok, h)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"username":"alice","password":"x"}`},
		{"application/json; charset=utf-8", `{"username":7}`},
		{"application/json", `{"username":"a"}{}`},
		{"application/json", `[1,2]`},
		{"application/json", `null`},
		{"application/json", `{"a":null,"b":{"c":1}}`},
		{"application/x-www-form-urlencoded", "username=alice&password=x%20y"},
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--X--\r\n"},
		{"multipart/form-data", "--X--"},
		{"text/plain", "hello"},
		{"", ""},
		{"application/json", `{"username":"a","username":"b"}`},
		{"application/json", `{"a":null,"a\u0000":1,"a":[]}`},
		{"application/x-www-form-urlencoded", "username=a&user%6Eame=b"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--X--\r\n"},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		fs, err := decodeBody(ct, body)
		if err != nil {
			e := latchkey.AsError(err)
			switch e.Kind {
			case latchkey.KindInvalid, latchkey.KindTooLarge, latchkey.KindUnsupported:
			default:
				t.Fatalf("unexpected error kind %v: %v", e.Kind, err)
			}
			if status(e.Kind) >= 500 {
				t.Fatal("a bad body mapped to a server error")
			}
			return
		}
		if len(body) > MaxBodyBytes {
			t.Fatal("an oversized body was decoded")
		}
		v, err := fs.require("username")
		if err == nil && v[0] == "" {
			t.Fatal("require accepted an empty value")
		}
		checkRepeats(t, ct, body, fs)
	})
}

// decodeBody runs decode on a POST of body.
func decodeBody(ct string, body []byte) (fields, error) {
	r := httptest.NewRequest("POST", "/v1/login", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return decode(httptest.NewRecorder(), r)
}

// checkRepeats holds a body that decode accepted to the rule on repeated
// fields: it repeats none, as the standard library's own form parser
// counts them, and the same body with one of its fields given again is
// refused, naming that field.
func checkRepeats(t *testing.T, ct string, body []byte, fs fields) {
	t.Helper()
	mt, _, _ := mime.ParseMediaType(ct)
	var names []string
	for k := range fs.values {
		names = append(names, k)
	}
	for k := range fs.bad {
		names = append(names, k)
	}
	if len(names) == 0 {
		return
	}
	slices.Sort(names)
	name := names[len(body)%len(names)] // any one, the same for a body
	var again []byte
	switch {
	case mt == "application/x-www-form-urlencoded":
		vs, _ := url.ParseQuery(string(body))
		for k, v := range vs {
			if len(v) > 1 {
				t.Fatalf("%q was accepted, with %q %d times", body, k, len(v))
			}
		}
		again = append(slices.Clip(body), "&"+url.QueryEscape(name)+"=x"...)
	case mt == "multipart/form-data":
		// A new body of the fields decoded, one twice.
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, k := range append(names, name) {
			mw.WriteField(k, "x")
		}
		mw.Close()
		ct, again = mw.FormDataContentType(), buf.Bytes()
	default: // JSON: one more member before the closing brace
		trimmed := bytes.TrimRight(body, " \t\r\n")
		key, _ := json.Marshal(name)
		again = append(append(append(slices.Clip(trimmed[:len(trimmed)-1]), ','), key...), `:"x"}`...)
	}
	if len(again) > MaxBodyBytes {
		return
	}
	_, err := decodeBody(ct, again)
	e := latchkey.AsError(err)
	if err == nil || e.Code != latchkey.CodeInvalidRequest || len(e.Fields[name]) == 0 {
		t.Fatalf("%q, with %q given again as %q, was not refused naming it: %v", body, name, again, err)
	}
}

// passkeyBodySeeds are bodies of the passkey routes, as browsers' code
// sends them and as they go wrong.
var passkeyBodySeeds = []string{
	`{"credential":{"id":"AQID","rawId":"AQID","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"},"clientExtensionResults":{}},"name":"Laptop"}`,
	`{"challenge_id":"lkw_abc","credential":{"id":"AQID","rawId":"AQID","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA","userHandle":"AAAAAAAAAAE"}},"mfa_token":"lkm_x","device_name":"Phone"}`,
	`{"challenge_id":"lkw_abc","credential":"{\"id\":\"AQID\"}"}`,
	`{"credential":[1,2]}`, `{"credential":null}`, `{"credential":{}}`, `{"challenge_id":1,"credential":{"a":{"b":[]}}}`,
	`{"credential":{"id":"x"},"credential":{"id":"y"}}`, `{}`, `[]`, `"x"`,
	`{"challenge_id":"lkw_abc","id":"AQID","rawId":"AQID","type":"public-key","response":{"clientDataJSON":"e30"},"clientExtensionResults":{},"authenticatorAttachment":null}`,
	`{"name":"Key","id":"AQID","response":{"attestationObject":"oA"},"credential":"{}"}`,
}

func FuzzPasskeyBodies(f *testing.F) {
	for _, s := range passkeyBodySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fs, err := decodeJSON(body)
		if err != nil {
			return
		}
		check := func(what string, cred []byte, err error) {
			if err != nil {
				if k := latchkey.ErrorKind(err); k != latchkey.KindInvalid {
					t.Fatalf("%s: error of kind %v: %v", what, k, err)
				}
				return
			}
			var o map[string]json.RawMessage
			if json.Unmarshal(cred, &o) != nil {
				t.Fatalf("%s: credential %q is no JSON object", what, cred)
			}
		}
		reg, err := passkeyRegistration(fs)
		check("registration", reg.Credential, err)
		login, err := passkeyLogin(fs)
		check("login", login.Credential, err)
		if err == nil && login.ChallengeID == "" {
			t.Fatal("login decoded without a challenge_id")
		}
	})
}
