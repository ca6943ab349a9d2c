// Package api is latchkey's HTTP API: JSON in and out, bearer tokens in the
// Authorization header, errors mapped to statuses in one place (errors.go).
package api

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"

	"github.com/latchkeyhq/latchkey"
)

type server struct {
	auth *latchkey.Authenticator
	log  *slog.Logger
	mux  *http.ServeMux
}

// NewServer returns the API handler over auth. logger receives internal
// errors and login decisions; nil discards.
func NewServer(auth *latchkey.Authenticator, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{auth: auth, log: logger, mux: http.NewServeMux()}
	s.routes(s.mux)
	return s
}

// ServeHTTP routes the request; what the mux itself answers (404, 405)
// is rewritten as a JSON error.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
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
		return
	}
	s.mux.ServeHTTP(w, r)
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

// writeJSON is the one encoder of the API.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"code":"internal","detail":"Internal server error."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// clientOf describes the request's client for its session record.
func clientOf(r *http.Request) latchkey.Client {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return latchkey.Client{IP: ip, UserAgent: r.UserAgent()}
}
