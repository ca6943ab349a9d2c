package latchkey

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// LoginRequest is one attempt to log in with a password.
type LoginRequest struct {
	Username string
	Password Password
	// Captcha is the client's captcha response (a provider's token or a
	// proof-of-work solution); empty when it sent none.
	Captcha string
	// DeviceName is the name the client gives this login ("Alice's
	// laptop"), kept with the session and shown in its list; "" for none.
	// See normalizeDeviceName for what is accepted.
	DeviceName string
	Client     Client
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
//     the same hashing work, one check that fails, which the hasher pads
//     to the same time;
//   - the throttle records the outcome.
//
// A failed login whose next attempt needs a captcha gets an
// ErrInvalidCredentials with CaptchaRequired set. Each decision is logged
// in one line, without the password, and without the username unless the
// user exists (see logLogin).
func (a *Authenticator) Login(ctx context.Context, req LoginRequest) (Issued, error) {
	// The throttle and the captcha count a name in the form it is looked
	// up in: "ａｌｉｃｅ" spends alice's allowance.
	name := foldUsername(req.Username)
	start := a.opt.Now()
	is, u, err := a.login(ctx, req, name)
	a.loginDone(ctx, start, name, u.Username, req.Client, err, loginEvent(req, u, is, err))
	return is, err
}

// loginDone closes a login decision, whichever way it was made (a
// password, a second factor, a passkey): it is counted with its duration
// since start, logged in the one login line, and recorded as event e.
func (a *Authenticator) loginDone(ctx context.Context, start time.Time, name, known string, c Client, err error, e Event) {
	a.opt.Metrics.Login(loginOutcomeOf(err), a.opt.Now().Sub(start))
	a.logLogin(ctx, name, known, c, err)
	a.emit(ctx, e)
}

// login runs the gate for req, whose username's folded form is name. It
// returns, with the outcome, the user the password was checked against:
// the zero User when there is none, or the attempt stopped before the
// lookup.
func (a *Authenticator) login(ctx context.Context, req LoginRequest, name string) (Issued, User, error) {
	c := req.Client
	if err := a.admit(ctx, name, c); err != nil {
		return Issued{}, User{}, err
	}
	is, u, err := a.captchaThenPassword(ctx, req, name)
	a.record(ctx, name, c, outcomeOf(err))
	if errors.Is(err, ErrInvalidCredentials) && a.captchaNeeded(ctx, name, c) {
		e := *ErrInvalidCredentials
		e.CaptchaRequired = true
		return Issued{}, u, &e
	}
	return is, u, err
}

func (a *Authenticator) captchaThenPassword(ctx context.Context, req LoginRequest, name string) (Issued, User, error) {
	if err := a.checkCaptcha(ctx, name, req.Captcha, req.Client); err != nil {
		return Issued{}, User{}, err
	}
	return a.issue(ctx, req)
}

// issue verifies a username and password and issues a new token. It
// returns, whatever the outcome, the user it found (the zero User when
// none), which the gate's log and event may show: the lookup is the one
// place that knows it, at no extra query.
func (a *Authenticator) issue(ctx context.Context, req LoginRequest) (Issued, User, error) {
	device, err := checkLoginInput(req)
	if err != nil {
		return Issued{}, User{}, err
	}
	u, err := a.findUser(ctx, req.Username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Issued{}, User{}, Unavailable(fmt.Errorf("login: find user: %w", err))
	}
	is, err := a.verifyAndIssue(ctx, u, req.Password, req.Client, device)
	u.PasswordHash = ""
	return is, u, err
}

// loginEvent is the security event of a login for req: its outcome, err,
// and the user u the password was checked against (the zero User when
// none). A failure against an existing account is that user's event; the
// reason, kept in Detail, is for operators only.
func loginEvent(req LoginRequest, u User, is Issued, err error) Event {
	e := Event{
		Kind:      EventLoginSuccess,
		UserID:    u.ID,
		Username:  req.Username,
		IP:        req.Client.IP(),
		UserAgent: req.Client.UserAgent,
		SessionID: is.Session.ID,
	}
	switch code := AsError(err).Code; {
	case err == nil:
	case errors.Is(err, ErrThrottled):
		e.Kind, e.Detail = EventLoginThrottled, ThrottleReason(err)
	case errors.Is(err, ErrMFARequired):
		e.Kind = EventLoginMFARequired
	case code == CodeCaptchaRequired || code == CodeCaptchaInvalid || code == CodeCaptchaUnavailable:
		e.Kind, e.Detail = EventCaptchaRefused, code
	case errors.Is(err, ErrInvalidCredentials):
		e.Kind = EventLoginFailure
		switch {
		case u.ID == 0:
			e.Detail = "unknown_user"
		case !u.Active:
			e.Detail = "inactive"
		default:
			e.Detail = "wrong_password"
		}
	default:
		e.Kind, e.Detail = EventLoginFailure, code
	}
	return e
}

// verifyAndIssue checks pw against u, the user found for a login (the
// zero User when none was), and issues a new token for the device named
// device.
func (a *Authenticator) verifyAndIssue(ctx context.Context, u User, pw Password, c Client, device string) (Issued, error) {
	// An unknown user is verified against an empty hash, which costs the
	// same as a real check. So is an inactive user, who cannot log in
	// anyway: a right password must not answer sooner than a wrong one,
	// which the hasher pads to its floor.
	hash := u.PasswordHash
	if !u.Active {
		hash = ""
	}
	ok, rehash, err := a.hasher.Verify(ctx, pw, hash)
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
	is, err := a.createSession(ctx, u, c, device, upd)
	if errors.Is(err, ErrConflict) {
		// The user needs a second factor (the store decides it with the
		// insert, so that no confirmation slips in between), or the
		// password changed or the user was disabled meanwhile.
		return Issued{}, a.challengeIfEnrolled(ctx, u, device)
	}
	return is, err
}

// createSession issues a token for u from c, on the device named device,
// with upd (a login, with or without a second factor), and caches it.
// ErrConflict when the store refused upd's conditions.
func (a *Authenticator) createSession(ctx context.Context, u User, c Client, device string, upd LoginUpdate) (Issued, error) {
	gen := a.gen.Load()
	tok, s, err := a.newSession(u.ID, c, device)
	if err != nil {
		return Issued{}, err
	}
	upd.LastLogin = s.CreatedAt
	if err := a.store.CreateSession(ctx, s, upd); err != nil {
		if errors.Is(err, ErrConflict) {
			return Issued{}, err
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

// checkLoginInput checks the fields of a login, before the user is
// looked up, and returns its device name in the form the session keeps.
func checkLoginInput(req LoginRequest) (string, error) {
	var fe fieldErrors
	add := fe.add
	if msg := usernameProblem(req.Username); msg != "" {
		add("username", msg)
	}
	switch pw := req.Password; {
	case pw == "":
		add("password", "This field is required.")
	case len(pw) > MaxLoginPasswordLength:
		add("password", fmt.Sprintf("Ensure this field has no more than %d bytes.", MaxLoginPasswordLength))
	}
	device, msg := normalizeDeviceName(req.DeviceName)
	if msg != "" {
		add("device_name", msg)
	}
	return device, fe.err()
}
