package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// errorBody is the JSON shape of every error.
type errorBody struct {
	Code   string              `json:"code"`
	Detail string              `json:"detail"`
	Fields map[string][]string `json:"fields,omitempty"`
	// CaptchaRequired tells a client whose login failed that its next
	// attempt needs a captcha response.
	CaptchaRequired bool `json:"captcha_required,omitempty"`
	// MFAToken, Methods and ExpiresAt, on mfa_required, say how the
	// login goes on (POST /v1/login/mfa).
	MFAToken  string   `json:"mfa_token,omitempty"`
	Methods   []string `json:"methods,omitempty"`
	ExpiresAt string   `json:"expires_at,omitempty"`
}

// status maps an error kind to its HTTP status. It is the one place where
// that mapping lives.
func status(k latchkey.Kind) int {
	switch k {
	case latchkey.KindInvalid:
		return http.StatusBadRequest
	case latchkey.KindUnauthenticated:
		return http.StatusUnauthorized
	case latchkey.KindNotFound:
		return http.StatusNotFound
	case latchkey.KindConflict:
		return http.StatusConflict
	case latchkey.KindUnavailable:
		return http.StatusServiceUnavailable
	case latchkey.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case latchkey.KindUnsupported:
		return http.StatusUnsupportedMediaType
	case latchkey.KindThrottled:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// writeError answers with err as JSON (WriteError), logging to the
// server's logger.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, s.log, err)
}

// WriteError answers with err as every route of the API does: the status
// of its kind, the JSON body {"code","detail"}, WWW-Authenticate on a 401
// and Retry-After on a 503 or a 429. Errors answered with a 5xx are logged
// to log (nil: not logged), here, once; an internal error gets a generic body, its cause is
// never echoed. Package verify's middleware answers with it, so that a
// service refuses a token exactly as the API does.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := latchkey.AsError(err)
	code := status(e.Kind)
	body := errorBody{Code: e.Code, Detail: e.Detail, Fields: e.Fields, CaptchaRequired: e.CaptchaRequired}
	if m := e.MFA; m != nil {
		body.MFAToken, body.Methods, body.ExpiresAt = m.Token.Reveal(), m.Methods, timeJSON(m.ExpiresAt)
		setNoStore(w.Header())
	}
	if code >= 500 && log != nil {
		log.LogAttrs(r.Context(), logLevel(r, e), "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("code", e.Code), slog.Any("err", err))
	}
	if code == http.StatusInternalServerError {
		body = errorBody{Code: latchkey.CodeInternal, Detail: "Internal server error."}
	}
	h := w.Header()
	if code == http.StatusUnauthorized {
		challenge := `Bearer realm="latchkey"`
		switch e.Code {
		case latchkey.CodeInvalidToken, latchkey.CodeTokenExpired:
			challenge += `, error="invalid_token"`
		case latchkey.CodeInvalidClient:
			// A service client authenticates with HTTP Basic (RFC 7662
			// §2.1, RFC 6749 §2.3.1).
			challenge = `Basic realm="latchkey"`
		}
		h.Set("WWW-Authenticate", challenge)
	}
	if e.RetryAfter > 0 && (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) {
		h.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, code, body)
}

// logLevel is how loudly a failed request is logged: an error, unless the
// server is merely overloaded, or the client hung up and so cancelled the
// work (nobody reads that answer, and nothing is wrong with the server).
func logLevel(r *http.Request, e *latchkey.Error) slog.Level {
	switch {
	case errors.Is(e, context.Canceled) && r.Context().Err() != nil:
		return slog.LevelDebug
	case errors.Is(e, latchkey.ErrOverloaded):
		return slog.LevelWarn
	}
	return slog.LevelError
}
