package latchkey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
)

// The steps of the login gate (Login, and the old password of
// ChangePassword) besides the password check: the throttle before it and
// after it, and the captcha.

// MaxCaptchaResponse bounds a captcha response, in bytes; a longer one is
// refused as invalid without a call to the provider.
const MaxCaptchaResponse = 2048

// admit charges a password attempt for username from c to the throttle.
// A refusal needs no record.
func (a *Authenticator) admit(ctx context.Context, username string, c Client) error {
	if a.opt.Throttle == nil {
		return nil
	}
	err := a.opt.Throttle.Check(ctx, username, c.Addr)
	var limit ThrottleLimit
	if errors.As(err, &limit) {
		a.opt.Metrics.ThrottleRefusal(limit)
	}
	return err
}

// record settles with the throttle an attempt that admit let through. Its
// failure is only logged: the attempt's outcome stands.
func (a *Authenticator) record(ctx context.Context, username string, c Client, o Outcome) {
	if a.opt.Throttle == nil {
		return
	}
	if err := a.opt.Throttle.Record(ctx, username, c.Addr, o); err != nil {
		a.opt.Logger.Warn("throttle: attempt not recorded", "err", err)
	}
}

// errWrongPassword is the cause of the error a password change with a
// wrong old password gets (an invalid_request naming old_password), so
// that the throttle counts it as a failed guess.
var errWrongPassword = errors.New("wrong old password")

// outcomeOf classifies the error of a password check: nil is a success,
// ErrInvalidCredentials, a wrong old password, a wrong second factor
// code, a refused passkey a failure, anything else
// (invalid input, a captcha refused, an overloaded hasher, a store that
// failed) an attempt abandoned before the password was judged.
func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, errWrongPassword), errors.Is(err, errWrongCode),
		errors.Is(err, ErrInvalidPasskey):
		return OutcomeFailure
	}
	return OutcomeAbandoned
}

// checkCaptcha verifies the captcha response of a login for username
// from c when one is needed.
func (a *Authenticator) checkCaptcha(ctx context.Context, username, response string, c Client) error {
	if !a.captchaNeeded(ctx, username, c) {
		return nil
	}
	switch {
	case response == "":
		return ErrCaptchaRequired
	case len(response) > MaxCaptchaResponse:
		a.opt.Metrics.CaptchaVerification(CaptchaFail)
		return ErrCaptchaInvalid
	}
	err := a.opt.Captcha.Verify(ctx, response, c.IP())
	a.opt.Metrics.CaptchaVerification(captchaResultOf(err))
	return err
}

// captchaNeeded reports whether a login for username from c must carry a
// captcha: always, or once enough failures were counted. A count that
// cannot be read asks for the captcha (fail closed).
func (a *Authenticator) captchaNeeded(ctx context.Context, username string, c Client) bool {
	if a.opt.Captcha == nil {
		return false
	}
	n := a.opt.CaptchaAfterFailures
	if n <= 0 || a.opt.Throttle == nil {
		return true
	}
	user, addr, err := a.opt.Throttle.FailureCounts(ctx, username, c.Addr)
	return err != nil || user >= n || addr >= n
}

// logLogin logs one line per login decision: never the password, and the
// username only when it is known, the stored name of a user the password
// was checked against. A name typed that is no user's is often a
// password typed into the wrong field: the line carries, for every
// attempt, only usernameHash of name, the typed name's folded form.
func (a *Authenticator) logLogin(ctx context.Context, name, known string, c Client, err error) {
	outcome, reason := "success", ""
	if err != nil {
		outcome = AsError(err).Code
		reason = ThrottleReason(err)
	}
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("outcome", outcome))
	if known != "" {
		attrs = append(attrs, slog.String("username", known))
	}
	attrs = append(attrs, slog.String("username_hash", a.usernameHash(name)),
		slog.String("ip", c.IP()), slog.String("reason", reason))
	a.opt.Logger.LogAttrs(ctx, slog.LevelInfo, "login", attrs...)
}

// usernameHash is what the log shows of a typed username: the first 8
// bytes of its HMAC-SHA-256, in hex, under a key the process drew at
// start and never shows. The same name gets the same hash until the
// process ends, so attempts on one name can be counted, and the lines
// that stop before the lookup (throttled, captcha refused) matched with
// those that name the user; without the key, which is in no setting and
// no file, nobody can check a guess against a hash.
func (a *Authenticator) usernameHash(name string) string {
	m := hmac.New(sha256.New, a.logKey[:])
	m.Write([]byte(name))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:8])
}
