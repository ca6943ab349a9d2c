package latchkey

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Usernames are stored, and looked up, in Unicode normalization form KC,
// as Django's AbstractBaseUser.normalize_username keeps them: "ａｌｉｃｅ"
// (fullwidth) is "alice", and "josé" is one name whether its "é" came as
// one code point or as "e" and a combining accent. NFKC does not fold
// look-alikes of other scripts: "аlice" with a Cyrillic "а" stays a name of
// its own. Comparisons are case-sensitive, as Django's.

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

// normalizeUsername returns a new username in the form it is stored in:
// NFKC. Beyond usernameProblem's rules, a stored name holds only letters,
// marks, digits, punctuation and symbols (no spaces, no format characters
// such as zero-width or bidirectional marks, no private-use or unassigned
// code points), and is at most MaxUsernameLength characters once
// normalised. User creation and imports call it, so that every stored name
// is one a login can type; its error is an invalid_request naming the
// field "username".
func normalizeUsername(name string) (string, error) {
	if err := checkUsername(name); err != nil {
		return "", err
	}
	n := norm.NFKC.String(name)
	if err := checkUsername(n); err != nil {
		return "", err
	}
	if strings.ContainsFunc(n, func(r rune) bool { return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) }) {
		return "", InvalidField("username", "Usernames may contain only letters, digits, punctuation and symbols: no spaces or invisible characters.")
	}
	return n, nil
}

// foldUsername returns the form of a typed name that is looked up, and
// that the throttle counts: its NFKC form, so that "ａｌｉｃｅ" is
// counted as "alice". A name that cannot be a username (not UTF-8, or
// longer than any username's bytes) is returned as it is: usernameProblem
// refuses it, and it is not worth normalising.
func foldUsername(name string) string {
	if len(name) > utf8.UTFMax*MaxUsernameLength || !utf8.ValidString(name) {
		return name
	}
	return norm.NFKC.String(name)
}

// QuoteUsername returns a stored username as a terminal or a report may
// show it: as it is when it is a username in the form latchkey stores new
// ones, else quoted in Go syntax with every character beyond ASCII
// escaped, so that a control character cannot forge output and a name
// that is not in NFKC form ("\uff41\uff4c\uff49\uff43\uff45") is told from
// the name it looks like ("alice"). Only names stored before usernames
// were normalised, or imported before, are quoted.
func QuoteUsername(name string) string {
	if n, err := normalizeUsername(name); err == nil && n == name {
		return name
	}
	return strconv.QuoteToASCII(name)
}

// findUser finds the user a typed name names: the user stored under the
// name as typed or else, when that differs, under its NFKC form. A name
// stored before usernames were normalised keeps logging in as it was
// stored, and two users whose names differ only by normalisation stay
// apart, as they were; see the README's migration note. When the two
// forms differ both are looked up, whatever the first finds, so that the
// time a lookup takes does not tell which form names a user. The name
// must have passed usernameProblem.
func (a *Authenticator) findUser(ctx context.Context, name string) (User, error) {
	u, err := a.store.UserByUsername(ctx, name)
	form := foldUsername(name)
	if form == name {
		return u, err
	}
	v, ferr := a.store.UserByUsername(ctx, form)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return u, err
	}
	return v, ferr
}

// cleanUserAgent returns a client's user agent as its session keeps it:
// UTF-8 (each run of bytes that are not, a Latin-1 "é" say, becomes
// U+FFFD), without control characters, and at most maxUserAgentLength
// bytes, cut between two characters. A user agent is what the client
// says it is, shown back to the user: it is cleaned, never refused.
func cleanUserAgent(ua string) string { return cleanText(ua, maxUserAgentLength) }

// cleanText makes s fit for a log or a record: bytes that are not UTF-8
// become U+FFFD, control characters are dropped, and it is cut to at most
// max bytes at a character boundary.
func cleanText(s string, max int) string {
	// Bound the work first, cutting before a character that the bound
	// would split; replacements may lengthen it again, so it is cut once
	// more at the end.
	if len(s) > max {
		i := max
		for i > max-utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}
