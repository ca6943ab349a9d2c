package api

import (
	"errors"
	"net/http/httptest"
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
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r := httptest.NewRequest("POST", "/v1/login", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ct)
		fs, err := decode(httptest.NewRecorder(), r)
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
	})
}
