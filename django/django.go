// Package django moves a Django project's users and Django REST
// Framework tokens into latchkey: it reads them from a `manage.py dumpdata`
// file or straight from the project's SQLite or PostgreSQL database, and
// imports them into a latchkey.Importer in one transaction.
//
// Readers stream: each record goes to a callback as soon as it is read,
// so a project of any size is read in constant memory. Users keep their
// ids, names, emails, active flags, dates and password hashes exactly as
// Django stored them (the password package verifies Django's hashes and
// replaces them with Argon2id at the next login); each token becomes a
// latchkey session under the digest of its key, so that clients sending
// `Authorization: Token <key>` need no new login.
package django

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// User is a row of Django's auth_user table.
type User struct {
	ID        int64
	Username  string
	Email     string
	FirstName string
	LastName  string
	// Password is the encoded hash as Django stores it, "!…" when
	// unusable.
	Password   string
	IsActive   bool
	LastLogin  time.Time // zero when the user never logged in
	DateJoined time.Time
}

// LogValue keeps the password hash out of logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("id", u.ID), slog.String("username", u.Username))
}

// Token is a row of Django REST Framework's authtoken_token table.
type Token struct {
	// Key is the token itself, the secret clients send; it prints as
	// [redacted].
	Key latchkey.Token
	// UserID is the token's user; 0 when a dumpdata file made with
	// --natural-foreign names the user by Username instead.
	UserID   int64
	Username string
	Created  time.Time
}

// Handler receives the records a reader finds, one at a time. A reader
// stops at the first error a callback returns, and returns it.
type Handler struct {
	User  func(User) error
	Token func(Token) error
}

// Reader reads the users and tokens of a Django project.
type Reader struct {
	// UserModel is the label of the project's user model, its
	// AUTH_USER_MODEL in lower case ("accounts.user"), for projects with
	// a custom one; empty means "auth.user". Its table is taken to be
	// Django's default name for it (accounts_user), and it must have
	// auth.User's fields: a model without first_name, last_name, email,
	// is_active or date_joined is read as if they were empty (is_active
	// true, as AbstractBaseUser has it) in a dumpdata file, and fails to
	// read from a database.
	UserModel string
}

// DefaultUserModel is Django's own user model.
const DefaultUserModel = "auth.user"

// tokenModel is Django REST Framework's token model and tokenTable its table.
const (
	tokenModel = "authtoken.token"
	tokenTable = "authtoken_token"
)

// labelSyntax is what a model label may look like: it becomes a table
// name in SQL, so nothing else is accepted.
var labelSyntax = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)

// Validate reports whether r's settings can be used: whether UserModel
// is a model label.
func (r Reader) Validate() error {
	_, _, err := r.userModel()
	return err
}

// userModel returns the user model's label and table.
func (r Reader) userModel() (label, table string, err error) {
	label = strings.ToLower(r.UserModel)
	if label == "" {
		label = DefaultUserModel
	}
	if !labelSyntax.MatchString(label) {
		return "", "", fmt.Errorf("django: user model %q is not an app_label.model label", r.UserModel)
	}
	return label, strings.Replace(label, ".", "_", 1), nil
}

// parseTime reads a time as Django writes it: ISO 8601 with "T" (dumpdata)
// or " " (SQLite's text columns), with or without fractional seconds, and
// with a zone ("Z", "+02:00") or without one. A time without a zone is
// taken as UTC: Django with USE_TZ stores UTC, and one without stores
// local times that no file says the zone of.
func parseTime(s string) (time.Time, error) {
	const naive = "2006-01-02T15:04:05.999999999"
	if len(s) < len("2006-01-02T15:04:05") {
		return time.Time{}, fmt.Errorf("time %q is not ISO 8601", s)
	}
	b := []byte(s)
	if b[10] == ' ' {
		b[10] = 'T'
	}
	var (
		t   time.Time
		err error
	)
	if rest := string(b[19:]); strings.HasSuffix(rest, "Z") || strings.ContainsAny(rest, "+-") {
		t, err = time.Parse(time.RFC3339Nano, string(b))
	} else {
		t, err = time.ParseInLocation(naive, string(b), time.UTC)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not ISO 8601", s)
	}
	return t.UTC(), nil
}
