package main

import (
	"net"
	"net/http"
	"time"

	"github.com/latchkeyhq/latchkey/internal/bare"
)

// bareServer serves, on a loopback port of this process, the least a
// token check over HTTP can be (package bare). At me it writes the user
// found there as JSON: the machine's limit for GET /v1/me. At forwardAuth
// it answers as /v1/forward-auth does, with the same header fields and no
// body: what net/http itself leaves a forward-auth answer. Both are
// measured in the same rounds as latchkey; this process is otherwise idle
// while wrk runs.
type bareServer struct {
	me, forwardAuth string // URLs
	stop            func()
}

// startBare serves token's user (user, the body) and identity (the header
// fields of latchkey's forward-auth answer, written as they are).
func startBare(token string, user []byte, identity http.Header) (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: bare.Handler(token, user, identity), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	base := "http://" + ln.Addr().String()
	return &bareServer{me: base + "/v1/me", forwardAuth: base + "/v1/forward-auth", stop: func() { srv.Close() }}, nil
}
