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
	a.revoke(ctx, RevokedPasswordSet, Invalidation{Sessions: ds, Users: []int64{u.ID}})
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
	a.revoke(ctx, RevokedUserDisabled, inv)
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

// UserSessions lists the live sessions of the user a typed name names,
// newest first: what GET /v1/sessions shows the user, for an
// administrator. The user is returned without its password hash.
func (a *Authenticator) UserSessions(ctx context.Context, username string) (User, []Session, error) {
	if err := checkUsername(username); err != nil {
		return User{}, nil, err
	}
	u, err := a.findUser(ctx, username)
	if err != nil {
		return User{}, nil, fmt.Errorf("user sessions: %w", err)
	}
	u.PasswordHash = ""
	ss, err := a.store.ListSessions(ctx, u.ID, a.now())
	if err != nil {
		return User{}, nil, fmt.Errorf("user sessions: %w", err)
	}
	return u, ss, nil
}

// RevokeSessionByID revokes the live session with that id, whoever's it
// is, exactly as its user's logout would: one Invalidation, through the
// cache (announced to the other processes when the cache is shared), and
// an answer only once no other process can still serve it. It returns the
// revoked session; ErrNotFound when no live session has that id.
func (a *Authenticator) RevokeSessionByID(ctx context.Context, id string) (Session, error) {
	if !plausibleSessionID(id) {
		return Session{}, ErrNotFound
	}
	s, err := a.store.SessionByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("revoke session: %w", err)
	}
	d, err := a.store.DeleteSession(ctx, s.UserID, id, a.now())
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrNotFound // expired, or revoked meanwhile
	}
	if err != nil {
		return Session{}, fmt.Errorf("revoke session: %w", err)
	}
	a.revoke(ctx, RevokedSession, Invalidation{Sessions: []Digest{d}})
	a.emitNow(ctx, Event{Kind: EventSessionDelete, UserID: s.UserID, SessionID: id, Detail: "by an operator"})
	return s, nil
}

// RevokeUserSessions revokes every session of the user a typed name
// names, as the user's global logout would, and returns how many there
// were (expired ones included). Unlike disabling the user, it leaves the
// user able to log in again.
func (a *Authenticator) RevokeUserSessions(ctx context.Context, username string) (int, error) {
	if err := checkUsername(username); err != nil {
		return 0, err
	}
	u, err := a.findUser(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	ds, err := a.store.DeleteSessions(ctx, u.ID, nil)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	a.revoke(ctx, RevokedLogout, Invalidation{Sessions: ds})
	a.emitNow(ctx, Event{Kind: EventLogout, UserID: u.ID, Username: u.Username, Detail: "global, by an operator"})
	return len(ds), nil
}

// plausibleSessionID reports whether id could name a session: ids are 22
// characters of URL-safe base64, and no store is asked about one that is
// not UTF-8, holds a NUL (which PostgreSQL refuses outright rather than
// finding nothing) or is longer than any id.
func plausibleSessionID(id string) bool {
	return id != "" && len(id) <= 64 && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
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
