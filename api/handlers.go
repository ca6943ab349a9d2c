package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/throttle"
)

// userJSON is the public shape of a user.
type userJSON struct {
	ID         int64   `json:"id"`
	Username   string  `json:"username"`
	Email      string  `json:"email"`
	FirstName  string  `json:"first_name"`
	LastName   string  `json:"last_name"`
	LastLogin  *string `json:"last_login"`
	DateJoined string  `json:"date_joined"`
}

func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func newUserJSON(u latchkey.User) userJSON {
	j := userJSON{
		ID: u.ID, Username: u.Username, Email: u.Email,
		FirstName: u.FirstName, LastName: u.LastName,
		DateJoined: timeJSON(u.DateJoined),
	}
	if !u.LastLogin.IsZero() {
		s := timeJSON(u.LastLogin)
		j.LastLogin = &s
	}
	return j
}

type issuedJSON struct {
	Token     string   `json:"token"`
	TokenType string   `json:"token_type"`
	ExpiresAt string   `json:"expires_at"`
	SessionID string   `json:"session_id"`
	User      userJSON `json:"user"`
}

// writeIssued answers with a new token; such responses are never cached.
func writeIssued(w http.ResponseWriter, is latchkey.Issued) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, issuedJSON{
		Token:     is.Token.Reveal(),
		TokenType: "Bearer",
		ExpiresAt: timeJSON(is.Session.ExpiresAt),
		SessionID: is.Session.ID,
		User:      newUserJSON(is.User),
	})
}

// authedHandler is a handler that runs for an authenticated principal.
type authedHandler func(w http.ResponseWriter, r *http.Request, p latchkey.Principal)

// authed checks the request's token before calling h.
func (s *server) authed(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := token(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p, err := s.auth.Authenticate(r.Context(), tok)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, p)
	})
}

func (s *server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := decode(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		v, err := f.require("username", "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		username, pw := v[0], latchkey.Password(v[1])
		ctx := r.Context()
		ip, c := s.clientOf(r)
		// The throttle comes first: a refused attempt costs no captcha
		// call and never reaches the password hash.
		if s.opt.Limiter != nil {
			if err := s.opt.Limiter.Check(ctx, username, ip); err != nil {
				s.logLogin(r, username, c.IP, err)
				s.writeError(w, r, err)
				return
			}
		}
		// Then the captcha, before the password is looked at: a right
		// password is never revealed without a valid captcha.
		is, err := func() (latchkey.Issued, error) {
			if err := s.checkCaptcha(ctx, f, username, ip, c.IP); err != nil {
				return latchkey.Issued{}, err
			}
			return s.auth.Login(ctx, username, pw, c)
		}()
		if s.opt.Limiter != nil {
			if rerr := s.opt.Limiter.Record(ctx, username, ip, throttle.OutcomeOf(err)); rerr != nil {
				s.log.Warn("throttle: attempt not recorded", "err", rerr)
			}
		}
		s.logLogin(r, username, c.IP, err)
		if err != nil {
			s.writeErrorBody(w, r, err, errors.Is(err, latchkey.ErrInvalidCredentials) && s.captchaNeeded(ctx, username, ip))
			return
		}
		writeIssued(w, is)
	})
}

// logLogin logs one line per login decision: never the password.
func (s *server) logLogin(r *http.Request, username, ip string, err error) {
	outcome, reason := "success", ""
	if err != nil {
		outcome = latchkey.AsError(err).Code
		reason = throttle.Reason(err)
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "login",
		slog.String("outcome", outcome), slog.String("username", username),
		slog.String("ip", ip), slog.String("reason", reason))
}

// captchaFields are the body fields a captcha response may come in: ours,
// and those the widgets and the original API post.
var captchaFields = []string{"captcha", "g_recaptcha_response", "g-recaptcha-response", "h-captcha-response", "cf-turnstile-response", "altcha"}

// maxCaptchaResponse bounds a captcha response; longer ones are refused
// without a call out.
const maxCaptchaResponse = 2048

// checkCaptcha verifies the login's captcha response when one is needed.
func (s *server) checkCaptcha(ctx context.Context, f fields, username string, ip netip.Addr, ipText string) error {
	if s.opt.Captcha == nil || !s.captchaNeeded(ctx, username, ip) {
		return nil
	}
	var resp string
	for _, name := range captchaFields {
		if v := f.values[name]; v != "" {
			resp = v
			break
		}
	}
	switch {
	case resp == "":
		return latchkey.ErrCaptchaRequired
	case len(resp) > maxCaptchaResponse:
		return latchkey.ErrCaptchaInvalid
	}
	return s.opt.Captcha.Verify(ctx, resp, ipText)
}

// captchaNeeded reports whether a login for username from ip must carry a
// captcha: always, or once enough failures were counted. A count that
// cannot be read asks for the captcha (fail closed).
func (s *server) captchaNeeded(ctx context.Context, username string, ip netip.Addr) bool {
	if s.opt.Captcha == nil {
		return false
	}
	n := s.opt.CaptchaAfterFailures
	if n <= 0 || s.opt.Limiter == nil {
		return true
	}
	user, addr, err := s.opt.Limiter.FailureCounts(ctx, username, ip)
	return err != nil || user >= n || addr >= n
}

func (s *server) handleChallenge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.Challenges == nil {
			s.writeError(w, r, latchkey.ErrNotFound)
			return
		}
		ch, err := s.opt.Challenges.NewChallenge()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, ch)
	})
}

func (s *server) handleMe() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		writeUser(w, p.User)
	}
}

func (s *server) handleLogout() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		scope := latchkey.LogoutScope(r.URL.Query().Get("scope"))
		if err := s.auth.Logout(r.Context(), p, scope); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) handlePassword() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		f, err := decode(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		v, err := f.require("old_password", "new_password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx := r.Context()
		ip, c := s.clientOf(r)
		// A stolen token must not guess the old password without limit.
		if s.opt.Limiter != nil {
			if err := s.opt.Limiter.Check(ctx, p.User.Username, ip); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		is, err := s.auth.ChangePassword(ctx, p, latchkey.Password(v[0]), latchkey.Password(v[1]), c)
		if s.opt.Limiter != nil {
			o := throttle.OutcomeOf(err)
			if errors.Is(err, latchkey.ErrWrongPassword) {
				o = throttle.Failure
			}
			if rerr := s.opt.Limiter.Record(ctx, p.User.Username, ip, o); rerr != nil {
				s.log.Warn("throttle: attempt not recorded", "err", rerr)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeIssued(w, is)
	}
}

type sessionJSON struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
}

func (s *server) handleSessions() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		ss, err := s.auth.Sessions(r.Context(), p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]sessionJSON, 0, len(ss))
		for _, x := range ss {
			out = append(out, sessionJSON{
				ID:         x.ID,
				CreatedAt:  timeJSON(x.CreatedAt),
				LastUsedAt: timeJSON(x.LastUsedAt),
				ExpiresAt:  timeJSON(x.ExpiresAt),
				IP:         x.IP,
				UserAgent:  x.UserAgent,
				Current:    x.ID == p.Session.SessionID,
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	}
}

func (s *server) handleDeleteSession() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		if err := s.auth.RevokeSession(r.Context(), p, r.PathValue("id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, http.StatusOK, healthzBody)
	})
}

func (s *server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.auth.Ready(r.Context()); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeBody(w, http.StatusOK, readyBody)
	})
}
