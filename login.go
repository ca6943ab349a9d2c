package latchkey

import (
	"context"
	"errors"
	"fmt"
)

// LoginRequest is one attempt to log in with a password.
type LoginRequest struct {
	Username string
	Password Password
	// Captcha is the client's captcha response (a provider's token or a
	// proof-of-work solution); empty when it sent none.
	Captcha string
	Client  Client
}

// Login is the login gate: the one way a password is exchanged for a
// token, so that no entry point can skip a step. In order:
//
//   - the throttle charges the attempt, before anything else: a refused
//     attempt (ErrThrottled, with RetryAfter) costs no captcha call and
//     never reaches the password hash;
//   - when a captcha is needed, it is verified before the password is
//     looked at, so that a right password is never revealed without one;
//   - the password is checked: unknown users, wrong passwords, inactive
//     users and unusable passwords all get ErrInvalidCredentials after
//     the same hashing work;
//   - the throttle records the outcome.
//
// A failed login whose next attempt needs a captcha gets an
// ErrInvalidCredentials with CaptchaRequired set. Each decision is logged
// in one line, without the password.
func (a *Authenticator) Login(ctx context.Context, req LoginRequest) (Issued, error) {
	is, err := a.login(ctx, req)
	a.logLogin(ctx, req.Username, req.Client, err)
	return is, err
}

func (a *Authenticator) login(ctx context.Context, req LoginRequest) (Issued, error) {
	// The throttle and the captcha count a name in the form it is looked
	// up in: "ａｌｉｃｅ" spends alice's allowance.
	c, name := req.Client, foldUsername(req.Username)
	if err := a.admit(ctx, name, c); err != nil {
		return Issued{}, err
	}
	is, err := a.captchaThenPassword(ctx, req, name)
	a.record(ctx, name, c, outcomeOf(err))
	if errors.Is(err, ErrInvalidCredentials) && a.captchaNeeded(ctx, name, c) {
		e := *ErrInvalidCredentials
		e.CaptchaRequired = true
		return Issued{}, &e
	}
	return is, err
}

func (a *Authenticator) captchaThenPassword(ctx context.Context, req LoginRequest, name string) (Issued, error) {
	if err := a.checkCaptcha(ctx, name, req.Captcha, req.Client); err != nil {
		return Issued{}, err
	}
	return a.issue(ctx, req.Username, req.Password, req.Client)
}

// issue verifies a username and password and issues a new token.
func (a *Authenticator) issue(ctx context.Context, username string, pw Password, c Client) (Issued, error) {
	if err := checkLoginInput(username, pw); err != nil {
		return Issued{}, err
	}
	u, err := a.findUser(ctx, username)
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
	a.invalidate(ctx, Invalidation{Users: []int64{u.ID}})
	a.fill(ctx, gen+1, s.Digest, s.Cached(), u)
	return Issued{Token: tok, Session: s, User: u}, nil
}

func checkLoginInput(username string, pw Password) error {
	var fe fieldErrors
	add := fe.add
	if msg := usernameProblem(username); msg != "" {
		add("username", msg)
	}
	switch {
	case pw == "":
		add("password", "This field is required.")
	case len(pw) > MaxLoginPasswordLength:
		add("password", fmt.Sprintf("Ensure this field has no more than %d bytes.", MaxLoginPasswordLength))
	}
	return fe.err()
}
