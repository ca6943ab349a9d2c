package latchkey

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// usernameProblem checks a typed username (a login's, or the name an
// administrator's command names) against what every store can hold, and
// returns what is wrong with it as a message for the field "username", or
// "" when nothing is. It refuses only names that no user can have: empty,
// not UTF-8, too long, or holding control characters (PostgreSQL refuses
// NUL and invalid UTF-8 outright, and a control character in a name
// forges lines on a terminal or in a log). A refusal is a function of the
// name alone, never of what the store holds: it tells nothing of which
// users exist.
func usernameProblem(name string) string {
	switch {
	case name == "":
		return "This field is required."
	case !utf8.ValidString(name):
		return "Usernames must be UTF-8."
	case utf8.RuneCountInString(name) > MaxUsernameLength:
		return fmt.Sprintf("Ensure this field has no more than %d characters.", MaxUsernameLength)
	case strings.ContainsFunc(name, unicode.IsControl):
		return "Usernames may not contain control characters."
	}
	return ""
}

// checkUsername is usernameProblem as an error: an invalid_request naming
// the field "username", or nil.
func checkUsername(name string) error {
	if msg := usernameProblem(name); msg != "" {
		return InvalidField("username", msg)
	}
	return nil
}

// cleanUserAgent returns a client's user agent as its session keeps it:
// UTF-8 (each run of bytes that are not, a Latin-1 "é" say, becomes
// U+FFFD), without control characters, and at most maxUserAgentLength
// bytes, cut between two characters. A user agent is what the client
// says it is, shown back to the user: it is cleaned, never refused.
func cleanUserAgent(ua string) string {
	// Bound the work first, cutting before a character that the bound
	// would split; replacements may lengthen it again, so it is cut once
	// more at the end.
	if len(ua) > maxUserAgentLength {
		i := maxUserAgentLength
		for i > maxUserAgentLength-utf8.UTFMax && !utf8.RuneStart(ua[i]) {
			i--
		}
		ua = ua[:i]
	}
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, ua)
	if len(ua) > maxUserAgentLength {
		i := maxUserAgentLength
		for !utf8.RuneStart(ua[i]) {
			i--
		}
		ua = ua[:i]
	}
	return ua
}
