// Package bare is the least a token check over HTTP can be: a net/http
// handler that takes the bearer token, hashes it with SHA-256 and looks
// the digest up in a map. The bench (cmd/latchkey-bench) serves it beside
// latchkey as the machine's limit, and BenchmarkServe in api counts its
// instructions beside latchkey's, so that both compare latchkey with the
// same handler.
package bare

import (
	"crypto/sha256"
	"net/http"
	"strings"
)

// Handler answers GET /v1/me for token with user, the body latchkey wrote
// for it, and /v1/forward-auth with identity, the header fields of
// latchkey's forward-auth answer, written as they are and with no body:
// what net/http itself leaves a forward-auth answer. Any other token gets
// a 401 with no body.
func Handler(token string, user []byte, identity http.Header) http.Handler {
	digest := sha256.Sum256([]byte(token))
	users := map[[32]byte][]byte{digest: user}
	identities := map[[32]byte]http.Header{digest: identity}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		d := sha256.Sum256([]byte(tok))
		if r.URL.Path == "/v1/forward-auth" {
			id, found := identities[d]
			if !ok || !found {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h := w.Header()
			for k, v := range id {
				h[k] = v
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		u, found := users[d]
		if !ok || !found {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(u)
	})
}
