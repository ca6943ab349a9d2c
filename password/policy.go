package password

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"

	"github.com/latchkeyhq/latchkey"
)

// Policy decides which new passwords are acceptable. Its rules follow
// Django's default validators, so that users of a Django site moved to
// latchkey meet the rules they know; length is counted in characters, not
// bytes, so that a passphrase in any script gets the same allowance.
type Policy struct {
	// MinLength is the fewest characters a password may have; 0 means 12,
	// OWASP ASVS's minimum.
	MinLength int
	// MaxLength is the most characters; 0 means latchkey.MaxPasswordLength
	// (256). Long passphrases are welcome: the bound only keeps the input
	// of hashing small.
	MaxLength int
}

// Check returns nil when pw may become the password of username, whose
// current password is old (empty when there is none). Otherwise its error
// is a sentence fit to show the client, capitalised and punctuated unlike
// Go's usual error strings. Its method value fits
// latchkey.Options.CheckPassword.
func (p Policy) Check(username string, old, pw latchkey.Password) error {
	minLen, maxLen := p.MinLength, p.MaxLength
	if minLen <= 0 {
		minLen = 12
	}
	if maxLen <= 0 {
		maxLen = latchkey.MaxPasswordLength
	}
	s := string(pw)
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return errors.New("The password is not valid UTF-8.")
	case n < minLen:
		return fmt.Errorf("This password is too short. It must contain at least %d %s.", minLen, characters(minLen))
	case n > maxLen:
		return fmt.Errorf("Ensure this password has no more than %d %s.", maxLen, characters(maxLen))
	case strings.TrimSpace(s) == "":
		return errors.New("This password is entirely whitespace.")
	case username != "" && strings.EqualFold(s, username):
		return errors.New("The password is too similar to the username.")
	case old != "" && pw == old:
		return errors.New("The new password must differ from the old one.")
	case common(s):
		return errors.New("This password is too common.")
	}
	return nil
}

func characters(n int) string {
	if n == 1 {
		return "character"
	}
	return "characters"
}

// common reports whether pw, lowercased and trimmed as Django's
// CommonPasswordValidator does, is on zxcvbn's list of the 30,000 most used
// passwords (all lowercase).
func common(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(strings.TrimSpace(pw))]
	return ok
}

// commonPasswords builds the set once, on first use, and never changes it.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	list := frequency.FrequencyLists["passwords"]
	set := make(map[string]struct{}, len(list))
	for _, pw := range list {
		set[pw] = struct{}{}
	}
	return set
})
