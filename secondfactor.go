package latchkey

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The flows of the TOTP second factor: enrolment, confirmation and
// removal by the user, removal by an operator, and the second step of a
// login. Every code a user sends passes the login gate's throttle, as a
// password does, under the user's name and the client's address.

const (
	// MFAChallengeTTL is how long an mfa_token can be answered.
	MFAChallengeTTL = 5 * time.Minute
	// MaxMFAAttempts is how many codes an mfa_token takes.
	MaxMFAAttempts = 5
)

// errWrongCode is the cause of the errors a wrong, replayed or used code
// gets, so that the throttle counts it as a failed guess.
var errWrongCode = errors.New("wrong second factor code")

// wrongCodeField is the error of a wrong code sent by a signed-in user.
func wrongCodeField() error {
	e := InvalidField("code", "Wrong code.")
	e.Err = errWrongCode
	return e
}

// mfaMethods lists what answers a challenge of u: a code, and a passkey
// (POST /v1/login/webauthn with the mfa_token) when u has one and the
// server checks passkeys. A passkey that is not listed still answers it:
// a passkey login needs no second factor anyway.
func (a *Authenticator) mfaMethods(ctx context.Context, u User) []string {
	ms := []string{MFAMethodTOTP, MFAMethodRecovery}
	if _, err := a.relyingParty(); err != nil {
		return ms
	}
	if ps, err := a.store.PasskeysOf(ctx, u.ID); err == nil && len(ps) > 0 {
		ms = append(ms, MFAMethodWebAuthn)
	}
	return ms
}

// TOTPEnrollment is a pending TOTP secret, shown once, for the user's
// authenticator app: typed (Secret, base32) or scanned (URL, whose QR
// code the HTTP layer draws).
type TOTPEnrollment struct {
	Secret string
	URL    string
}

