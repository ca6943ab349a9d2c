package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/prom"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMeHandler is GET /v1/me on a cache hit, through the whole
// handler: routing, header parsing, token check, JSON encoding.
func BenchmarkMeHandler(b *testing.B) { benchmarkMeHandler(b, envOptions{}) }

// BenchmarkMeHandlerMetrics is BenchmarkMeHandler with the Prometheus
// metrics on: the request and the token check counted, without an
// allocation.
func BenchmarkMeHandlerMetrics(b *testing.B) {
	m := prom.New(prom.Options{})
	benchmarkMeHandler(b, envOptions{api: api.Options{Metrics: m}, metrics: m})
}

func benchmarkMeHandler(b *testing.B, eo envOptions) {
	e := newEnv(b, eo)
	tok, _ := e.login(b, "alice")
	h := e.srv.Config.Handler
	r := httptest.NewRequest("GET", "/v1/me", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkForwardAuthHandler is a proxy's forward-auth check on a cache
// hit, through the whole handler: routing, header parsing, token check,
// the identity headers. It is to cost what BenchmarkMeHandler costs.
func BenchmarkForwardAuthHandler(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok, _ := e.login(b, "alice")
	h := e.srv.Config.Handler
	r := httptest.NewRequest("GET", "/v1/forward-auth", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("X-Forwarded-Method", "GET")
	r.Header.Set("X-Forwarded-Uri", "/app/page")
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.h.Get("X-Latchkey-Username") != "alice" {
		b.Fatalf("headers %v", w.h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

func BenchmarkHealthzHandler(b *testing.B) {
	e := newEnv(b, envOptions{})
	h := e.srv.Config.Handler
	r := httptest.NewRequest("GET", "/healthz", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
