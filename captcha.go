package latchkey

import (
	"context"
	"time"
)

// CaptchaVerifier checks a captcha response (a provider's token, or a
// proof-of-work solution) before a login is attempted. It returns nil when
// the response passed, and otherwise one of ErrCaptchaRequired,
// ErrCaptchaInvalid or ErrCaptchaUnavailable (possibly wrapping a cause for
// the logs).
//
// Verifiers fail closed: a check that could not run (the provider is
// unreachable, slow, or answered something unexpected) is
// ErrCaptchaUnavailable, never a pass. remoteIP is the client address as
// the server determines it; it is passed on to providers that take it.
type CaptchaVerifier interface {
	Verify(ctx context.Context, response, remoteIP string) error
}

// ReplayGuard remembers keys until they expire, so that a one-time proof
// (a proof-of-work solution) is accepted once. It belongs with the token
// cache: in-process for one node, shared (Redis) when several nodes serve
// the same users, so that neither another node nor a restart reopens a
// claimed key before it expires.
type ReplayGuard interface {
	// Claim records key until expires. first is true only for the first
	// claim of key before expires; a key whose claim has expired may be
	// claimed again. An error means the claim could not be recorded: the
	// caller must refuse the proof (fail closed), and implementations
	// return one rather than forget an unexpired claim.
	Claim(ctx context.Context, key string, expires time.Time) (first bool, err error)
}

// Machine codes of captcha errors, part of the public API contract.
const (
	CodeCaptchaRequired    = "captcha_required"
	CodeCaptchaInvalid     = "captcha_invalid"
	CodeCaptchaUnavailable = "captcha_unavailable"
)

// Captcha errors. Verifiers return these, or *Error values with the same
// kind and code and a cause; compare with errors.Is.
var (
	// ErrCaptchaRequired: a captcha is configured and the request carries
	// no response.
	ErrCaptchaRequired = &Error{Kind: KindInvalid, Code: CodeCaptchaRequired, Detail: "A captcha response is required."}
	// ErrCaptchaInvalid: the response was checked and refused (wrong,
	// expired, already used, for another site or action, or too low a
	// score).
	ErrCaptchaInvalid = &Error{Kind: KindInvalid, Code: CodeCaptchaInvalid, Detail: "The captcha response is invalid or has expired."}
	// ErrCaptchaUnavailable: the response could not be checked. The
	// client may retry after RetryAfter; the cause is for the logs.
	ErrCaptchaUnavailable = &Error{Kind: KindUnavailable, Code: CodeCaptchaUnavailable, Detail: "The captcha could not be checked; retry shortly.", RetryAfter: 5 * time.Second}
)
