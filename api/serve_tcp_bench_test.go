package api_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/internal/bare"
	"github.com/latchkeyhq/latchkey/internal/deadline"
)

// BenchmarkServeTCP is BenchmarkServe's healthz, me and bare over a real
// loopback TCP connection, with the kernel's sockets, the netpoller and
// the connection's deadlines: latchkey's server has serve's timeouts on
// serve's swept listener (internal/deadline), the bare handler's server
// a read-header timeout only, as the bench serves them. Each iteration
// is the client's write of one request and its read of the answer, so
// the counts hold the client's share too, the same on every path: the
// difference between two paths is the servers'.
func BenchmarkServeTCP(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok, _ := e.login(b, "alice")
	meReq := "GET /v1/me HTTP/1.1\r\nHost: latchkey\r\nUser-Agent: bench\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
	me, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(serveConn(b, &http.Server{Handler: e.srv.Config.Handler}, meReq, 2, true))), nil)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(me.Body)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, req string
		bare      bool
	}{
		{"bare", meReq, true},
		{"healthz", "GET /healthz HTTP/1.1\r\nHost: latchkey\r\nUser-Agent: bench\r\n\r\n", false},
		{"me", meReq, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// A server of its own each time: b.Run calls this more than once.
			srv, ln := api.HTTPServer(e.srv.Config.Handler), net.Listener(nil)
			if bc.bare {
				srv = &http.Server{Handler: bare.Handler(tok, body, nil), ReadHeaderTimeout: 5 * time.Second}
			}
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln = deadline.NewListener(tcp, 0)
			if bc.bare {
				ln = tcp
			}
			go srv.Serve(ln)
			defer srv.Close()
			c, err := net.Dial("tcp", tcp.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte(bc.req)
			// The first answer is read as HTTP, to check it and to learn
			// its length, which every later one has (Date is of fixed
			// width): the client then reads exactly that.
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			var first bytes.Buffer
			res, err := http.ReadResponse(bufio.NewReader(io.TeeReader(c, &first)), nil)
			if err != nil || res.StatusCode != http.StatusOK {
				b.Fatalf("%s: %v %v", bc.name, res, err)
			}
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, first.Len())
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
