package latchkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The passkey login: its options, and the assertion that answers them,
// alone or for a password login's mfa_required.

// PasskeyChallenge is the start of a passkey login: the options for
// navigator.credentials.get, and the id that the answer names them by.
type PasskeyChallenge struct {
	ID        string
	Options   []byte
	ExpiresAt time.Time
}

func loginChallengeKey(id string) string { return "webauthn:login:" + id }

// PasskeyLoginOptions begins a passkey login from c, within the
// CeremonyLimiter's share of c's address.
func (a *Authenticator) PasskeyLoginOptions(ctx context.Context, c Client) (PasskeyChallenge, error) {
	rp, err := a.relyingParty()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if l := a.opt.CeremonyLimiter; l != nil {
		if err := l.CheckChallenge(ctx, c.Addr); err != nil {
			return PasskeyChallenge{}, err
		}
	}
	options, state, err := rp.BeginLogin()
	if err != nil {
		return PasskeyChallenge{}, Internal("passkey login options: %w", err)
	}
	var b [TokenBytes]byte
	if _, err := io.ReadFull(a.opt.Rand, b[:]); err != nil {
		return PasskeyChallenge{}, Internal("passkey login options: %w", err)
	}
	ch := PasskeyChallenge{
		ID:        ChallengeIDPrefix + base64.RawURLEncoding.EncodeToString(b[:]),
		Options:   options,
		ExpiresAt: a.now().Add(WebAuthnChallengeTTL),
	}
	if err := a.opt.Challenges.Put(ctx, loginChallengeKey(ch.ID), state, ch.ExpiresAt); err != nil {
		return PasskeyChallenge{}, Unavailable(fmt.Errorf("passkey login options: %w", err))
	}
	return ch, nil
}

// PasskeyLoginRequest is a login with a passkey.
type PasskeyLoginRequest struct {
	// ChallengeID names the options the assertion answers.
	ChallengeID string
	// Credential is the browser's PublicKeyCredential, as JSON.
	Credential []byte
	// MFAToken, when set, is the mfa_token of a password login that the
	// passkey completes: the passkey must then be that user's, and the
	// token is used up.
	MFAToken   MFAToken
	DeviceName string
	Client     Client
}

// LoginPasskey exchanges an assertion of a passkey for a token: a
// complete login, its passkey both something the user has and, verified
// by the authenticator (UV), something they know or are, so it needs no
// second factor (LoginUpdate.SecondFactor). In order:
//
//   - the assertion is decoded, and its passkey and user looked up;
//   - the throttle charges the attempt, by the client's address, and by
//     the user's name when the passkey is known;
//   - the challenge is taken from the ChallengeStore: used once;
//   - the assertion is checked, and a counter that did not move forward
//     refused (a cloned authenticator);
//   - the counter is moved, conditionally: of two assertions checked
//     against one counter, one is accepted;
//   - the throttle records the outcome.
func (a *Authenticator) LoginPasskey(ctx context.Context, req PasskeyLoginRequest) (Issued, error) {
	start := a.opt.Now()
	is, u, reason, err := a.loginPasskey(ctx, req)
	a.loginDone(ctx, start, foldUsername(u.Username), u.Username, req.Client, err, passkeyLoginEvent(u, is, reason, req.Client, err))
	return is, err
}

// refusePasskey refuses an assertion, with the reason its event keeps.
func refusePasskey(reason string, cause error) (Issued, string, error) {
	e := *ErrInvalidPasskey
	e.Err = cause
	return Issued{}, reason, &e
}

func (a *Authenticator) loginPasskey(ctx context.Context, req PasskeyLoginRequest) (Issued, User, string, error) {
	rp, err := a.relyingParty()
	if err != nil {
		return Issued{}, User{}, "", err
	}
	var fe fieldErrors
	if req.ChallengeID == "" {
		fe.add("challenge_id", "This field is required.")
	}
	if len(req.Credential) == 0 {
		fe.add("credential", "This field is required.")
	}
	device, msg := normalizeDeviceName(req.DeviceName)
	if msg != "" {
		fe.add("device_name", msg)
	}
	if err := fe.err(); err != nil {
		return Issued{}, User{}, "", err
	}
	as, err := rp.ParseAssertion(req.Credential)
	if err != nil {
		e := InvalidField("credential", "Not a WebAuthn assertion.")
		e.Err = err
		return Issued{}, User{}, "", e
	}
	// The user, when the passkey is known: the throttle counts by name.
	pk, err := a.store.PasskeyByCredentialID(ctx, as.CredentialID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Issued{}, User{}, "", Unavailable(fmt.Errorf("passkey login: %w", err))
	}
	var u User
	if err == nil {
		if u, err = a.store.UserByID(ctx, pk.UserID); err != nil && !errors.Is(err, ErrNotFound) {
			return Issued{}, User{}, "", Unavailable(fmt.Errorf("passkey login: %w", err))
		}
	}
	name := passkeyThrottleName(as.CredentialID)
	if u.ID != 0 {
		name = foldUsername(u.Username)
	}
	if err := a.admit(ctx, name, req.Client); err != nil {
		return Issued{}, withoutHash(u), "", err
	}
	is, reason, err := a.checkAssertion(ctx, rp, req, as, pk, u, device)
	a.record(ctx, name, req.Client, outcomeOf(err))
	return is, withoutHash(u), reason, err
}

