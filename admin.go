package latchkey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
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
func (a *Authenticator) AddUser(ctx context.Context, nu NewUser, pw Password) (User, error) {
	if err := checkNewUser(nu); err != nil {
		return User{}, err
	}
	if err := a.checkNewPassword(nu.Username, "", pw); err != nil {
		return User{}, err
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
		return User{}, InvalidField("username", "A user with that username already exists.")
	}
	if err != nil {
		return User{}, fmt.Errorf("add user: %w", err)
	}
	u.PasswordHash = ""
	return u, nil
}

func checkNewUser(nu NewUser) error {
	var fe fieldErrors
	add := fe.add
	switch {
	case nu.Username == "":
		add("username", "This field is required.")
	case !utf8.ValidString(nu.Username) || utf8.RuneCountInString(nu.Username) > MaxUsernameLength:
		add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", MaxUsernameLength))
	case strings.IndexFunc(nu.Username, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		add("username", "Usernames may not contain spaces or control characters.")
	}
	if len(nu.Email) > MaxEmailLength || (nu.Email != "" && !strings.Contains(nu.Email, "@")) || !utf8.ValidString(nu.Email) {
		add("email", "Enter a valid email address.")
	}
	for f, v := range map[string]string{"first_name": nu.FirstName, "last_name": nu.LastName} {
		if utf8.RuneCountInString(v) > MaxNameLength || !utf8.ValidString(v) {
			add(f, fmt.Sprintf("Ensure this field has no more than %d characters.", MaxNameLength))
		}
	}
	return fe.err()
}

// SetUserPassword sets a user's password (an administrator's act: no old
// password) and revokes every token of the user.
func (a *Authenticator) SetUserPassword(ctx context.Context, username string, pw Password) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	u, err := a.store.UserByUsername(ctx, username)
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
	a.invalidate(ctx, Invalidation{Sessions: ds, Users: []int64{u.ID}})
	return nil
}

// SetUserActive enables or disables a user. Disabling revokes every token
// of the user at once.
func (a *Authenticator) SetUserActive(ctx context.Context, username string, active bool) error {
	if err := checkUsername(username); err != nil {
		return err
	}
	u, err := a.store.UserByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	ds, err := a.store.SetActive(ctx, u.ID, active)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	a.invalidate(ctx, Invalidation{Sessions: ds, Users: []int64{u.ID}})
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
