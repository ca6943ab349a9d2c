package latchkey

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The flows of passkeys (WebAuthn): a signed-in user registers, lists and
// removes passkeys; anybody logs in with one, naming no user (the
// credential is discoverable), or answers a password's mfa_required with
// one. The cryptography is the RelyingParty's; what is decided here is
// where each ceremony's state lives (the ChallengeStore, taken once),
// what a counter that does not move means (a clone: refused), and that
// every assertion passes the login gate's throttle.

// WebAuthnChallengeTTL is how long a ceremony's options can be answered.
const WebAuthnChallengeTTL = 5 * time.Minute

// ChallengeIDPrefix starts every challenge_id of a passkey login.
const ChallengeIDPrefix = "lkw_"

// MFAMethodWebAuthn is the method of mfa_required that a passkey answers.
const MFAMethodWebAuthn = "webauthn"

// RelyingParty does the cryptography of WebAuthn ceremonies (package
// webauthn): it makes the options a browser passes to
// navigator.credentials.create and .get, as JSON, with the state to keep
// until the answer, and checks the answers (origin, relying party,
// challenge, signature, user presence and verification) against that
// state. It keeps nothing itself, and reads no clock: the state's expiry
// is the ChallengeStore's.
type RelyingParty interface {
	// BeginRegistration returns the creation options for a new
	// discoverable credential of u (excluding u.Passkeys), and the state
	// that FinishRegistration takes.
	BeginRegistration(u PasskeyUser) (options, state []byte, err error)
	// FinishRegistration checks the browser's answer (the JSON of a
	// PublicKeyCredential) against state and returns the new passkey,
	// without its UserID, Name and CreatedAt.
	FinishRegistration(u PasskeyUser, state, response []byte) (Passkey, error)
	// BeginLogin returns the request options of a login with a
	// discoverable credential (no allowCredentials), and its state.
	BeginLogin() (options, state []byte, err error)
	// ParseAssertion decodes the browser's answer to a login, checking
	// nothing yet: enough to find the passkey it names.
	ParseAssertion(response []byte) (Assertion, error)
	// VerifyAssertion checks a against state and the stored passkey p of
	// u.
	VerifyAssertion(a Assertion, state []byte, u PasskeyUser, p Passkey) (AssertionResult, error)
}

// CeremonyLimiter limits the passkey logins begun by a client address
// (throttle.Limiter, the bucket of captcha challenges): each keeps its
// state until it expires, which nobody may fill at will. CheckChallenge
// charges one to ip: nil when it may begin, a KindThrottled error when
// the address has had its share, an Unavailable one when the count could
// not be read.
type CeremonyLimiter interface {
	CheckChallenge(ctx context.Context, ip netip.Addr) error
}

// PasskeyUser is a user as a WebAuthn ceremony sees it.
type PasskeyUser struct {
	// Handle is the user handle the credential keeps (userHandle), which
	// names the user at a login: the user id, 8 bytes big-endian
	// (passkeyHandle).
	Handle      []byte
	Name        string
	DisplayName string
	Passkeys    []Passkey
}

// Assertion is a decoded, unchecked answer to a login.
type Assertion struct {
	CredentialID []byte
	UserHandle   []byte
	// Parsed is the RelyingParty's own decoding, for VerifyAssertion.
	Parsed any
}

// AssertionResult is what a checked assertion says of its authenticator.
type AssertionResult struct {
	// SignCount is the assertion's signature counter.
	SignCount   uint32
	BackupState bool
	// CloneWarning: the counter did not move forward from the stored
	// one (and one of them is not 0): two copies of the key may exist.
	CloneWarning bool
}

// Errors of passkeys.
const (
	CodeWebAuthnUnavailable = "webauthn_unavailable"
	CodeInvalidPasskey      = "invalid_passkey"
	CodePasskeyNotPending   = "passkey_not_pending"
	CodePasskeyLimit        = "passkey_limit"
)

var (
	ErrWebAuthnUnavailable = &Error{Kind: KindUnavailable, Code: CodeWebAuthnUnavailable, Detail: "Passkeys are not available: the server has no WebAuthn relying party (LATCHKEY_WEBAUTHN_RP_ID)."}
	// ErrInvalidPasskey refuses an assertion, for whatever reason (an
	// unknown passkey or challenge, a challenge used already, a wrong
	// origin or signature, a cloned authenticator): the event says
	// which, the client is told nothing more.
	ErrInvalidPasskey    = &Error{Kind: KindUnauthenticated, Code: CodeInvalidPasskey, Detail: "The passkey could not be verified: ask for new options (POST /v1/login/webauthn/options) and try again."}
	ErrPasskeyNotPending = &Error{Kind: KindConflict, Code: CodePasskeyNotPending, Detail: "No passkey registration is pending for this session, or it expired: ask for new options (POST /v1/webauthn/register/options)."}
	ErrPasskeyLimit      = &Error{Kind: KindConflict, Code: CodePasskeyLimit, Detail: fmt.Sprintf("This account has %d passkeys, the most it may have: remove one first.", MaxPasskeys)}
)

// passkeyHandle is the user handle of the user id: 8 bytes, big-endian.
func passkeyHandle(userID int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(userID)) }

// handleUserID is the user id of a user handle; false when it is none.
func handleUserID(h []byte) (int64, bool) {
	if len(h) != 8 {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(h))
	return id, id > 0
}

// PasskeyID is the public id of a passkey: its credential id in
// base64url without padding, as a browser's PublicKeyCredential.id.
func PasskeyID(credentialID []byte) string { return base64.RawURLEncoding.EncodeToString(credentialID) }

func (a *Authenticator) relyingParty() (RelyingParty, error) {
	if a.opt.RelyingParty == nil || a.opt.Challenges == nil {
		return nil, ErrWebAuthnUnavailable
	}
	return a.opt.RelyingParty, nil
}

