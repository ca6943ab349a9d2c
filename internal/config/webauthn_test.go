package config

import (
	"slices"
	"strings"
	"testing"
)

var originCases = []struct {
	name, in string
	want     []string
	err      string
}{
	{"Empty", "", nil, ""},
	{"One", "https://example.com", []string{"https://example.com"}, ""},
	{"Several", " https://a.example.com , https://B.Example.com:8443/ ,", []string{"https://a.example.com", "https://b.example.com:8443"}, ""},
	{"Localhost", "http://localhost:8080", []string{"http://localhost:8080"}, ""},
	{"HTTP", "http://example.com", nil, "https only"},
	{"Path", "https://example.com/login", nil, "no user, path"},
	{"Query", "https://example.com?x", nil, "no user, path"},
	{"User", "https://u@example.com", nil, "no user, path"},
	{"NoScheme", "example.com", nil, "want https"},
	{"Opaque", "https:example.com", nil, "no host"},
	{"Control", "https://exa\x00mple.com", nil, "not a URL"},
}

func TestParseOrigins(t *testing.T) {
	for _, tc := range originCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOrigins(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseOrigins(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseOrigins(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

var webauthnCases = []struct {
	name, rpID string
	origins    []string
	err        string
}{
	{"Off", "", nil, ""},
	{"Same", "example.com", []string{"https://example.com"}, ""},
	{"Sub", "example.com", []string{"https://login.example.com", "https://example.com:8443"}, ""},
	{"Localhost", "localhost", []string{"http://localhost:8080"}, ""},
	{"NoRPID", "", []string{"https://example.com"}, "needs webauthn-rp-id"},
	{"NoOrigins", "example.com", nil, "needs webauthn-origins"},
	{"Elsewhere", "example.com", []string{"https://example.org"}, "is not on webauthn-rp-id"},
	{"Suffix", "example.com", []string{"https://badexample.com"}, "is not on webauthn-rp-id"},
	{"Scheme", "https://example.com", []string{"https://example.com"}, "not a lowercase domain"},
	{"Port", "example.com:443", []string{"https://example.com"}, "not a lowercase domain"},
	{"Upper", "Example.com", []string{"https://example.com"}, "not a lowercase domain"},
	{"Address", "192.0.2.1", []string{"https://192.0.2.1"}, "an address"},
	{"EmptyLabel", "example..com", []string{"https://example..com"}, "not a domain name"},
}

func TestCheckWebAuthn(t *testing.T) {
	for _, tc := range webauthnCases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckWebAuthn(tc.rpID, tc.origins)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("CheckWebAuthn(%q, %q) = %v, want %q", tc.rpID, tc.origins, err, tc.err)
			}
		})
	}
}

func FuzzParseOrigins(f *testing.F) {
	for _, tc := range originCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		os, err := ParseOrigins(s)
		if err != nil {
			return
		}
		for _, o := range os {
			// A parsed origin parses again to itself.
			again, err := ParseOrigins(o)
			if err != nil || len(again) != 1 || again[0] != o {
				t.Fatalf("origin %q of %q parses again as %q, %v", o, s, again, err)
			}
		}
	})
}

func FuzzCheckWebAuthn(f *testing.F) {
	for _, tc := range webauthnCases {
		f.Add(tc.rpID, strings.Join(tc.origins, ","))
	}
	f.Fuzz(func(t *testing.T, rpID, origins string) {
		os, err := ParseOrigins(origins)
		if err != nil {
			return
		}
		if CheckWebAuthn(rpID, os) != nil || rpID == "" {
			return
		}
		for _, o := range os {
			if !strings.Contains(o, rpID) {
				t.Fatalf("origin %q accepted for relying party %q", o, rpID)
			}
		}
	})
}
