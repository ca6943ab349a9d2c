package latchkey

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Login verifies a username and password and issues a new token. Unknown
// users, wrong passwords, inactive users and unusable passwords all get
// ErrInvalidCredentials after the same hashing work.
func (a *Authenticator) Login(ctx context.Context, username string, pw Password, c Client) (Issued, error) {
	if err := checkLoginInput(username, pw); err != nil {
		return Issued{}, err
	}
	u, err := a.store.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Issued{}, Unavailable(fmt.Errorf("login: find user: %w", err))
	}
	// An unknown user is verified against an empty hash, which costs the
	// same as a real check.
	ok, rehash, err := a.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return Issued{}, err
	}
	if !ok || !u.Active || u.ID == 0 {
		return Issued{}, ErrInvalidCredentials
	}
	upd := LoginUpdate{ExpectHash: u.PasswordHash}
	if rehash {
		if upd.NewHash, err = a.hasher.Hash(ctx, pw); err != nil {
			// The login is good; the rehash can wait for the next one.
			a.opt.Logger.Warn("login: rehash", "user_id", u.ID, "err", err)
			upd.NewHash = ""
		}
	}
	gen := a.gen.Load()
	tok, s, err := a.newSession(u.ID, c)
	if err != nil {
		return Issued{}, err
	}
	upd.LastLogin = s.CreatedAt
	if err := a.store.CreateSession(ctx, s, upd); err != nil {
		if errors.Is(err, ErrConflict) {
			// The password changed or the user was disabled meanwhile.
			return Issued{}, ErrInvalidCredentials
		}
		return Issued{}, Unavailable(fmt.Errorf("login: create session: %w", err))
	}
	u.LastLogin = s.CreatedAt
	u.PasswordHash = ""
	// The user record changed (last login): drop the stale copy first.
	a.evict(ctx, u.ID)
	a.fill(ctx, gen+1, s.Digest, s.Cached(), u)
	return Issued{Token: tok, Session: s, User: u}, nil
}

func checkLoginInput(username string, pw Password) error {
	var fe fieldErrors
	add := fe.add
	switch {
	case username == "":
		add("username", "This field is required.")
	case utf8.RuneCountInString(username) > MaxUsernameLength || !utf8.ValidString(username):
		add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", MaxUsernameLength))
	}
	switch {
	case pw == "":
		add("password", "This field is required.")
	case len(pw) > MaxLoginPasswordLength:
		add("password", fmt.Sprintf("Ensure this field has no more than %d bytes.", MaxLoginPasswordLength))
	}
	return fe.err()
}

// fieldErrors collects per-field messages for one invalid_request error.
type fieldErrors map[string][]string

func (fe *fieldErrors) add(field, msg string) {
	if *fe == nil {
		*fe = fieldErrors{}
	}
	(*fe)[field] = append((*fe)[field], msg)
}

// err returns the collected messages as an error, or nil when there are none.
func (fe fieldErrors) err() error {
	if fe == nil {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: CodeInvalidRequest, Detail: "Invalid input.", Fields: fe}
}
