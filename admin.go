package latchkey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// NewUser is what AddUser needs besides the password.
type NewUser struct {
	Username  string
	Email     string
	FirstName string
	LastName  string
}

// AddUser creates an active user with a password that passes the policy.
// The username is stored in NFKC form (see normalizeUsername); a name
// whose form as typed or NFKC form names a user is taken.
func (a *Authenticator) AddUser(ctx context.Context, nu NewUser, pw Password) (User, error) {
	typed := nu.Username
	nu, err := checkNewUser(nu)
	if err != nil {
		return User{}, err
	}
	if err := a.checkNewPassword(nu.Username, "", pw); err != nil {
		return User{}, err
	}
	switch u, err := a.findUser(ctx, typed); {
	case err == nil:
		return User{}, usernameTaken(typed, u.Username)
	case !errors.Is(err, ErrNotFound):
		return User{}, fmt.Errorf("add user: %w", err)
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, err
	}
	u, err := a.store.CreateUser(ctx, User{
		Username:     nu.Username,
		Email:        nu.Email,
		FirstName:    nu.FirstName,
		LastName:     nu.LastName,
		PasswordHash: hash,
		Active:       true,
		DateJoined:   a.now(),
	})
	if errors.Is(err, ErrConflict) {
		return User{}, usernameTaken(typed, nu.Username)
	}
	if err != nil {
		return User{}, fmt.Errorf("add user: %w", err)
	}
	u.PasswordHash = ""
	return u, nil
}

// usernameTaken is the error for a new username, typed, that names the
// stored user taken: it names the stored user, since a look-alike's owner
// is not obvious.
func usernameTaken(typed, taken string) error {
	msg := fmt.Sprintf("A user named %s already exists.", QuoteUsername(taken))
	if typed != taken {
		msg = fmt.Sprintf("A user named %s already exists: %q is the same username once normalised (NFKC).", QuoteUsername(taken), typed)
	}
	return InvalidField("username", msg)
}

// checkNewUser checks the fields of a new user and returns them with the
// username in the form it is stored in.
func checkNewUser(nu NewUser) (NewUser, error) {
	var fe fieldErrors
	add := fe.add
	name, err := normalizeUsername(nu.Username)
	if err != nil {
		for _, msg := range AsError(err).Fields["username"] {
			add("username", msg)
		}
	}
	nu.Username = name
	if len(nu.Email) > MaxEmailLength || (nu.Email != "" && !strings.Contains(nu.Email, "@")) || !utf8.ValidString(nu.Email) {
		add("email", "Enter a valid email address.")
	}
	for f, v := range map[string]string{"first_name": nu.FirstName, "last_name": nu.LastName} {
		if utf8.RuneCountInString(v) > MaxNameLength || !utf8.ValidString(v) {
			add(f, fmt.Sprintf("Ensure this field has no more than %d characters.", MaxNameLength))
		}
	}
	return nu, fe.err()
}

// SetUserPassword sets a user's password (an administrator's act: no old
// password) and revokes every token of the user.
func (a *Authenticator) SetUserPassword(ctx context.Context, username string, pw Password) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	u, err := a.findUser(ctx, username)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := a.checkNewPassword(u.Username, "", pw); err != nil {
		return err
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	ds, err := a.store.SetPassword(ctx, u.ID, PasswordUpdate{NewHash: hash})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	a.revoke(ctx, Invalidation{Sessions: ds, Users: []int64{u.ID}})
	a.emitNow(ctx, Event{Kind: EventPasswordChange, UserID: u.ID, Username: u.Username, Detail: "set by an operator"})
	return nil
}

// SetUserActive enables or disables a user. Disabling revokes every token
// of the user at once.
func (a *Authenticator) SetUserActive(ctx context.Context, username string, active bool) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	u, err := a.findUser(ctx, username)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	ds, err := a.store.SetActive(ctx, u.ID, active)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	inv := Invalidation{Sessions: ds, Users: []int64{u.ID}}
	kind := EventUserDisable
	if active {
		kind = EventUserEnable
	}
	defer a.emitNow(ctx, Event{Kind: kind, UserID: u.ID, Username: u.Username, Detail: "set by an operator"})
	if active {
		// Nothing is revoked: no other process needs to have seen it.
		a.invalidate(ctx, inv)
		return nil
	}
	a.revoke(ctx, inv)
	return nil
}

// Users lists every user, without password hashes.
func (a *Authenticator) Users(ctx context.Context) ([]User, error) {
	us, err := a.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for i := range us {
		us[i].PasswordHash = ""
	}
	return us, nil
}

// emitNow records an operator's event and writes it at once, with any
// queued: the command line tool runs no Run to write them later. A failed
// write is logged; the act it records stands.
func (a *Authenticator) emitNow(ctx context.Context, e Event) {
	a.emit(ctx, e)
	if err := a.FlushEvents(ctx); err != nil {
		a.opt.Logger.Error("security event not written", "event", string(e.Kind), "err", err)
	}
}
