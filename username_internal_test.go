package latchkey

import (
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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

// usernameCases are the table of TestNormalizeUsername and the seeds of
// FuzzNormalizeUsername: want is the stored form, "" when the name is
// refused.
var usernameCases = []struct {
	name, in, want string
}{
	{"ASCII", "alice", "alice"},
	{"email", "alice@example.com", "alice@example.com"},
	{"symbols", "o'brien+test_1.2-3", "o'brien+test_1.2-3"},
	{"case kept", "Alice", "Alice"},
	{"fullwidth", "ａｌｉｃｅ", "alice"},
	{"NFC", "jos\u00e9", "jos\u00e9"},
	{"NFD", "jose\u0301", "jos\u00e9"},
	{"ligature", "\ufb01nn", "finn"},
	{"superscript", "x\u00b2", "x2"},
	{"Cyrillic look-alike kept", "\u0430lice", "\u0430lice"},
	{"Greek", "\u03b1\u03b2\u03b3", "\u03b1\u03b2\u03b3"},
	{"CJK", "\u5c71\u7530", "\u5c71\u7530"},
	{"emoji", "\U0001F600", "\U0001F600"},
	{"longest", strings.Repeat("\u00e9", MaxUsernameLength), strings.Repeat("\u00e9", MaxUsernameLength)},
	{"longest decomposed", strings.Repeat("e\u0301", MaxUsernameLength/2), strings.Repeat("\u00e9", MaxUsernameLength/2)},
	{"empty", "", ""},
	{"too long", strings.Repeat("a", MaxUsernameLength+1), ""},
	{"too long once normalised", strings.Repeat("\ufdfa", 10), ""},
	{"NUL", "alice\x00", ""},
	{"escape sequence", "eve\x1b[2K", ""},
	{"newline", "eve\nroot", ""},
	{"C1 control", "eve\u0085", ""},
	{"not UTF-8", "caf\xe9", ""},
	{"space", "two words", ""},
	{"no-break space", "two\u00a0words", ""},
	{"ideographic space", "two\u3000words", ""},
	{"zero-width space", "in\u200bvisible", ""},
	{"zero-width joiner", "a\u200db", ""},
	{"right-to-left override", "evil\u202egnp.exe", ""},
	{"byte order mark", "\ufeffalice", ""},
	{"private use", "\ue000", ""},
	{"unassigned", "\U000e0080", ""},
	{"noncharacter", "a\ufffe", ""},
}

func TestNormalizeUsername(t *testing.T) {
	for _, tc := range usernameCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeUsername(tc.in)
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Fatalf("normalizeUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if err != nil && AsError(err).Fields["username"] == nil {
				t.Fatalf("normalizeUsername(%q): %v names no field", tc.in, err)
			}
		})
	}
}

// FuzzNormalizeUsername: a name is stored in a form that is NFKC, valid,
// stable (normalising it again changes nothing), holds no control
// character, and is the form logins look the typed name up in; a name
// refused is an invalid_request naming the field.
func FuzzNormalizeUsername(f *testing.F) {
	for _, tc := range usernameCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := normalizeUsername(in)
		if err != nil {
			if e := AsError(err); e.Kind != KindInvalid || len(e.Fields["username"]) == 0 || got != "" {
				t.Fatalf("normalizeUsername(%q) = %q, %v", in, got, err)
			}
			return
		}
		switch {
		case !norm.NFKC.IsNormalString(got):
			t.Fatalf("normalizeUsername(%q) = %q: not NFKC", in, got)
		case usernameProblem(got) != "":
			t.Fatalf("normalizeUsername(%q) = %q: %s", in, got, usernameProblem(got))
		case strings.ContainsFunc(got, unicode.IsSpace):
			t.Fatalf("normalizeUsername(%q) = %q: a space", in, got)
		case foldUsername(in) != got:
			t.Fatalf("normalizeUsername(%q) = %q, but logins look %q up", in, got, foldUsername(in))
		case QuoteUsername(got) != got:
			t.Fatalf("a stored name %q is quoted %s", got, QuoteUsername(got))
		}
		if again, err := normalizeUsername(got); again != got || err != nil {
			t.Fatalf("normalizeUsername(%q) = %q, then %q, %v", in, got, again, err)
		}
	})
}

func TestQuoteUsername(t *testing.T) {
	for in, want := range map[string]string{
		"alice":        "alice",
		"jos\u00e9":    "jos\u00e9",
		"\u0430lice":   "\u0430lice",
		"ａｌｉｃｅ":        `"\uff41\uff4c\uff49\uff43\uff45"`,
		"jose\u0301":   `"jose\u0301"`,
		"eve\x1b[2K\n": `"eve\x1b[2K\n"`,
		"caf\xe9":      `"caf\xe9"`,
	} {
		if got := QuoteUsername(in); got != want {
			t.Errorf("QuoteUsername(%q) = %s, want %s", in, got, want)
		}
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
