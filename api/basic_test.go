package api

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// basicCases are the table of basicCredentials and the seeds of its fuzz
// target.
var basicCases = []struct {
	name       string
	values     []string
	id, secret string
	ok         bool
}{
	{"plain", []string{"Basic YmlsbGluZzpsa2NfYWJj"}, "billing", "lkc_abc", true},
	{"scheme in any case", []string{"bAsIc YmlsbGluZzpsa2NfYWJj"}, "billing", "lkc_abc", true},
	{"spaces", []string{"  Basic   YmlsbGluZzpsa2NfYWJj \t"}, "billing", "lkc_abc", true},
	{"escaped id", []string{"Basic " + b64("%62ill%69ng:lkc_abc")}, "billing", "lkc_abc", true},
	{"plus is a space", []string{"Basic " + b64("a+b:c+d")}, "a b", "c d", true},
	{"escaped colon in the id", []string{"Basic " + b64("a%3Ab:c")}, "a:b", "c", true},
	{"colon in the secret", []string{"Basic " + b64("a:b:c")}, "a", "b:c", true},
	{"empty secret", []string{"Basic " + b64("billing:")}, "billing", "", true},
	{"empty both", []string{"Basic " + b64(":")}, "", "", true},
	{"utf-8, escaped", []string{"Basic " + b64("caf%C3%A9:x")}, "café", "x", true},
	{"none", nil, "", "", false},
	{"two headers", []string{"Basic YmlsbGluZzpsa2NfYWJj", "Basic YmlsbGluZzpsa2NfYWJj"}, "", "", false},
	{"empty", []string{""}, "", "", false},
	{"bearer", []string{"Bearer lk_abc"}, "", "", false},
	{"scheme alone", []string{"Basic"}, "", "", false},
	{"no colon", []string{"Basic " + b64("billing")}, "", "", false},
	{"not base64", []string{"Basic !!!!"}, "", "", false},
	{"unpadded", []string{"Basic " + strings.TrimRight(b64("billing:lkc_ab"), "=")}, "", "", false},
	{"url-safe base64", []string{"Basic " + base64.URLEncoding.EncodeToString([]byte("a:\xfb\xff"))}, "", "", false},
	{"bad escape", []string{"Basic " + b64("billing:%zz")}, "", "", false},
	{"bad escape in the id", []string{"Basic " + b64("%:x")}, "", "", false},
	{"too long", []string{"Basic " + b64("a:"+strings.Repeat("x", 1024))}, "", "", false},
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestBasicCredentials(t *testing.T) {
	for _, tc := range basicCases {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, ok := basicCredentials(tc.values)
			if id != tc.id || secret != tc.secret || ok != tc.ok {
				t.Fatalf("basicCredentials(%q) = %q, %q, %v; want %q, %q, %v", tc.values, id, secret, ok, tc.id, tc.secret, tc.ok)
			}
		})
	}
}

// FuzzBasicCredentials holds the parser of a service client's Basic
// header to its contract: nothing but credentials when it says ok, and
// the credentials a client encoding them as RFC 6749 says would send.
func FuzzBasicCredentials(f *testing.F) {
	for _, tc := range basicCases {
		if len(tc.values) == 1 {
			f.Add(tc.values[0])
		}
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, secret, ok := basicCredentials([]string{h})
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("%q: no credentials, yet %q, %q", h, id, secret)
			}
			return
		}
		if !strings.EqualFold(strings.Fields(h)[0], "Basic") {
			t.Fatalf("%q: credentials from another scheme", h)
		}
		// Encoded again, as a client does, they read back the same; an
		// id holds no unescaped colon.
		again := "Basic " + b64(url.QueryEscape(id)+":"+url.QueryEscape(secret))
		id2, secret2, ok2 := basicCredentials([]string{again})
		if len(again) <= len("Basic ")+maxBasicCredentials && (!ok2 || id2 != id || secret2 != secret) {
			t.Fatalf("%q: %q, %q do not read back from %q: %q, %q, %v", h, id, secret, again, id2, secret2, ok2)
		}
		// What a client sent unescaped is what it meant, when it holds
		// nothing to unescape.
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Fields(h)[1])); err == nil && utf8.Valid(raw) && !strings.ContainsAny(string(raw), "%+") {
			if rid, rsecret, _ := strings.Cut(string(raw), ":"); rid != id || rsecret != secret {
				t.Fatalf("%q: %q, %q, want %q, %q", h, id, secret, rid, rsecret)
			}
		}
	})
}
