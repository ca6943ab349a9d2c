package api

import (
	"net/http"
	"time"

	"github.com/latchkeyhq/latchkey"
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
	Token      string   `json:"token"`
	TokenType  string   `json:"token_type"`
	ExpiresAt  string   `json:"expires_at"`
	SessionID  string   `json:"session_id"`
	DeviceName string   `json:"device_name"`
	User       userJSON `json:"user"`
}

// writeIssued answers with a new token; such responses are never cached.
func writeIssued(w http.ResponseWriter, is latchkey.Issued) {
	setNoStore(w.Header())
	writeJSON(w, http.StatusOK, issuedJSON{
		Token:      is.Token.Reveal(),
		TokenType:  "Bearer",
		ExpiresAt:  timeJSON(is.Session.ExpiresAt),
		SessionID:  is.Session.ID,
		DeviceName: is.Session.DeviceName,
		User:       newUserJSON(is.User),
	})
}

// authedHandler is a handler that runs for an authenticated principal.
type authedHandler func(w http.ResponseWriter, r *http.Request, p latchkey.Principal)

// authed checks the request's token before calling h. Every answer to
// an authenticated request is about its user (the user, their sessions,
// addresses and user agents), so none is cached.
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
		setNoStore(w.Header())
		h(w, r, p)
	})
}

func (s *server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, v, err := decodeRequired(w, r, "username", "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		device, err := f.optional("device_name")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		is, err := s.auth.Login(r.Context(), latchkey.LoginRequest{
			Username:   v[0],
			Password:   latchkey.Password(v[1]),
			Captcha:    f.captcha(),
			DeviceName: device,
			Client:     s.clientOf(r),
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeIssued(w, is)
	})
}

// captchaFields are the body fields a captcha response may come in: ours,
// and those the widgets and the original API post.
var captchaFields = []string{"captcha", "g_recaptcha_response", "g-recaptcha-response", "h-captcha-response", "cf-turnstile-response", "altcha"}

// captcha returns the body's captcha response, "" when it has none.
func (f fields) captcha() string {
	for _, name := range captchaFields {
		if v := f.values[name]; v != "" {
			return v
		}
	}
	return ""
}

func (s *server) handleChallenge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.Challenges == nil {
			s.writeError(w, r, latchkey.ErrNotFound)
			return
		}
		ch, err := s.opt.Challenges.NewChallenge(r.Context(), s.opt.ClientIP.Of(r))
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
		writeBody(w, http.StatusOK, s.users.of(p, newUserBody).body)
	}
}

func (s *server) handleLogout() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		scope := latchkey.LogoutScope(r.URL.Query().Get("scope"))
		if err := s.auth.Logout(r.Context(), p, scope, s.clientOf(r)); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) handlePassword() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		f, v, err := decodeRequired(w, r, "old_password", "new_password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		code, err := f.optional("code")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		is, err := s.auth.ChangePassword(r.Context(), p, latchkey.Password(v[0]), latchkey.Password(v[1]), code, s.clientOf(r))
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
	DeviceName string `json:"device_name"`
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
				DeviceName: x.DeviceName,
				Current:    x.ID == p.Session.SessionID,
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	}
}

func (s *server) handleDeleteSession() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		if err := s.auth.RevokeSession(r.Context(), p, r.PathValue("id"), s.clientOf(r)); err != nil {
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
