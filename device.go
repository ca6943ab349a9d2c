package latchkey

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxDeviceNameBytes bounds the work of normalising a device name. No
// name longer can be MaxDeviceNameLength characters once normalised: NFC
// only composes, each character of its output from at most the four code
// points of the longest canonical decomposition, each at most 4 bytes.
const maxDeviceNameBytes = MaxDeviceNameLength * 4 * utf8.UTFMax

// normalizeDeviceName returns a login's device name in the form its
// session keeps: in Unicode normalization form C, without white space
// around it, at most MaxDeviceNameLength characters; "" (no device name)
// when the client sent none, or only spaces. Otherwise it returns what is
// wrong with the name, as a message for the field "device_name".
//
// Unlike a user agent, which the client's software sends and which is
// cleaned (cleanUserAgent), a device name is chosen by the client for the
// user to read back: a name that is not UTF-8, or holds a control
// character (which forges lines on a terminal or in a log) or a
// bidirectional formatting character (which reorders what follows it on
// screen, "Trojan Source"), is refused rather than silently changed. NFC,
// not NFKC as for usernames: a device name is only shown, never looked up,
// so its compatibility forms ("ｉＰａｄ") are kept as the user typed them,
// while two spellings of one "é" are stored as one.
func normalizeDeviceName(name string) (string, string) {
	tooLong := fmt.Sprintf("Ensure this field has no more than %d characters.", MaxDeviceNameLength)
	switch {
	case name == "":
		return "", ""
	case len(name) > maxDeviceNameBytes:
		return "", tooLong
	case !utf8.ValidString(name):
		return "", "Device names must be UTF-8."
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", "Device names may not contain control characters."
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }):
		return "", "Device names may not contain bidirectional formatting characters."
	}
	n := strings.TrimSpace(norm.NFC.String(name))
	if utf8.RuneCountInString(n) > MaxDeviceNameLength {
		return "", tooLong
	}
	return n, ""
}
