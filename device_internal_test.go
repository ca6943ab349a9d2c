package latchkey

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// deviceNameCases are the table of TestNormalizeDeviceName and the seeds
// of FuzzNormalizeDeviceName: want is the stored form, problem the start
// of the message when the name is refused.
var deviceNameCases = []struct {
	name, in, want, problem string
}{
	{"none", "", "", ""},
	{"ASCII", "Alice's laptop", "Alice's laptop", ""},
	{"non-ASCII", "Téléphone d'Anaïs", "Téléphone d'Anaïs", ""},
	{"CJK and emoji", "山田の iPad 📱", "山田の iPad 📱", ""},
	{"emoji sequence kept", "👩\u200d💻 work", "👩\u200d💻 work", ""},
	{"NFD composed", "Te\u0301le\u0301phone", "T\u00e9l\u00e9phone", ""},
	{"fullwidth kept", "ｉＰａｄ", "ｉＰａｄ", ""},
	{"spaces trimmed", "  phone \u3000", "phone", ""},
	{"only spaces", "   ", "", ""},
	{"inner spaces kept", "my  phone", "my  phone", ""},
	{"longest", strings.Repeat("é", MaxDeviceNameLength), strings.Repeat("é", MaxDeviceNameLength), ""},
	{"longest decomposed", strings.Repeat("e\u0301", MaxDeviceNameLength), strings.Repeat("é", MaxDeviceNameLength), ""},
	{"longest with spaces around", " " + strings.Repeat("a", MaxDeviceNameLength) + " ", strings.Repeat("a", MaxDeviceNameLength), ""},
	{"too long", strings.Repeat("a", MaxDeviceNameLength+1), "", "Ensure this field has no more than 64 characters."},
	{"too long in bytes", strings.Repeat("a", maxDeviceNameBytes+1), "", "Ensure this field has no more than 64 characters."},
	{"NUL", "phone\x00", "", "Device names may not contain control characters."},
	{"newline", "phone\nroot", "", "Device names may not contain control characters."},
	{"trailing newline", "phone\n", "", "Device names may not contain control characters."},
	{"tab", "my\tphone", "", "Device names may not contain control characters."},
	{"escape sequence", "phone\x1b[2K", "", "Device names may not contain control characters."},
	{"DEL", "phone\x7f", "", "Device names may not contain control characters."},
	{"C1 control", "phone\u0085", "", "Device names may not contain control characters."},
	{"right-to-left override", "evil\u202egnp.exe", "", "Device names may not contain bidirectional formatting characters."},
	{"right-to-left isolate", "a\u2067b", "", "Device names may not contain bidirectional formatting characters."},
	{"right-to-left mark", "a\u200fb", "", "Device names may not contain bidirectional formatting characters."},
	{"Latin-1", "t\xe9l\xe9phone", "", "Device names must be UTF-8."},
	{"cut UTF-8", "phone\xc3", "", "Device names must be UTF-8."},
}

func TestNormalizeDeviceName(t *testing.T) {
	for _, tc := range deviceNameCases {
		t.Run(tc.name, func(t *testing.T) {
			got, problem := normalizeDeviceName(tc.in)
			if got != tc.want || problem != tc.problem {
				t.Fatalf("normalizeDeviceName(%q) = %q, %q; want %q, %q", tc.in, got, problem, tc.want, tc.problem)
			}
		})
	}
}

// FuzzNormalizeDeviceName checks that every name accepted is stored as
// valid UTF-8 in NFC form, without control or bidirectional formatting
// characters or space around it, within the length limit, and stays as
// it is when normalised again; and that the byte bound refuses no name
// that would have fit.
func FuzzNormalizeDeviceName(f *testing.F) {
	for _, tc := range deviceNameCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, problem := normalizeDeviceName(in)
		if problem != "" {
			if got != "" {
				t.Fatalf("normalizeDeviceName(%q) = %q with the problem %q", in, got, problem)
			}
			if len(in) > maxDeviceNameBytes && utf8.ValidString(in) && !strings.ContainsFunc(in, unicode.IsControl) &&
				utf8.RuneCountInString(strings.TrimSpace(norm.NFC.String(in))) <= MaxDeviceNameLength {
				t.Fatalf("normalizeDeviceName(%q) refused by its byte length a name that fits", in)
			}
			return
		}
		switch {
		case !utf8.ValidString(got):
			t.Fatalf("normalizeDeviceName(%q) = %q: not UTF-8", in, got)
		case !norm.NFC.IsNormalString(got):
			t.Fatalf("normalizeDeviceName(%q) = %q: not NFC", in, got)
		case strings.ContainsFunc(got, unicode.IsControl):
			t.Fatalf("normalizeDeviceName(%q) = %q: a control character", in, got)
		case strings.ContainsFunc(got, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }):
			t.Fatalf("normalizeDeviceName(%q) = %q: a bidirectional formatting character", in, got)
		case strings.TrimSpace(got) != got:
			t.Fatalf("normalizeDeviceName(%q) = %q: space around it", in, got)
		case utf8.RuneCountInString(got) > MaxDeviceNameLength:
			t.Fatalf("normalizeDeviceName(%q) = %q: %d characters", in, got, utf8.RuneCountInString(got))
		}
		if again, problem := normalizeDeviceName(got); again != got || problem != "" {
			t.Fatalf("normalizeDeviceName(%q) = %q, then %q, %q", in, got, again, problem)
		}
	})
}
