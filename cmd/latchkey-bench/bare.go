package main

import (
	"crypto/sha256"
	"net"
	"net/http"
	"strings"
	"time"
)

// bareServer serves, on a loopback port of this process, the least a
// token check over HTTP can be: net/http with a handler that takes the
// bearer token, hashes it with SHA-256 and looks the digest up in a map.
// At me it writes the user found there as JSON: the machine's limit for
// GET /v1/me. At forwardAuth it answers as /v1/forward-auth does, with
// the same header fields and no body: what net/http itself leaves a
// forward-auth answer. Both are measured in the same rounds as latchkey;
// this process is otherwise idle while wrk runs.
type bareServer struct {
	me, forwardAuth string // URLs
	stop            func()
}

// startBare serves token's user (user, the body) and identity (the header
// fields of latchkey's forward-auth answer, written as they are).
func startBare(token string, user []byte, identity http.Header) (*bareServer, error) {
	digest := sha256.Sum256([]byte(token))
	users := map[[32]byte][]byte{digest: user}
	identities := map[[32]byte]http.Header{digest: identity}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	base := "http://" + ln.Addr().String()
	return &bareServer{me: base + "/v1/me", forwardAuth: base + "/v1/forward-auth", stop: func() { srv.Close() }}, nil
}
