package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkeyhq/latchkey/api"
)

// TestBearerTokenAndWriteErrorAreTheAPIs holds a handler made of
// BearerToken and WriteError, as package verify's middleware is, to the
// answers of GET /v1/me for the same Authorization headers.
func TestBearerTokenAndWriteErrorAreTheAPIs(t *testing.T) {
	e := newEnv(t, envOptions{})
	mine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := api.BearerToken(r); err != nil {
			api.WriteError(w, r, nil, err)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(mine.Close)
	for _, headers := range [][]string{
		nil,
		{"Basic YWxpY2U6c2VjcmV0"},
		{"Bearer"},
		{"Bearer a b"},
		{"Token lk_a", "Token lk_b"},
		{"bearer lk_abc"},
		{"Token lk_abc"},
	} {
		t.Run(fmt.Sprint(headers), func(t *testing.T) {
			var answers [2]response
			for i, base := range []string{e.srv.URL + "/v1/me", mine.URL} {
				req, _ := http.NewRequest("GET", base, nil)
				req.Header["Authorization"] = headers
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				b.ReadFrom(res.Body)
				res.Body.Close()
				answers[i] = response{res.StatusCode, res.Header, b.Bytes()}
			}
			want, got := answers[0], answers[1]
			if want.status == http.StatusUnauthorized && want.json(t)["code"] == "invalid_token" && got.status == http.StatusTeapot {
				return // the token's syntax passed: the API refused it, unknown
			}
			if want.status != got.status || !bytes.Equal(want.body, got.body) {
				t.Fatalf("API: %d %s; BearerToken and WriteError: %d %s", want.status, want.body, got.status, got.body)
			}
			for _, h := range []string{"WWW-Authenticate", "Content-Type", "X-Content-Type-Options", "Retry-After"} {
				if want.header.Get(h) != got.header.Get(h) {
					t.Errorf("%s: API %q, BearerToken and WriteError %q", h, want.header.Get(h), got.header.Get(h))
				}
			}
		})
	}
}
