package main

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// tcpProxy forwards a loopback port to a target, and can cut every
// connection and refuse new ones, as a database outage does.
type tcpProxy struct {
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// cut closes the listener and every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens again on the same address.
func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// TestDatabaseOutage cuts the PostgreSQL connection under a running
// server: logins answer 503 with Retry-After, /readyz is not ready, a
// cached token is honoured no longer than the maximum staleness, and all
// recovers by itself when the database is back.
func TestDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL, _ := pgtest.NewSchema(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	env := []string{"LATCHKEY_DATABASE_URL=" + u.String(), "LATCHKEY_CACHE_MAX_STALENESS=3s"}
	addUser(t, env, "alice")
	p := serve(t, env)
	tok := p.login(t, "alice", e2ePassword)
	if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
		t.Fatalf("me: %d", st)
	}

	proxy.cut()
	cutAt := time.Now()
	st, m := p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2ePassword})
	if st != 503 {
		t.Fatalf("login with the database down: %d %v", st, m)
	}
	if st, _ := p.call(t, "GET", "/readyz", "", nil); st != 503 {
		t.Fatalf("readyz with the database down: %d", st)
	}
	// The cached token is honoured at most the maximum staleness (3s)
	// after the change feed was last read, then refused.
	var lastOK time.Duration
	for time.Since(cutAt) < 6*time.Second {
		st, m := p.call(t, "GET", "/v1/me", tok, nil)
		switch st {
		case 200:
			lastOK = time.Since(cutAt)
		case 503:
			if m["code"] != "unavailable" {
				t.Fatalf("refused with %v", m)
			}
		default:
			t.Fatalf("me during the outage: %d %v", st, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lastOK > 3*time.Second+500*time.Millisecond {
		t.Fatalf("cached token honoured %v into the outage, past the 3s maximum staleness", lastOK)
	}
	t.Logf("cached token honoured until %v into the outage", lastOK)

	proxy.restore(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _ := p.call(t, "GET", "/readyz", "", nil)
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready 15s after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
		t.Fatalf("token after recovery: %d", st)
	}
	p.login(t, "alice", e2ePassword)
	if strings.Contains(p.output(), e2ePassword) {
		t.Fatal("the password reached the log")
	}
}
