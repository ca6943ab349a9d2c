package api

import (
	"net/http"
	"strings"
)

// routes registers every route of the API on mux (observed, in
// NewServer). Patterns live here and only here, so a conflict between two
// of them panics in the test that builds the server, and a test holds
// them to the OpenAPI document.
func (s *server) routes(mux registrar) {
	mux.Handle("POST /v1/login", s.handleLogin())
	mux.Handle("POST /v1/login/mfa", s.handleLoginMFA())
	mux.Handle("POST /v1/login/webauthn/options", s.handlePasskeyLoginOptions())
	mux.Handle("POST /v1/login/webauthn", s.handlePasskeyLogin())
	mux.Handle("POST /v1/mfa/totp", s.authed(s.handleEnrolTOTP()))
	mux.Handle("POST /v1/mfa/totp/confirm", s.authed(s.handleConfirmTOTP()))
	mux.Handle("DELETE /v1/mfa/totp", s.authed(s.handleDisableTOTP()))
	mux.Handle("POST /v1/webauthn/register/options", s.authed(s.handlePasskeyRegistrationOptions()))
	mux.Handle("POST /v1/webauthn/register", s.authed(s.handleRegisterPasskey()))
	mux.Handle("GET /v1/webauthn/credentials", s.authed(s.handlePasskeys()))
	mux.Handle("DELETE /v1/webauthn/credentials/{id}", s.authed(s.handleDeletePasskey()))
	mux.Handle("GET /v1/me", s.authed(s.handleMe()))
	mux.Handle("POST /v1/logout", s.authed(s.handleLogout()))
	mux.Handle("POST /v1/password", s.authed(s.handlePassword()))
	mux.Handle("GET /v1/sessions", s.authed(s.handleSessions()))
	mux.Handle("DELETE /v1/sessions/{id}", s.authed(s.handleDeleteSession()))
	mux.Handle("GET /v1/events", s.authed(s.handleEvents()))
	// Any method. GET, which nginx, Caddy and Traefik send, has a pattern
	// of its own: the mux finds a method's pattern without allocating,
	// and allocates on its way to a pattern without one.
	forwardAuth := s.handleForwardAuth()
	mux.Handle("GET /v1/forward-auth", forwardAuth)
	mux.Handle("/v1/forward-auth", forwardAuth)
	mux.Handle("GET /v1/captcha/challenge", s.handleChallenge())
	mux.Handle("POST /v1/introspect", s.handleIntrospect())
	mux.Handle("GET /v1/openapi.json", s.handleOpenAPI(contentTypeJSON))
	mux.Handle("GET /v1/openapi.yaml", s.handleOpenAPI(contentTypeYAML))
	// The login page, when Options.UI is set: /ui/ exactly, and each of
	// its files, one path segment below it.
	mux.Handle("GET /ui/{$}", s.handleUI(true))
	mux.Handle("GET /ui/{file}", s.handleUI(false))
	mux.Handle("GET /healthz", s.handleHealthz())
	mux.Handle("GET /readyz", s.handleReadyz())
}

// registrar is where routes registers the routes: a mux, or a test's
// list of patterns.
type registrar interface {
	Handle(pattern string, h http.Handler)
}

// observed registers each route's handler observed by its pattern (see
// observe).
type observed struct {
	s   *server
	mux *http.ServeMux
}

func (o observed) Handle(pattern string, h http.Handler) {
	h = o.s.observe(pattern, h)
	o.mux.Handle(pattern, h)
	if path, ok := strings.CutPrefix(pattern, http.MethodGet+" /"); ok && !strings.ContainsAny(path, "{}") && !strings.HasSuffix(path, "/") {
		o.s.exactGET["/"+path] = h
	}
}

// patternsOnly registers the routes' patterns on mux, each with a handler
// that is never called: the server asks that mux only which pattern, if
// any, a request matches, and what it answers when none does.
type patternsOnly struct{ mux *http.ServeMux }

func (p patternsOnly) Handle(pattern string, _ http.Handler) {
	p.mux.Handle(pattern, http.NotFoundHandler())
}
