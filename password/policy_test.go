package password

import (
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
)

func TestPolicy(t *testing.T) {
	const (
		tooShort   = "This password is too short. It must contain at least 12 characters."
		tooLong    = "Ensure this password has no more than 256 characters."
		whitespace = "This password is entirely whitespace."
		username   = "The password is too similar to the username."
		sameAsOld  = "The new password must differ from the old one."
		tooCommon  = "This password is too common."
	)
	for _, c := range []struct {
		name   string
		policy Policy
		user   string
		old    latchkey.Password
		pw     latchkey.Password
		want   string // "" when accepted
	}{
		{"passphrase", Policy{}, "alice", "", "correct horse battery staple", ""},
		{"12 characters", Policy{}, "alice", "", "xq7#Lm2$vR9p", ""},
		{"11 characters", Policy{}, "alice", "", "xq7#Lm2$vR9", tooShort},
		{"empty", Policy{}, "alice", "", "", tooShort},
		{"12 two-byte characters", Policy{}, "alice", "", "éàüöçñøåßþðæ", ""},
		{"11 two-byte characters, 22 bytes", Policy{}, "alice", "", "éàüöçñøåßþð", tooShort},
		{"256 characters", Policy{}, "alice", "", latchkey.Password(strings.Repeat("horse-b", 36) + "atte"), ""},
		{"257 characters", Policy{}, "alice", "", latchkey.Password(strings.Repeat("horse-b", 36) + "attery"), tooLong},
		{"spaces", Policy{}, "alice", "", "              ", whitespace},
		{"unicode whitespace", Policy{}, "alice", "", "\u3000\u00a0\t\n\u2003\u2003\u2003\u2003\u2003\u2003\u2003\u2003", whitespace},
		{"username", Policy{}, "alice.wonderland", "", "alice.wonderland", username},
		{"username in other case", Policy{}, "alice.wonderland", "", "Alice.WONDERLAND", username},
		{"contains username", Policy{}, "alice", "", "alice-in-wonderland", ""},
		{"old password", Policy{}, "alice", "tr0ub4dor&3-horse", "tr0ub4dor&3-horse", sameAsOld},
		{"old password in other case", Policy{}, "alice", "tr0ub4dor&3-horse", "TR0UB4DOR&3-HORSE", ""},
		{"common", Policy{}, "alice", "", "1qaz2wsx3edc", tooCommon},
		{"common, other case", Policy{}, "alice", "", "QWERTY123456", tooCommon},
		{"common, padded", Policy{}, "alice", "", " leavemealone ", tooCommon},
		{"common word", Policy{}, "alice", "", "contortionist", tooCommon},
		{"invalid UTF-8", Policy{}, "alice", "", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4", "The password is not valid UTF-8."},
		{"lower minimum", Policy{MinLength: 8}, "alice", "", "xq7#Lm2$", ""},
		{"lower minimum, common", Policy{MinLength: 8}, "alice", "", "password", tooCommon},
		{"minimum of one", Policy{MinLength: 1}, "alice", "", "", "This password is too short. It must contain at least 1 character."},
		{"lower maximum", Policy{MaxLength: 20}, "alice", "", "correct horse battery staple", "Ensure this password has no more than 20 characters."},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.policy.Check(c.user, c.old, c.pw)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Check = %q, want nil", err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Errorf("Check = %v, want %q", err, c.want)
			}
		})
	}
}

// Check's method value must stay a latchkey.Options.CheckPassword.
var _ = latchkey.Options{CheckPassword: Policy{}.Check}
