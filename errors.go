package latchkey

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it. The HTTP
// layer maps kinds (and codes) to statuses in one place. Kinds are
// append-only: never renumber or reuse one.
type Kind uint8

const (
	KindInternal        Kind = iota // a bug or a failed dependency: 500
	KindInvalid                     // the request is malformed or breaks a rule: 400
	KindUnauthenticated             // no, bad or expired credentials: 401
	KindNotFound                    // the thing does not exist (for this caller): 404
	KindConflict                    // a uniqueness rule was broken: 409
	KindUnavailable                 // try again later: 503
	KindTooLarge                    // the body is too large: 413
	KindUnsupported                 // the media type is not understood: 415
	KindThrottled                   // too many attempts: 429
)

func (k Kind) String() string {
	switch k {
	case KindInternal:
		return "internal"
	case KindInvalid:
		return "invalid"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindUnavailable:
		return "unavailable"
	case KindTooLarge:
		return "too_large"
	case KindUnsupported:
		return "unsupported"
	case KindThrottled:
		return "throttled"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Stable machine codes, part of the public API contract.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeNotAuthenticated     = "not_authenticated"
	CodeInvalidToken         = "invalid_token"
	CodeTokenExpired         = "token_expired"
	CodeOverloaded           = "overloaded"
	CodeNotFound             = "not_found"
	CodeConflict             = "conflict"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
	CodeMethodNotAllowed     = "method_not_allowed"

	// Second factors (mfa.go).
	CodeMFARequired     = "mfa_required"
	CodeInvalidMFAToken = "invalid_mfa_token"
	CodeInvalidMFACode  = "invalid_mfa_code"
	CodeMFACodeRequired = "mfa_code_required"
	CodeMFAUnavailable  = "mfa_unavailable"
	CodeMFAEnabled      = "mfa_enabled"
	CodeMFANotEnabled   = "mfa_not_enabled"
	CodeMFANotPending   = "mfa_not_pending"
)

// Error is the one error type of latchkey. Detail is safe to show to a
// client; Err (the cause) is for logs only and never echoed.
type Error struct {
	Kind       Kind
	Code       string
	Detail     string
	Fields     map[string][]string // per-field messages, for KindInvalid
	RetryAfter time.Duration       // for KindUnavailable and KindThrottled
	// CaptchaRequired, on a failed login, says that the next attempt
	// must carry a captcha response.
	CaptchaRequired bool
	// MFA, on an mfa_required answer to a right password, is the
	// challenge the client answers with a second factor.
	MFA *MFAPending
	Err error // the cause, if any
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidToken) match any *Error with the same
// kind and code, so sentinel values can be compared across wrapping.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Code == e.Code
}

// Sentinel errors for the common cases. Compare with errors.Is; never
// mutate them (use the constructors below to add detail).
var (
	ErrNotFound           = &Error{Kind: KindNotFound, Code: CodeNotFound, Detail: "Not found."}
	ErrConflict           = &Error{Kind: KindConflict, Code: CodeConflict, Detail: "Already exists."}
	ErrInvalidCredentials = &Error{Kind: KindUnauthenticated, Code: CodeInvalidCredentials, Detail: "Unable to log in with the provided credentials."}
	ErrNotAuthenticated   = &Error{Kind: KindUnauthenticated, Code: CodeNotAuthenticated, Detail: "Authentication credentials were not provided."}
	ErrInvalidToken       = &Error{Kind: KindUnauthenticated, Code: CodeInvalidToken, Detail: "Invalid token."}
	ErrTokenExpired       = &Error{Kind: KindUnauthenticated, Code: CodeTokenExpired, Detail: "Token has expired."}
	ErrOverloaded         = &Error{Kind: KindUnavailable, Code: CodeOverloaded, Detail: "The server is busy; retry shortly.", RetryAfter: time.Second}
	ErrUnavailable        = &Error{Kind: KindUnavailable, Code: CodeUnavailable, Detail: "A dependency is unavailable; retry shortly.", RetryAfter: time.Second}

	// ErrMFARequired answers a right password of an account with a
	// second factor: 401, so that a client that knows nothing of second
	// factors takes it for a failed login. Its MFA says how to go on.
	ErrMFARequired     = &Error{Kind: KindUnauthenticated, Code: CodeMFARequired, Detail: "The password is right; this account needs a second factor: send a code to POST /v1/login/mfa with the mfa_token."}
	ErrInvalidMFAToken = &Error{Kind: KindUnauthenticated, Code: CodeInvalidMFAToken, Detail: "The mfa_token is unknown, expired or used up: log in again."}
	ErrInvalidMFACode  = &Error{Kind: KindUnauthenticated, Code: CodeInvalidMFACode, Detail: "Wrong code."}
	ErrMFAUnavailable  = &Error{Kind: KindUnavailable, Code: CodeMFAUnavailable, Detail: "TOTP is not available: the server has no MFA key (LATCHKEY_MFA_KEY)."}
	ErrMFAEnabled      = &Error{Kind: KindConflict, Code: CodeMFAEnabled, Detail: "TOTP is already enabled: disable it first (DELETE /v1/mfa/totp)."}
	ErrMFANotEnabled   = &Error{Kind: KindConflict, Code: CodeMFANotEnabled, Detail: "TOTP is not enabled."}
	ErrMFANotPending   = &Error{Kind: KindConflict, Code: CodeMFANotPending, Detail: "No TOTP enrolment is pending: start one with POST /v1/mfa/totp."}
	ErrMFACodeRequired = &Error{Kind: KindInvalid, Code: CodeMFACodeRequired, Detail: "This account has a second factor: send a code from the authenticator app, or a recovery code, as code.", Fields: map[string][]string{"code": {"This field is required."}}}
)

// Invalid returns a KindInvalid error with a detail message.
func Invalid(detail string) *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidRequest, Detail: detail}
}

// InvalidField returns a KindInvalid error naming one field.
func InvalidField(field, msg string) *Error {
	return &Error{
		Kind:   KindInvalid,
		Code:   CodeInvalidRequest,
		Detail: "Invalid input.",
		Fields: map[string][]string{field: {msg}},
	}
}

// Internal wraps an unexpected cause. Its detail is generic on purpose.
func Internal(format string, args ...any) *Error {
	return &Error{Kind: KindInternal, Code: CodeInternal, Detail: "Internal server error.", Err: fmt.Errorf(format, args...)}
}

// Unavailable wraps a cause that should make the client retry later.
func Unavailable(err error) *Error {
	return &Error{Kind: KindUnavailable, Code: CodeUnavailable, Detail: ErrUnavailable.Detail, RetryAfter: time.Second, Err: err}
}

// ErrorKind returns the kind of err, KindInternal for foreign errors.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// AsError returns err as an *Error, wrapping foreign errors as internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Code: CodeInternal, Detail: "Internal server error.", Err: err}
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
