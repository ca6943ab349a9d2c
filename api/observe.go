package api

import (
	"net/http"
	"sync"
	"time"
)

// Metrics observes the API's requests by route (prom implements it). The
// server asks it for each route once, when it registers the route, so
// that a request costs what the RouteMetrics costs, with no label looked
// up.
type Metrics interface {
	// Route returns the observer of the requests that pattern, a pattern
	// of routes.go, matched; pattern is "" for the requests that match
	// none (404, 405).
	Route(pattern string) RouteMetrics
}

// RouteMetrics observes the requests of one route.
type RouteMetrics interface {
	// Request counts one answered request with its status and how long
	// the handler took.
	Request(code int, d time.Duration)
}

// observe wraps h, the handler of pattern, so that its requests are
// observed; h itself when no Metrics are set.
func (s *server) observe(pattern string, h http.Handler) http.Handler {
	if s.opt.Metrics == nil {
		return h
	}
	m := s.opt.Metrics.Route(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		sw.ResponseWriter, sw.code = w, 0
		h.ServeHTTP(sw, r)
		code := sw.code
		sw.ResponseWriter = nil
		statusWriters.Put(sw)
		if code == 0 {
			code = http.StatusOK
		}
		m.Request(code, time.Since(start))
	})
}

// statusWriter notes the status a handler answers with. They are pooled:
// a request on the token check's hit path allocates nothing.
type statusWriter struct {
	http.ResponseWriter
	code int
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
