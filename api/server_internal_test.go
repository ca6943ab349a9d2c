package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
)

// TestExactGET: the routes that ServeHTTP serves without the mux are the
// GET routes without wildcards, each the handler the mux chooses for its
// path; anything else, a HEAD, an escaped path, a path to clean, goes to
// the mux.
func TestExactGET(t *testing.T) {
	s := NewServer(latchkey.NewAuthenticator(nil, memory.New(memory.Options{}), nil, latchkey.Options{}), Options{}).(*server)
	for _, path := range []string{"/healthz", "/readyz", "/v1/me", "/v1/forward-auth", "/v1/sessions", "/v1/openapi.json"} {
		if s.exactGET[path] == nil {
			t.Errorf("%s is not served directly", path)
		}
	}
	for path, h := range s.exactGET {
		r := httptest.NewRequest("GET", path, nil)
		if _, pattern := s.mux.Handler(r); pattern != "GET "+path {
			t.Errorf("the mux routes GET %s to %q", path, pattern)
		}
		if h == nil {
			t.Errorf("%s: no handler", path)
		}
	}
	if len(s.exactGET) > 16 {
		t.Errorf("%d exact routes: more than the API has", len(s.exactGET))
	}
	for _, path := range []string{"/ui/", "/ui/{file}", "/v1/sessions/{id}", "/v1/webauthn/credentials/{id}"} {
		if _, ok := s.exactGET[path]; ok {
			t.Errorf("%s is served directly", path)
		}
	}
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{"GET", "/healthz", http.StatusOK},
		{"HEAD", "/healthz", http.StatusOK},
		{"POST", "/healthz", http.StatusMethodNotAllowed},
		{"GET", "/v1/../healthz", http.StatusTemporaryRedirect},
		{"GET", "/healthz/", http.StatusNotFound},
		{"GET", "/health%7a", http.StatusOK},
		{"GET", "/v1/me", http.StatusUnauthorized},
		{"GET", "/v1//me", http.StatusTemporaryRedirect},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.target, rec.Code, tc.want)
		}
	}
}
