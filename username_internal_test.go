package latchkey

import (
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestUsernameProblem(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", "alice", true},
		{"email", "alice@example.com", true},
		{"non-ASCII", "josé", true},
		{"longest", strings.Repeat("é", MaxUsernameLength), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxUsernameLength+1), false},
		{"NUL", "alice\x00", false},
		{"NUL alone", "\x00", false},
		{"escape sequence", "alice\x1b[2K", false},
		{"newline", "alice\nroot", false},
		{"tab", "al\tice", false},
		{"DEL", "alice\x7f", false},
		{"C1 control", "alice\u0085", false},
		{"Latin-1", "caf\xe9", false},
		{"cut UTF-8", "caf\xc3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := usernameProblem(tc.in)
			if (msg == "") != tc.ok {
				t.Fatalf("usernameProblem(%q) = %q, want ok %v", tc.in, msg, tc.ok)
			}
		})
	}
}

// userAgentCases are the table of TestCleanUserAgent and the seeds of
// FuzzCleanUserAgent.
var userAgentCases = []struct {
	name, in, want string
}{
	{"plain", "Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64)"},
	{"empty", "", ""},
	{"UTF-8", "Navigateur/1.0 (café)", "Navigateur/1.0 (café)"},
	{"Latin-1", "Caf\xe9Navigateur/1.0 \xa9", "Caf\uFFFDNavigateur/1.0 \uFFFD"},
	{"run of invalid bytes", "a\xff\xfe\xfdb", "a\uFFFDb"},
	{"NUL", "curl/8\x00", "curl/8"},
	{"controls", "a\tb\r\nc\x1b[31md\x7f\u0085", "abc[31md"},
	{"long ASCII", strings.Repeat("a", 600), strings.Repeat("a", maxUserAgentLength)},
	{"long, cut inside a character", "a" + strings.Repeat("€", 200), "a" + strings.Repeat("€", (maxUserAgentLength-1)/3)},
	{"long Latin-1", strings.Repeat("\xe9a", 300), strings.Repeat("\uFFFDa", maxUserAgentLength/4)},
}

func TestCleanUserAgent(t *testing.T) {
	for _, tc := range userAgentCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanUserAgent(tc.in); got != tc.want {
				t.Fatalf("cleanUserAgent(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzCleanUserAgent(f *testing.F) {
	for _, tc := range userAgentCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := cleanUserAgent(in)
		switch {
		case !utf8.ValidString(got):
			t.Fatalf("cleanUserAgent(%q) = %q: not UTF-8", in, got)
		case strings.ContainsFunc(got, unicode.IsControl):
			t.Fatalf("cleanUserAgent(%q) = %q: a control character", in, got)
		case len(got) > maxUserAgentLength:
			t.Fatalf("cleanUserAgent(%q) is %d bytes long", in, len(got))
		case cleanUserAgent(got) != got:
			t.Fatalf("cleanUserAgent(%q) = %q, cleaned again %q", in, got, cleanUserAgent(got))
		}
	})
}

func TestClientIPDropsZone(t *testing.T) {
	c := Client{Addr: netip.MustParseAddr("fe80::1%eth0\x00\x1b[2K")}
	if got := c.IP(); got != "fe80::1" {
		t.Fatalf("IP() = %q", got)
	}
}
