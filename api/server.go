// Package api is latchkey's HTTP API: JSON in and out, bearer tokens in the
// Authorization header, errors mapped to statuses in one place (errors.go).
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/captcha"
)

// Options are the server's optional parts. The zero value serves the API
// with the peer address as the client's and no captcha challenges. The
// throttle and the captcha are the Authenticator's: the login gate.
type Options struct {
	// Logger receives internal errors and login decisions; nil discards.
	Logger *slog.Logger
	// ClientIP says which proxies' forwarding headers are believed.
	ClientIP ClientIP
	// Challenges, when set, serves GET /v1/captcha/challenge (the
	// built-in proof-of-work captcha).
	Challenges Challenger
	// ForwardAuthCookie, when set, names a cookie that /v1/forward-auth
	// reads the token from when the Authorization header holds none.
	ForwardAuthCookie string
	// Metrics, when set, observes every request by route and status.
	Metrics Metrics
	// UI, when set, serves the login page under /ui/ (package ui).
	UI UI
}

// Challenger issues proof-of-work challenges (captcha.PoW): to the client
// at ip (ClientIP), within its limit per address, or a 429 throttled.
type Challenger interface {
	NewChallenge(ctx context.Context, ip netip.Addr) (captcha.Challenge, error)
}

type server struct {
	auth *latchkey.Authenticator
	log  *slog.Logger
	opt  Options
	// mux routes every request: the routes, and "/" for what none of
	// them matches.
	mux *http.ServeMux
	// routed has the routes' patterns alone, so that a request none of
	// them matched is told apart: not found, a method not allowed, or a
	// path to clean.
	routed *http.ServeMux
	// idents holds the identity headers of recent forward-auth answers,
	// and users the bodies of recent /v1/me answers.
	idents recent[identity, *identity]
	users  recent[userBody, *userBody]
	// exactGET has the handlers of the GET routes whose pattern is a
	// path without wildcards, by path, as mux has them.
	exactGET map[string]http.Handler
}

// HTTPServer returns the net/http server that serve runs h on, with its
// timeouts and header limit. serve runs it on an internal/deadline
// listener, so that the deadlines cost no runtime timer per request.
func HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// NewServer returns the API handler over auth.
func NewServer(auth *latchkey.Authenticator, opt Options) http.Handler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{auth: auth, log: opt.Logger, opt: opt, mux: http.NewServeMux(), routed: http.NewServeMux(),
		exactGET: map[string]http.Handler{}}
	s.routes(observed{s, s.mux})
	s.routes(patternsOnly{s.routed})
	// Less specific than any route: only what no route matches.
	s.mux.Handle("/", s.observe("", http.HandlerFunc(s.serveUnmatched)))
	return s
}

// ServeHTTP routes the request, once. A GET of a path that a route names
// exactly, unescaped (the probes, /v1/me, a proxy's forward-auth), goes
// straight to that route's handler: the one the mux would choose, without
// its path cleaning and pattern matching. Anything else goes through the
// mux.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.RawPath == "" {
		if h, ok := s.exactGET[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// serveUnmatched answers a request that no route matched, as the mux
// would without the catch-all, with a JSON error.
func (s *server) serveUnmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.routed.Handler(r)
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		writeJSON(w, rec.status, errorBody{Code: latchkey.CodeMethodNotAllowed, Detail: "Method not allowed."})
	case http.StatusNotFound, 0:
		writeJSON(w, http.StatusNotFound, errorBody{Code: latchkey.CodeNotFound, Detail: "Not found."})
	default: // a redirect, say, for a path to clean
		if loc := rec.header.Get("Location"); loc != "" {
			w.Header().Set("Location", loc)
		}
		w.WriteHeader(rec.status)
	}
}

// statusRecorder captures what the mux's own handlers write.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// clientOf describes the request's client: its address, for the throttle
// and the session, and its user agent.
func (s *server) clientOf(r *http.Request) latchkey.Client {
	return latchkey.Client{Addr: s.opt.ClientIP.Of(r), UserAgent: r.UserAgent()}
}