func withoutHash(u User) User {
	u.PasswordHash = ""
	return u
}

// passkeyThrottleName is the name the throttle counts an assertion of an
// unknown passkey under: one of its own for each credential id, which no
// username can be (a NUL), so that nobody's allowance is spent by it; the
// address's bucket still limits them all.
func passkeyThrottleName(credentialID []byte) string {
	return "\x00passkey:" + PasskeyID(credentialID)
}

func (a *Authenticator) checkAssertion(ctx context.Context, rp RelyingParty, req PasskeyLoginRequest, as Assertion, pk Passkey, u User, device string) (Issued, string, error) {
	state, ok, err := a.opt.Challenges.Take(ctx, loginChallengeKey(req.ChallengeID))
	switch {
	case err != nil:
		return Issued{}, "", Unavailable(fmt.Errorf("passkey login: %w", err))
	case !ok:
		return refusePasskey("challenge", errors.New("unknown, expired or used challenge"))
	case u.ID == 0:
		return refusePasskey("unknown_passkey", errors.New("no such passkey"))
	case !u.Active:
		return refusePasskey("inactive", errors.New("user disabled"))
	}
	if id, ok := handleUserID(as.UserHandle); !ok || id != u.ID {
		return refusePasskey("user_handle", errors.New("user handle names another user"))
	}
	res, err := rp.VerifyAssertion(as, state, a.passkeyUser(u, []Passkey{pk}), pk)
	if err != nil {
		return refusePasskey("verification", err)
	}
	if res.CloneWarning {
		return refusePasskey("cloned", fmt.Errorf("counter %d after %d", res.SignCount, pk.SignCount))
	}
	use := PasskeyUse{CredentialID: pk.CredentialID, OldCount: pk.SignCount, NewCount: res.SignCount, BackupState: res.BackupState, At: a.now()}
	switch err := a.store.UsePasskey(ctx, use); {
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		return refusePasskey("cloned", fmt.Errorf("counter moved meanwhile: %w", err))
	case err != nil:
		return Issued{}, "", Unavailable(fmt.Errorf("passkey login: %w", err))
	}
	if req.MFAToken != "" {
		ch, err := a.useMFAToken(ctx, req.MFAToken, u.ID)
		if err != nil {
			return Issued{}, "mfa_token", err
		}
		if device == "" {
			device = ch.DeviceName
		}
	}
	is, err := a.createSession(ctx, u, req.Client, device, LoginUpdate{ExpectHash: u.PasswordHash, SecondFactor: true})
	if errors.Is(err, ErrConflict) {
		// Disabled, or the password changed, since the lookup.
		return refusePasskey("conflict", err)
	}
	return is, "", err
}

// useMFAToken uses up the mfa_token tok of user userID: a passkey of the
// user answers it.
func (a *Authenticator) useMFAToken(ctx context.Context, tok MFAToken, userID int64) (MFAChallenge, error) {
	s := string(tok)
	if !strings.HasPrefix(s, MFATokenPrefix) || !ValidTokenSyntax(s) {
		return MFAChallenge{}, ErrInvalidMFAToken
	}
	ch, err := a.store.AttemptMFAChallenge(ctx, tok.Digest(), a.now(), MaxMFAAttempts)
	switch {
	case errors.Is(err, ErrNotFound):
		return MFAChallenge{}, ErrInvalidMFAToken
	case err != nil:
		return MFAChallenge{}, Unavailable(fmt.Errorf("passkey login: mfa token: %w", err))
	case ch.UserID != userID:
		return MFAChallenge{}, ErrInvalidMFAToken
	}
	switch err := a.store.UseMFAChallenge(ctx, tok.Digest()); {
	case errors.Is(err, ErrNotFound):
		return MFAChallenge{}, ErrInvalidMFAToken
	case err != nil:
		return MFAChallenge{}, Unavailable(fmt.Errorf("passkey login: mfa token: %w", err))
	}
	return ch, nil
}

// passkeyLoginEvent is the security event of a passkey login: a success
// (Detail "webauthn"), a refusal (Detail: the reason, for operators), or
// a throttled attempt.
func passkeyLoginEvent(u User, is Issued, reason string, c Client, err error) Event {
	e := Event{Kind: EventLoginSuccess, UserID: u.ID, Username: u.Username, Detail: MFAMethodWebAuthn,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: is.Session.ID}
	switch {
	case err == nil:
	case errors.Is(err, ErrThrottled):
		e.Kind, e.Detail = EventLoginThrottled, "webauthn: "+ThrottleReason(err)
	case reason != "":
		e.Kind, e.Detail = EventPasskeyFailure, reason
	default:
		e.Kind, e.Detail = EventPasskeyFailure, AsError(err).Code
	}
	return e
}
