package latchkey

import (
	"errors"
	"time"
)

// Metrics observes what the Authenticator decides, for monitoring
// (prom implements it with Prometheus). Every method is called on the
// request's path, the token check's cache hit included, so an
// implementation does no more than an atomic add: no allocation, no lock,
// no label looked up. No method is passed a username, token, address or
// user id. The default, NoMetrics, does nothing.
type Metrics interface {
	// Login counts one decision of the login gate and how long it took.
	Login(o LoginOutcome, d time.Duration)
	// TokenCheck counts one token check: whether the cache answered it
	// (hit), and its result.
	TokenCheck(hit bool, r TokenResult)
	// ThrottleRefusal counts a password attempt that a limit of the
	// login throttle refused.
	ThrottleRefusal(limit ThrottleLimit)
	// CaptchaVerification counts a captcha response checked at login.
	CaptchaVerification(r CaptchaResult)
	// Revocation counts one revocation this process committed: one
	// logout, password change, session delete or disabled user, however
	// many tokens it revoked.
	Revocation(r RevocationReason)
}

// NoMetrics observes nothing: the default Options.Metrics.
type NoMetrics struct{}

func (NoMetrics) Login(LoginOutcome, time.Duration) {}
func (NoMetrics) TokenCheck(bool, TokenResult)      {}
func (NoMetrics) ThrottleRefusal(ThrottleLimit)     {}
func (NoMetrics) CaptchaVerification(CaptchaResult) {}
func (NoMetrics) Revocation(RevocationReason)       {}

var _ Metrics = NoMetrics{}

// LoginOutcome is how a login ended, by the code of its answer. Outcomes
// are append-only, and NumLoginOutcomes counts them.
type LoginOutcome uint8

const (
	LoginSuccess LoginOutcome = iota
	LoginInvalidCredentials
	LoginThrottled
	LoginCaptchaRequired
	LoginCaptchaInvalid
	LoginCaptchaUnavailable
	LoginOverloaded
	LoginUnavailable
	LoginInvalidRequest
	// LoginInternal is any other error: a bug, or a cancelled request.
	LoginInternal
	// LoginMFARequired: the password was right and a second factor is
	// needed (POST /v1/login).
	LoginMFARequired
	// LoginInvalidMFACode and LoginInvalidMFAToken: a wrong code, or an
	// unknown, expired or used up mfa_token (POST /v1/login/mfa).
	LoginInvalidMFACode
	LoginInvalidMFAToken
	// LoginInvalidPasskey: a passkey's assertion refused, and
	// LoginWebAuthnUnavailable: no relying party configured
	// (POST /v1/login/webauthn).
	LoginInvalidPasskey
	LoginWebAuthnUnavailable
	NumLoginOutcomes
)

var loginOutcomeNames = [NumLoginOutcomes]string{
	LoginSuccess:             "success",
	LoginInvalidCredentials:  CodeInvalidCredentials,
	LoginThrottled:           "throttled",
	LoginCaptchaRequired:     CodeCaptchaRequired,
	LoginCaptchaInvalid:      CodeCaptchaInvalid,
	LoginCaptchaUnavailable:  CodeCaptchaUnavailable,
	LoginOverloaded:          CodeOverloaded,
	LoginUnavailable:         CodeUnavailable,
	LoginInvalidRequest:      CodeInvalidRequest,
	LoginInternal:            CodeInternal,
	LoginMFARequired:         CodeMFARequired,
	LoginInvalidMFACode:      CodeInvalidMFACode,
	LoginInvalidMFAToken:     CodeInvalidMFAToken,
	LoginInvalidPasskey:      CodeInvalidPasskey,
	LoginWebAuthnUnavailable: CodeWebAuthnUnavailable,
}

// String is the outcome's name: "success" or the answer's error code.
func (o LoginOutcome) String() string {
	if o < NumLoginOutcomes {
		return loginOutcomeNames[o]
	}
	return "unknown"
}

// loginOutcomeOf classifies the error a login answered with.
func loginOutcomeOf(err error) LoginOutcome {
	if err == nil {
		return LoginSuccess
	}
	var e *Error
	if !errors.As(err, &e) {
		return LoginInternal
	}
	for o := LoginInvalidCredentials; o < NumLoginOutcomes; o++ {
		if o != LoginInternal && loginOutcomeNames[o] == e.Code {
			return o
		}
	}
	return LoginInternal
}

// TokenResult is the result of a token check. Results are append-only,
// and NumTokenResults counts them.
type TokenResult uint8

const (
	TokenValid TokenResult = iota
	// TokenInvalid: malformed, unknown or revoked, or its user disabled.
	TokenInvalid
	// TokenExpired: past its expiry or idle timeout.
	TokenExpired
	// TokenUnavailable: the check could not run (the store failed).
	TokenUnavailable
	NumTokenResults
)

var tokenResultNames = [NumTokenResults]string{"valid", "invalid", "expired", "unavailable"}

func (r TokenResult) String() string {
	if r < NumTokenResults {
		return tokenResultNames[r]
	}
	return "unknown"
}

// tokenResultOf classifies the error of a token check.
func tokenResultOf(err error) TokenResult {
	switch {
	case err == nil:
		return TokenValid
	case errors.Is(err, ErrTokenExpired):
		return TokenExpired
	case errors.Is(err, ErrInvalidToken):
		return TokenInvalid
	}
	return TokenUnavailable
}

// CaptchaResult is the result of a captcha verification. Results are
// append-only, and NumCaptchaResults counts them.
type CaptchaResult uint8

const (
	CaptchaPass CaptchaResult = iota
	// CaptchaFail: the response was checked and refused, or was too long
	// to send.
	CaptchaFail
	// CaptchaUnavailable: the provider could not answer (fail closed).
	CaptchaUnavailable
	NumCaptchaResults
)

var captchaResultNames = [NumCaptchaResults]string{"pass", "fail", "unavailable"}

func (r CaptchaResult) String() string {
	if r < NumCaptchaResults {
		return captchaResultNames[r]
	}
	return "unknown"
}

// captchaResultOf classifies the error of CaptchaVerifier.Verify.
func captchaResultOf(err error) CaptchaResult {
	switch {
	case err == nil:
		return CaptchaPass
	case ErrorKind(err) == KindUnavailable:
		return CaptchaUnavailable
	}
	return CaptchaFail
}

// RevocationReason says what revoked tokens. Reasons are append-only, and
// NumRevocationReasons counts them.
type RevocationReason uint8

const (
	// RevokedLogout: POST /v1/logout, of any scope.
	RevokedLogout RevocationReason = iota
	// RevokedSession: DELETE /v1/sessions/{id}.
	RevokedSession
	// RevokedPasswordChange: POST /v1/password.
	RevokedPasswordChange
	// RevokedPasswordSet: an administrator set the password (latchkey
	// user passwd).
	RevokedPasswordSet
	// RevokedUserDisabled: an administrator disabled the user.
	RevokedUserDisabled
	// RevokedMFAReset: an administrator removed the user's second
	// factors (latchkey user mfa-reset).
	RevokedMFAReset
	NumRevocationReasons
)

var revocationReasonNames = [NumRevocationReasons]string{"logout", "session_delete", "password_change", "password_set", "user_disabled", "mfa_reset"}

func (r RevocationReason) String() string {
	if r < NumRevocationReasons {
		return revocationReasonNames[r]
	}
	return "unknown"
}
