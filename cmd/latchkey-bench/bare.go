package main

import (
	"crypto/sha256"
	"net"
	"net/http"
	"strings"
	"time"
)

// startBare serves, on a loopback port of this process, the least a
// token check over HTTP can be: net/http with a handler that takes the
// bearer token, hashes it with SHA-256, looks the digest up in a map and
// writes the user found there as JSON. It is the machine's limit for
// GET /v1/me, measured in the same rounds as latchkey. This process is
// otherwise idle while wrk runs.
func startBare(token string, user []byte) (url string, stop func(), err error) {
	users := map[[32]byte][]byte{sha256.Sum256([]byte(token)): user}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		u, found := users[sha256.Sum256([]byte(tok))]
		if !ok || !found {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(u)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/v1/me", func() { srv.Close() }, nil
}
