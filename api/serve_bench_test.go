package api_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/internal/bare"
	"github.com/latchkeyhq/latchkey/prom"
)

// BenchmarkServe runs requests through net/http's server as a client on a
// kept-alive connection sends them, but over an in-memory connection that
// hands the server the next request the moment it reads and discards what
// it writes: what each answer costs the server's process, parsing and
// writing included, without the kernel's sockets or a client's share of
// the CPU. The server has serve's timeouts. me-miss is /v1/me with the
// token's session dropped from the cache as each request reaches the
// handler: a miss on SQLite, and the fill, through the whole server.
func BenchmarkServe(b *testing.B) {
	for _, metrics := range []bool{false, true} {
		eo := envOptions{}
		suffix := ""
		if metrics {
			m := prom.New(prom.Options{})
			eo, suffix = envOptions{api: api.Options{Metrics: m}, metrics: m}, "-metrics"
		}
		e := newEnv(b, eo)
		tok, _ := e.login(b, "alice")
		// A miss: the token's session is dropped from the cache as each
		// request reaches the handler, so that each is checked on SQLite
		// and fills the cache again.
		miss := func() {
			e.cache.Invalidate(context.Background(), latchkey.Invalidation{Sessions: []latchkey.Digest{latchkey.Token(tok).Digest()}})
		}
		meReq := "GET /v1/me HTTP/1.1\r\nHost: latchkey\r\nUser-Agent: bench\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
		faReq := "GET /v1/forward-auth HTTP/1.1\r\nHost: latchkey\r\nUser-Agent: bench\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
		if !metrics {
			benchBare(b, e.srv.Config.Handler, tok, meReq, faReq)
		}
		for _, bc := range []struct {
			name, req string
			before    func()
		}{
			{"healthz", "GET /healthz HTTP/1.1\r\nHost: latchkey\r\nUser-Agent: bench\r\n\r\n", nil},
			{"me", meReq, nil},
			{"forward-auth", faReq, nil},
			{"me-miss", meReq, miss},
		} {
			if bc.before != nil && metrics {
				continue
			}
			b.Run(bc.name+suffix, func(b *testing.B) {
				h := e.srv.Config.Handler
				if bc.before != nil {
					h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						bc.before()
						e.srv.Config.Handler.ServeHTTP(w, r)
					})
				}
				srv := api.HTTPServer(h)
				// One answer first, to check that it is a 200; of two, so
				// that the server's read of the next request finds one and
				// does not cancel the first's context at the end of input.
				first := serveConn(b, srv, bc.req, 2, true)
				res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(first)), nil)
				if err != nil || res.StatusCode != http.StatusOK {
					b.Fatalf("%s: %v %v\n%s", bc.name, res, err, first)
				}
				b.ReportAllocs()
				b.ResetTimer()
				serveConn(b, srv, bc.req, b.N, false)
			})
		}
	}
}

// benchBare serves the bench's bare handler (internal/bare), with the
// body of latchkey's /v1/me answer and the header fields of its
// forward-auth answer, from a server with only a read-header timeout, as
// the bench serves it: bare and bare-forward-auth, the machine's limit
// beside me and forward-auth.
func benchBare(b *testing.B, latchkeyHandler http.Handler, tok, meReq, faReq string) {
	srv := &http.Server{Handler: latchkeyHandler}
	me, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(serveConn(b, srv, meReq, 2, true))), nil)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(me.Body)
	if err != nil {
		b.Fatal(err)
	}
	fa, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(serveConn(b, srv, faReq, 2, true))), nil)
	if err != nil {
		b.Fatal(err)
	}
	identity := fa.Header.Clone()
	identity.Del("Date")
	identity.Del("Content-Length")
	bareSrv := &http.Server{Handler: bare.Handler(tok, body, identity), ReadHeaderTimeout: 5 * time.Second}
	for _, bc := range []struct{ name, req string }{{"bare", meReq}, {"bare-forward-auth", faReq}} {
		b.Run(bc.name, func(b *testing.B) {
			first := serveConn(b, bareSrv, bc.req, 2, true)
			res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(first)), nil)
			if err != nil || res.StatusCode != http.StatusOK {
				b.Fatalf("%s: %v %v\n%s", bc.name, res, err, first)
			}
			b.ReportAllocs()
			b.ResetTimer()
			serveConn(b, bareSrv, bc.req, b.N, false)
		})
	}
}

// serveConn has srv serve n copies of req on one connection and returns
// what it wrote when keep is set.
func serveConn(b *testing.B, srv *http.Server, req string, n int, keep bool) []byte {
	c := &pipeConn{req: []byte(req), left: n, closed: make(chan struct{})}
	if keep {
		c.out = new(bytes.Buffer)
	}
	l := &oneListener{conn: c, done: make(chan struct{})}
	go srv.Serve(l)
	<-c.closed
	l.Close()
	if c.out != nil {
		return c.out.Bytes()
	}
	return nil
}

// pipeConn gives the server req, left times, one per Read once the
// previous answer was written, so that the server never waits on it.
type pipeConn struct {
	req    []byte
	left   int
	pos    int
	out    *bytes.Buffer
	once   sync.Once
	closed chan struct{}
}

func (c *pipeConn) Read(p []byte) (int, error) {
	if c.pos == len(c.req) {
		if c.left == 0 {
			return 0, io.EOF
		}
		c.pos = 0
	}
	if c.pos == 0 {
		c.left--
	}
	n := copy(p, c.req[c.pos:])
	c.pos += n
	return n, nil
}

func (c *pipeConn) Write(p []byte) (int, error) {
	if c.out != nil {
		c.out.Write(p)
	}
	return len(p), nil
}

func (c *pipeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *pipeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }
func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// oneListener accepts its one connection, then blocks until closed.
type oneListener struct {
	conn     net.Conn
	accepted bool
	done     chan struct{}
	once     sync.Once
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneListener) Addr() net.Addr { return l.conn.LocalAddr() }
