// Package captcha implements latchkey.CaptchaVerifier: SiteVerify for the
// hosted providers that share the siteverify protocol (Google reCAPTCHA v2
// and v3, hCaptcha, Cloudflare Turnstile), and PoW, a built-in
// proof-of-work challenge that speaks the ALTCHA widget's protocol (v1)
// and needs no outside service.
//
// Every verifier fails closed. A response that could not be checked (the
// provider is unreachable, slow, answers 5xx, garbage or something this
// package does not expect, or the replay guard fails) is
// latchkey.ErrCaptchaUnavailable, never a pass; a response that was checked
// and refused is latchkey.ErrCaptchaInvalid; an empty one is
// latchkey.ErrCaptchaRequired. Responses longer than MaxResponseLength are
// refused before any work or call out.
//
// The provider secret (or the proof-of-work HMAC key) never appears in an
// error message or a log line: it is sent in POST bodies only, and every
// error text is scrubbed of it before it leaves the package.
package captcha

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// MaxResponseLength bounds a captcha response, in bytes. Provider tokens
// and proof-of-work payloads are ASCII and far shorter; anything longer is
// refused as invalid without a call out.
const MaxResponseLength = 2048

// invalid returns an ErrCaptchaInvalid with a cause for the logs.
func invalid(format string, args ...any) *latchkey.Error {
	return &latchkey.Error{
		Kind:   latchkey.KindInvalid,
		Code:   latchkey.CodeCaptchaInvalid,
		Detail: latchkey.ErrCaptchaInvalid.Detail,
		Err:    fmt.Errorf(format, args...),
	}
}

// unavailable returns an ErrCaptchaUnavailable with a cause for the logs.
func unavailable(format string, args ...any) *latchkey.Error {
	return &latchkey.Error{
		Kind:       latchkey.KindUnavailable,
		Code:       latchkey.CodeCaptchaUnavailable,
		Detail:     latchkey.ErrCaptchaUnavailable.Detail,
		RetryAfter: latchkey.ErrCaptchaUnavailable.RetryAfter,
		Err:        fmt.Errorf(format, args...),
	}
}

// scrubber removes a secret from text that may reach a log: error
// messages, and strings a provider sent back.
type scrubber struct{ forms []string }

const redacted = "[redacted]"

func newScrubber(secret string) scrubber {
	if secret == "" {
		return scrubber{}
	}
	// The secret as it would appear raw, form-encoded, path-escaped and
	// Go-quoted (%q).
	q := strconv.Quote(secret)
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), q[1 : len(q)-1]}
	var uniq []string
	for _, f := range forms {
		dup := false
		for _, u := range uniq {
			dup = dup || u == f
		}
		if !dup {
			uniq = append(uniq, f)
		}
	}
	return scrubber{forms: uniq}
}

func (s scrubber) clean(text string) string {
	for _, f := range s.forms {
		text = strings.ReplaceAll(text, f, redacted)
	}
	return text
}

// quote scrubs, truncates and quotes a string from outside for an error
// message. It scrubs first, so that truncation cannot cut the secret into
// a piece that no longer matches.
func (s scrubber) quote(text string) string {
	const max = 64
	text = s.clean(text)
	if len(text) > max {
		return strconv.Quote(text[:max]) + "…"
	}
	return strconv.Quote(text)
}

// scrubbedError is a cause whose message has the secret removed. Unwrap
// keeps the original for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// seal scrubs the cause of e, the last step before e leaves the package.
func (s scrubber) seal(e *latchkey.Error) *latchkey.Error {
	if e.Err != nil {
		e.Err = &scrubbedError{msg: s.clean(e.Err.Error()), err: e.Err}
	}
	return e
}