// reauth is the gate of a signed-in user who proves who they are again
// (to enrol or remove a second factor): the throttle charges the attempt,
// fn checks the password and whatever else, and the outcome is recorded;
// what names the act in its events.
func (a *Authenticator) reauth(ctx context.Context, p Principal, c Client, what string, fn func() error) error {
	name := foldUsername(p.User.Username)
	if err := a.admit(ctx, name, c); err != nil {
		a.emit(ctx, Event{Kind: EventLoginThrottled, UserID: p.User.ID, Username: p.User.Username,
			Detail: what + ": " + ThrottleReason(err), IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
		return err
	}
	err := fn()
	a.record(ctx, name, c, outcomeOf(err))
	if errors.Is(err, errWrongCode) {
		a.emit(ctx, Event{Kind: EventMFAFailure, UserID: p.User.ID, Username: p.User.Username, Detail: what,
			IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	}
	return err
}

// checkPassword verifies pw, sent as field, against the stored user of p.
func (a *Authenticator) checkPassword(ctx context.Context, p Principal, pw Password, field string) (User, error) {
	switch {
	case pw == "":
		return User{}, InvalidField(field, "This field is required.")
	case len(pw) > MaxLoginPasswordLength:
		return User{}, wrongPasswordField(field)
	}
	u, err := a.store.UserByID(ctx, p.User.ID)
	if err != nil {
		return User{}, Unavailable(fmt.Errorf("check password: %w", err))
	}
	ok, _, err := a.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, wrongPasswordField(field)
	}
	return u, nil
}

// EnrollTOTP draws a new TOTP secret for the principal's user, once the
// password pw, counted by the throttle as a login's, is right. The secret
// is pending, and asked at no login, until ConfirmTOTP; a new enrolment
// replaces a pending one.
func (a *Authenticator) EnrollTOTP(ctx context.Context, p Principal, pw Password, c Client) (TOTPEnrollment, error) {
	key := a.opt.MFAKey
	if key == nil {
		return TOTPEnrollment{}, ErrMFAUnavailable
	}
	var en TOTPEnrollment
	err := a.reauth(ctx, p, c, "totp enrolment", func() error {
		u, err := a.checkPassword(ctx, p, pw, "password")
		if err != nil {
			return err
		}
		switch t, err := a.store.TOTPOf(ctx, u.ID); {
		case err == nil && t.Confirmed:
			return ErrMFAEnabled
		case err != nil && !errors.Is(err, ErrNotFound):
			return Unavailable(fmt.Errorf("enrol totp: %w", err))
		}
		secret := make([]byte, totpSecretBytes)
		if _, err := io.ReadFull(a.opt.Rand, secret); err != nil {
			return Internal("enrol totp: %w", err)
		}
		sealed, err := key.seal(a.opt.Rand, u.ID, secret)
		if err != nil {
			return Internal("enrol totp: %w", err)
		}
		err = a.store.PutPendingTOTP(ctx, TOTP{UserID: u.ID, Sealed: sealed, CreatedAt: a.now()})
		switch {
		case errors.Is(err, ErrConflict):
			return ErrMFAEnabled
		case err != nil:
			return Unavailable(fmt.Errorf("enrol totp: %w", err))
		}
		en = TOTPEnrollment{Secret: totpSecretText(secret), URL: totpURL(a.opt.TOTPIssuer, u.Username, secret)}
		return nil
	})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	a.emit(ctx, Event{Kind: EventMFAEnroll, UserID: p.User.ID, Username: p.User.Username,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	return en, nil
}

// ConfirmTOTP confirms the pending TOTP of the principal's user with a
// code of it, and returns the recovery codes, shown once: the store keeps
// their digests. From its commit on, every login of the user needs a
// second factor.
func (a *Authenticator) ConfirmTOTP(ctx context.Context, p Principal, code string, c Client) ([]string, error) {
	key := a.opt.MFAKey
	if key == nil {
		return nil, ErrMFAUnavailable
	}
	if code == "" {
		return nil, InvalidField("code", "This field is required.")
	}
	var shown []string
	err := a.reauth(ctx, p, c, "totp confirmation", func() error {
		t, err := a.store.TOTPOf(ctx, p.User.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			return ErrMFANotPending
		case err != nil:
			return Unavailable(fmt.Errorf("confirm totp: %w", err))
		case t.Confirmed:
			return ErrMFAEnabled
		}
		n, kind := normalizeCode(code)
		if kind != codeTOTP {
			return wrongCodeField()
		}
		secret, err := key.open(t.UserID, t.Sealed)
		if err != nil {
			return Internal("confirm totp: %w", err)
		}
		step, ok := matchTOTP(secret, n, a.opt.Now())
		if !ok {
			return wrongCodeField()
		}
		ds := make([]Digest, RecoveryCodes)
		for i := range ds {
			rc, err := newRecoveryCode(a.opt.Rand)
			if err != nil {
				return Internal("confirm totp: %w", err)
			}
			shown = append(shown, rc)
			norm, _ := normalizeCode(rc)
			ds[i] = recoveryDigest(norm)
		}
		err = a.store.ConfirmTOTP(ctx, t.UserID, t.Sealed, step, ds)
		switch {
		case errors.Is(err, ErrNotFound):
			return ErrMFANotPending // replaced or confirmed meanwhile
		case err != nil:
			return Unavailable(fmt.Errorf("confirm totp: %w", err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.emit(ctx, Event{Kind: EventMFAConfirm, UserID: p.User.ID, Username: p.User.Username,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	return shown, nil
}

// DisableTOTP removes the TOTP and recovery codes of the principal's
// user, once the password and a code (of the app, or a recovery code)
// are right. Its sessions stay.
func (a *Authenticator) DisableTOTP(ctx context.Context, p Principal, pw Password, code string, c Client) error {
	if code == "" {
		return InvalidField("code", "This field is required.")
	}
	err := a.reauth(ctx, p, c, "totp removal", func() error {
		u, err := a.checkPassword(ctx, p, pw, "password")
		if err != nil {
			return err
		}
		t, err := a.store.TOTPOf(ctx, u.ID)
		switch {
		case errors.Is(err, ErrNotFound) || err == nil && !t.Confirmed:
			return ErrMFANotEnabled
		case err != nil:
			return Unavailable(fmt.Errorf("disable totp: %w", err))
		}
		if _, err := a.checkCode(ctx, u, t, code, p.Session.SessionID, c); err != nil {
			if errors.Is(err, errWrongCode) {
				return wrongCodeField()
			}
			return err
		}
		if _, err := a.store.DeleteMFA(ctx, u.ID, false); err != nil {
			return Unavailable(fmt.Errorf("disable totp: %w", err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.emit(ctx, Event{Kind: EventMFADisable, UserID: p.User.ID, Username: p.User.Username,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	return nil
}

// ResetMFA removes every second factor of the user a typed name names
// (TOTP, recovery codes and passkeys: an operator's act, for a user who
// lost them) and revokes every session
// of the user, as disabling the user would: one Invalidation, and an
// answer once no other process can serve a revoked token.
func (a *Authenticator) ResetMFA(ctx context.Context, username string) (int, error) {
	if err := checkUsername(username); err != nil {
		return 0, err
	}
	u, err := a.findUser(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("reset mfa: %w", err)
	}
	ds, err := a.store.DeleteMFA(ctx, u.ID, true)
	if err != nil {
		return 0, fmt.Errorf("reset mfa: %w", err)
	}
	// Passkeys are second factors too, and log in alone.
	ps, err := a.store.PasskeysOf(ctx, u.ID)
	if err != nil {
		return 0, fmt.Errorf("reset mfa: %w", err)
	}
	for _, pk := range ps {
		if err := a.store.DeletePasskey(ctx, u.ID, pk.CredentialID); err != nil && !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("reset mfa: %w", err)
		}
	}
	a.revoke(ctx, RevokedMFAReset, Invalidation{Sessions: ds, Users: []int64{u.ID}})
	a.emitNow(ctx, Event{Kind: EventMFAReset, UserID: u.ID, Username: u.Username, Detail: "by an operator"})
	return len(ds), nil
}

// requireCode checks the second factor of u, when u has one, for a
// signed-in user's act (a password change): a missing code is
// ErrMFACodeRequired, a wrong one a wrong code of field code.
func (a *Authenticator) requireCode(ctx context.Context, u User, code, sessionID string, c Client) error {
	t, err := a.store.TOTPOf(ctx, u.ID)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && !t.Confirmed:
		return nil
	case err != nil:
		return Unavailable(fmt.Errorf("second factor: %w", err))
	case code == "":
		return ErrMFACodeRequired
	}
	_, err = a.checkCode(ctx, u, t, code, sessionID, c)
	if errors.Is(err, errWrongCode) {
		return wrongCodeField()
	}
	return err
}

// checkCode checks code against the confirmed TOTP t of u, or u's
// recovery codes, and uses it up: a time step is accepted once, a
// recovery code used once, each decided by the store in one atomic step.
// It returns the method that matched; errWrongCode when none did.
func (a *Authenticator) checkCode(ctx context.Context, u User, t TOTP, code, sessionID string, c Client) (string, error) {
	n, kind := normalizeCode(code)
	switch kind {
	case codeTOTP:
		key := a.opt.MFAKey
		if key == nil {
			return "", ErrMFAUnavailable // fail closed
		}
		secret, err := key.open(u.ID, t.Sealed)
		if err != nil {
			return "", Internal("second factor: %w", err)
		}
		step, ok := matchTOTP(secret, n, a.opt.Now())
		if !ok {
			return "", errWrongCode
		}
		ok, err = a.store.AcceptTOTPStep(ctx, u.ID, step)
		if err != nil {
			return "", Unavailable(fmt.Errorf("second factor: %w", err))
		}
		if !ok {
			return "", errWrongCode // replayed, or a later step was accepted
		}
		return MFAMethodTOTP, nil
	case codeRecovery:
		ok, err := a.store.UseRecoveryCode(ctx, u.ID, recoveryDigest(n))
		if err != nil {
			return "", Unavailable(fmt.Errorf("second factor: %w", err))
		}
		if !ok {
			return "", errWrongCode
		}
		left, err := a.store.RecoveryCodesLeft(ctx, u.ID)
		detail := fmt.Sprintf("%d left", left)
		if err != nil {
			detail = ""
		}
		a.emit(ctx, Event{Kind: EventRecoveryCodeUse, UserID: u.ID, Username: u.Username, Detail: detail,
			IP: c.IP(), UserAgent: c.UserAgent, SessionID: sessionID})
		return MFAMethodRecovery, nil
	}
	return "", errWrongCode
}

// challengeIfEnrolled is the answer to a right password whose login the
// store refused: mfa_required with a new challenge when the user has a
// confirmed second factor, ErrInvalidCredentials otherwise (the password
// changed or the user was disabled meanwhile).
func (a *Authenticator) challengeIfEnrolled(ctx context.Context, u User, device string) error {
	t, err := a.store.TOTPOf(ctx, u.ID)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && !t.Confirmed:
		return ErrInvalidCredentials
	case err != nil:
		return Unavailable(fmt.Errorf("login: second factor: %w", err))
	}
	var b [TokenBytes]byte
	if _, err := io.ReadFull(a.opt.Rand, b[:]); err != nil {
		return Internal("login: mfa token: %w", err)
	}
	tok := MFAToken(MFATokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]))
	now := a.now()
	ch := MFAChallenge{
		Digest:     tok.Digest(),
		UserID:     u.ID,
		HashDigest: sha256.Sum256([]byte(u.PasswordHash)),
		DeviceName: device,
		CreatedAt:  now,
		ExpiresAt:  now.Add(MFAChallengeTTL),
	}
	if err := a.store.CreateMFAChallenge(ctx, ch); err != nil {
		return Unavailable(fmt.Errorf("login: mfa challenge: %w", err))
	}
	e := *ErrMFARequired
	e.MFA = &MFAPending{Token: tok, Methods: a.mfaMethods(ctx, u), ExpiresAt: ch.ExpiresAt}
	return &e
}

// MFALoginRequest is the second step of a login: the mfa_token of the
// first step's mfa_required answer, and a code.
type MFALoginRequest struct {
	Token MFAToken
	Code  string
	// DeviceName, when not "", replaces the one the first step gave.
	DeviceName string
	Client     Client
}

// LoginMFA is the second step of a login: it exchanges an mfa_token and
// a code (of the TOTP app, or a recovery code) for a token, as Login
// exchanges a password. The mfa_token takes MaxMFAAttempts codes within
// MFAChallengeTTL, each counted by the store before it is checked, and is
// used up by a success; each code also passes the login gate's throttle
// under the user's name and the client's address, as a password does.
func (a *Authenticator) LoginMFA(ctx context.Context, req MFALoginRequest) (Issued, error) {
	start := a.opt.Now()
	is, u, method, err := a.loginMFA(ctx, req)
	a.loginDone(ctx, start, foldUsername(u.Username), u.Username, req.Client, err, mfaLoginEvent(u, is, method, req.Client, err))
	return is, err
}

func (a *Authenticator) loginMFA(ctx context.Context, req MFALoginRequest) (Issued, User, string, error) {
	var fe fieldErrors
	if req.Token == "" {
		fe.add("mfa_token", "This field is required.")
	}
	if req.Code == "" {
		fe.add("code", "This field is required.")
	}
	device, msg := normalizeDeviceName(req.DeviceName)
	if msg != "" {
		fe.add("device_name", msg)
	}
	if err := fe.err(); err != nil {
		return Issued{}, User{}, "", err
	}
	tok := string(req.Token)
	if !strings.HasPrefix(tok, MFATokenPrefix) || !ValidTokenSyntax(tok) {
		return Issued{}, User{}, "", ErrInvalidMFAToken
	}
	ch, err := a.store.AttemptMFAChallenge(ctx, req.Token.Digest(), a.now(), MaxMFAAttempts)
	switch {
	case errors.Is(err, ErrNotFound):
		return Issued{}, User{}, "", ErrInvalidMFAToken
	case err != nil:
		return Issued{}, User{}, "", Unavailable(fmt.Errorf("login mfa: %w", err))
	}
	u, err := a.store.UserByID(ctx, ch.UserID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Issued{}, User{}, "", ErrInvalidMFAToken
	case err != nil:
		return Issued{}, User{}, "", Unavailable(fmt.Errorf("login mfa: %w", err))
	}
	hash := u.PasswordHash
	u.PasswordHash = ""
	if !u.Active || sha256.Sum256([]byte(hash)) != ch.HashDigest {
		// Disabled, or the password changed, since the first step.
		return Issued{}, u, "", ErrInvalidMFAToken
	}
	if device == "" {
		device = ch.DeviceName
	}
	name := foldUsername(u.Username)
	if err := a.admit(ctx, name, req.Client); err != nil {
		return Issued{}, u, "", err
	}
	is, method, err := a.secondStep(ctx, u, hash, req, device)
	a.record(ctx, name, req.Client, outcomeOf(err))
	return is, u, method, err
}

// secondStep checks the code of a challenge of u, whose password hash is
// hash, uses the challenge up and issues the token.
func (a *Authenticator) secondStep(ctx context.Context, u User, hash string, req MFALoginRequest, device string) (Issued, string, error) {
	t, err := a.store.TOTPOf(ctx, u.ID)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && !t.Confirmed:
		return Issued{}, "", ErrInvalidMFAToken // reset meanwhile
	case err != nil:
		return Issued{}, "", Unavailable(fmt.Errorf("login mfa: %w", err))
	}
	method, err := a.checkCode(ctx, u, t, req.Code, "", req.Client)
	if errors.Is(err, errWrongCode) {
		e := *ErrInvalidMFACode
		e.Err = errWrongCode
		return Issued{}, "", &e
	}
	if err != nil {
		return Issued{}, "", err
	}
	switch err := a.store.UseMFAChallenge(ctx, req.Token.Digest()); {
	case errors.Is(err, ErrNotFound):
		return Issued{}, method, ErrInvalidMFAToken // another attempt used it
	case err != nil:
		return Issued{}, method, Unavailable(fmt.Errorf("login mfa: %w", err))
	}
	u.PasswordHash = hash
	is, err := a.createSession(ctx, u, req.Client, device, LoginUpdate{ExpectHash: hash, SecondFactor: true})
	if errors.Is(err, ErrConflict) {
		return Issued{}, method, ErrInvalidMFAToken
	}
	return is, method, err
}

// mfaLoginEvent is the security event of a login's second step: a
// success (Detail: the method), a wrong code, or a refusal.
func mfaLoginEvent(u User, is Issued, method string, c Client, err error) Event {
	e := Event{Kind: EventLoginSuccess, UserID: u.ID, Username: u.Username, Detail: method,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: is.Session.ID}
	switch {
	case err == nil:
	case errors.Is(err, ErrThrottled):
		e.Kind, e.Detail = EventLoginThrottled, "mfa: "+ThrottleReason(err)
	default:
		e.Kind, e.Detail = EventMFAFailure, "login: "+AsError(err).Code
	}
	return e
}