func (a *Authenticator) passkeyUser(u User, ps []Passkey) PasskeyUser {
	display := strings.TrimSpace(u.FirstName + " " + u.LastName)
	if display == "" {
		display = u.Username
	}
	return PasskeyUser{Handle: passkeyHandle(u.ID), Name: u.Username, DisplayName: display, Passkeys: ps}
}

// registrationKey names the pending registration of a session: one at a
// time, the newest options replacing older ones.
func registrationKey(sessionID string) string { return "webauthn:register:" + sessionID }

// PasskeyRegistrationOptions begins the registration of a passkey for the
// principal's user, once the password pw, counted by the throttle as a
// login's, is right: a passkey outlives a logout and a password change,
// so a token alone (a stolen one) must not be able to add one. It returns
// the options for navigator.credentials.create, whose answer
// RegisterPasskey takes within WebAuthnChallengeTTL, from the same
// session.
func (a *Authenticator) PasskeyRegistrationOptions(ctx context.Context, p Principal, pw Password, c Client) ([]byte, error) {
	rp, err := a.relyingParty()
	if err != nil {
		return nil, err
	}
	var options []byte
	err = a.reauth(ctx, p, c, "passkey registration", func() error {
		if _, err := a.checkPassword(ctx, p, pw, "password"); err != nil {
			return err
		}
		ps, err := a.store.PasskeysOf(ctx, p.User.ID)
		if err != nil {
			return Unavailable(fmt.Errorf("passkey options: %w", err))
		}
		if len(ps) >= MaxPasskeys {
			return ErrPasskeyLimit
		}
		o, state, err := rp.BeginRegistration(a.passkeyUser(p.User, ps))
		if err != nil {
			return Internal("passkey options: %w", err)
		}
		if err := a.opt.Challenges.Put(ctx, registrationKey(p.Session.SessionID), state, a.now().Add(WebAuthnChallengeTTL)); err != nil {
			return Unavailable(fmt.Errorf("passkey options: %w", err))
		}
		options = o
		return nil
	})
	return options, err
}

// PasskeyRegistration is the answer to PasskeyRegistrationOptions.
type PasskeyRegistration struct {
	// Credential is the browser's PublicKeyCredential, as JSON
	// (PublicKeyCredential.toJSON()).
	Credential []byte
	// Name names the passkey in its list; "" gives "Passkey".
	Name   string
	Client Client
}

// RegisterPasskey checks the browser's answer to the session's pending
// registration, and stores the passkey.
func (a *Authenticator) RegisterPasskey(ctx context.Context, p Principal, req PasskeyRegistration) (Passkey, error) {
	rp, err := a.relyingParty()
	if err != nil {
		return Passkey{}, err
	}
	var fe fieldErrors
	if len(req.Credential) == 0 {
		fe.add("credential", "This field is required.")
	}
	name, msg := normalizeDeviceName(req.Name)
	if msg != "" {
		fe.add("name", msg)
	}
	if err := fe.err(); err != nil {
		return Passkey{}, err
	}
	if name == "" {
		name = "Passkey"
	}
	state, ok, err := a.opt.Challenges.Take(ctx, registrationKey(p.Session.SessionID))
	switch {
	case err != nil:
		return Passkey{}, Unavailable(fmt.Errorf("register passkey: %w", err))
	case !ok:
		return Passkey{}, ErrPasskeyNotPending
	}
	ps, err := a.store.PasskeysOf(ctx, p.User.ID)
	if err != nil {
		return Passkey{}, Unavailable(fmt.Errorf("register passkey: %w", err))
	}
	if len(ps) >= MaxPasskeys {
		return Passkey{}, ErrPasskeyLimit
	}
	pk, err := rp.FinishRegistration(a.passkeyUser(p.User, ps), state, req.Credential)
	if err != nil {
		e := InvalidField("credential", "The passkey could not be verified.")
		e.Err = err
		return Passkey{}, e
	}
	pk.UserID, pk.Name, pk.CreatedAt = p.User.ID, name, a.now()
	switch err := a.store.CreatePasskey(ctx, pk); {
	case errors.Is(err, ErrConflict):
		return Passkey{}, InvalidField("credential", "This passkey is registered already.")
	case err != nil:
		return Passkey{}, Unavailable(fmt.Errorf("register passkey: %w", err))
	}
	a.emit(ctx, Event{Kind: EventPasskeyRegister, UserID: p.User.ID, Username: p.User.Username, Detail: name,
		IP: req.Client.IP(), UserAgent: req.Client.UserAgent, SessionID: p.Session.SessionID})
	return pk, nil
}

// Passkeys returns the passkeys of the principal's user, oldest first.
func (a *Authenticator) Passkeys(ctx context.Context, p Principal) ([]Passkey, error) {
	ps, err := a.store.PasskeysOf(ctx, p.User.ID)
	if err != nil {
		return nil, Unavailable(fmt.Errorf("passkeys: %w", err))
	}
	return ps, nil
}

// DeletePasskey removes the passkey of the principal's user whose public
// id (PasskeyID) is id; ErrNotFound when the user has none with that id.
// The sessions it logged in stay: remove them with DELETE /v1/sessions.
func (a *Authenticator) DeletePasskey(ctx context.Context, p Principal, id string, c Client) error {
	cid, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(cid) == 0 {
		return ErrNotFound
	}
	switch err := a.store.DeletePasskey(ctx, p.User.ID, cid); {
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case err != nil:
		return Unavailable(fmt.Errorf("delete passkey: %w", err))
	}
	a.emit(ctx, Event{Kind: EventPasskeyRemove, UserID: p.User.ID, Username: p.User.Username, Detail: id,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	return nil
}
