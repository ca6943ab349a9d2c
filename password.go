package latchkey

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ChangePassword checks the old password, sets the new one, revokes every
// token of the user (the caller's too) and issues a new token. The old
// password passes the login gate's throttle, as a login's does: a stolen
// token must not guess it without limit. A user with a second factor
// sends a code of it too (code; see requireCode), checked after the
// password and counted alike.
func (a *Authenticator) ChangePassword(ctx context.Context, p Principal, old, pw Password, code string, c Client) (Issued, error) {
	name := foldUsername(p.User.Username) // counted as a login's
	if err := a.admit(ctx, name, c); err != nil {
		a.emit(ctx, Event{Kind: EventLoginThrottled, UserID: p.User.ID, Username: p.User.Username,
			Detail: "password change: " + ThrottleReason(err), IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
		return Issued{}, err
	}
	is, err := a.changePassword(ctx, p, old, pw, code, c)
	a.record(ctx, name, c, outcomeOf(err))
	if errors.Is(err, errWrongCode) {
		a.emit(ctx, Event{Kind: EventMFAFailure, UserID: p.User.ID, Username: p.User.Username, Detail: "password change",
			IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	}
	if err == nil {
		a.emit(ctx, Event{Kind: EventPasswordChange, UserID: p.User.ID, Username: p.User.Username,
			IP: c.IP(), UserAgent: c.UserAgent, SessionID: is.Session.ID})
	}
	return is, err
}

func (a *Authenticator) changePassword(ctx context.Context, p Principal, old, pw Password, code string, c Client) (Issued, error) {
	switch {
	case old == "":
		return Issued{}, InvalidField("old_password", "This field is required.")
	case pw == "":
		return Issued{}, InvalidField("new_password", "This field is required.")
	case len(old) > MaxLoginPasswordLength:
		return Issued{}, wrongPassword()
	}
	u, err := a.store.UserByID(ctx, p.User.ID)
	if err != nil {
		return Issued{}, Unavailable(fmt.Errorf("change password: %w", err))
	}
	ok, _, err := a.hasher.Verify(ctx, old, u.PasswordHash)
	if err != nil {
		return Issued{}, err
	}
	if !ok {
		return Issued{}, wrongPassword()
	}
	if err := a.checkNewPassword(u.Username, old, pw); err != nil {
		return Issued{}, err
	}
	if err := a.requireCode(ctx, u, code, p.Session.SessionID, c); err != nil {
		return Issued{}, err
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return Issued{}, err
	}
	device := a.deviceOf(ctx, p)
	gen := a.gen.Load()
	tok, s, err := a.newSession(u.ID, c, device)
	if err != nil {
		return Issued{}, err
	}
	ds, err := a.store.SetPassword(ctx, u.ID, PasswordUpdate{ExpectHash: u.PasswordHash, NewHash: hash, Session: &s})
	if errors.Is(err, ErrConflict) {
		return Issued{}, wrongPassword()
	}
	if err != nil {
		return Issued{}, Unavailable(fmt.Errorf("change password: %w", err))
	}
	a.revoke(ctx, RevokedPasswordChange, Invalidation{Sessions: append(ds, p.Digest), Users: []int64{u.ID}})
	u.PasswordHash = ""
	a.fill(ctx, gen+1, s.Digest, s.Cached(), u)
	return Issued{Token: tok, Session: s, User: u}, nil
}

// deviceOf returns the device name of the principal's session: the new
// token of a password change replaces it, on the same device. A session
// that cannot be read gives no name; the change goes on without one.
func (a *Authenticator) deviceOf(ctx context.Context, p Principal) string {
	s, err := a.store.SessionByID(ctx, p.Session.SessionID)
	if err != nil || s.Digest != p.Digest {
		return ""
	}
	return s.DeviceName
}

func wrongPassword() error { return wrongPasswordField("old_password") }

// wrongPasswordField is the error of a wrong password sent as field by a
// signed-in user.
func wrongPasswordField(field string) error {
	e := InvalidField(field, "Wrong password.")
	e.Err = errWrongPassword
	return e
}

// checkNewPassword applies the length bounds and the configured policy.
func (a *Authenticator) checkNewPassword(username string, old, pw Password) error {
	n := utf8.RuneCountInString(string(pw))
	if n > MaxPasswordLength {
		return InvalidField("new_password", fmt.Sprintf("Ensure this password has no more than %d characters.", MaxPasswordLength))
	}
	if !utf8.ValidString(string(pw)) {
		return InvalidField("new_password", "The password is not valid UTF-8.")
	}
	if a.opt.CheckPassword != nil {
		if err := a.opt.CheckPassword(username, old, pw); err != nil {
			return InvalidField("new_password", err.Error())
		}
	}
	return nil
}
