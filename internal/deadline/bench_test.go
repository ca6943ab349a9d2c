package deadline_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/deadline"
)

// BenchmarkServe serves keep-alive GETs over loopback TCP with no
// timeouts, with latchkey's timeouts on runtime timers, and with them swept.
func BenchmarkServe(b *testing.B) {
	for _, bc := range []struct {
		name     string
		timeouts bool
		swept    bool
	}{{"none", false, false}, {"timers", true, false}, {"swept", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var ln net.Listener = tcp
			if bc.swept {
				ln = deadline.NewListener(tcp, 0)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{"text/plain"}
				w.Write([]byte("ok\n"))
			}), ReadHeaderTimeout: 5 * time.Second}
			if bc.timeouts {
				srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 30*time.Second, 30*time.Second, 2*time.Minute
			}
			go srv.Serve(ln)
			defer srv.Close()
			c, err := net.Dial("tcp", tcp.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			get := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				var buf [8]byte
				resp.Body.Read(buf[:])
				resp.Body.Close()
			}
			get()
			b.ResetTimer()
			for range b.N {
				get()
			}
		})
	}
}
