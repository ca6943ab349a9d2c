// Package redistest connects tests to a real Redis: the shared one that
// LATCHKEY_TEST_REDIS_URL names, in a key namespace of each test's own, or
// a redis-server that the test starts, stops and restarts itself, over
// plain TCP or TLS, or a deployment of such servers: a Redis Cluster
// (StartCluster), or a master and replica under Sentinels
// (StartSentinel).
//
// Without the variable (or without redis-server on PATH) the tests that
// need it skip, with a message; under CI=true they fail instead, so that a
// CI job that forgot its Redis does not pass by testing nothing.
package redistest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey/tlstest"
)

// EnvURL names the variable that holds the shared test Redis's URL, such
// as redis://127.0.0.1:6379/0.
const EnvURL = "LATCHKEY_TEST_REDIS_URL"

// missing skips tb for want, or fails it under CI=true.
func missing(tb testing.TB, want string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s, which CI=true requires", want)
	}
	tb.Skipf("skipped: %s", want)
}

// URL returns the shared test Redis's URL, or skips tb when EnvURL is
// unset (fails it under CI=true).
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		missing(tb, "this test needs a real Redis: set "+EnvURL+" (e.g. redis://127.0.0.1:6379/0)")
	}
	return u
}

// Prefix returns a new random key prefix for tb, and removes every key
// under it when tb ends.
func Prefix(tb testing.TB, url string) string {
	tb.Helper()
	prefix := RandomPrefix()
	tb.Cleanup(func() {
		if err := Clean(url, prefix); err != nil {
			tb.Errorf("redistest: clean %s: %v", prefix, err)
		}
	})
	return prefix
}

// RandomPrefix returns a new random key prefix, and removes nothing: for
// a Redis of the test's own, which goes with the test.
func RandomPrefix() string {
	var b [8]byte
	rand.Read(b[:])
	return "latchkeytest:" + hex.EncodeToString(b[:]) + ":"
}

// Clean removes every key under prefix (SCAN and UNLINK).
func Clean(url, prefix string) error {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return err
	}
	c := goredis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// Client returns a client of its own on url, closed when tb ends.
func Client(tb testing.TB, url string) *goredis.Client {
	tb.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	c := goredis.NewClient(o)
	tb.Cleanup(func() { c.Close() })
	return c
}

// Server is a redis-server of the test's own, on a free port of
// 127.0.0.1, persisting nothing.
type Server struct {
	tb    testing.TB
	bin   string
	dir   string
	port  int
	cmd   *exec.Cmd
	ca    *tlstest.CA   // nil: plain TCP
	pair  tlstest.Pair  // the server's certificate, with ca
	conf  string        // a config file, first on the command line; "": none
	extra []string      // arguments after the usual ones, which they override
	out   *lockedBuffer // what the server printed
}

// StartServer starts a redis-server and stops it when tb ends. It skips
// tb when redis-server is not on PATH (fails it under CI=true).
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	s := newServer(tb, nil)
	s.Start()
	return s
}

// StartTLSServer is StartServer for a redis-server that speaks TLS only
// (no plain port), with a certificate of ca's for 127.0.0.1 and
// localhost, and no client certificates asked for: its URL is rediss://,
// and clients must trust ca.
func StartTLSServer(tb testing.TB, ca *tlstest.CA) *Server {
	tb.Helper()
	s := newServer(tb, ca)
	s.Start()
	return s
}

// newServer returns a server on a free port, with a directory of its own,
// not yet started, and stops it when tb ends.
func newServer(tb testing.TB, ca *tlstest.CA) *Server {
	tb.Helper()
	return newServerOn(tb, ca, freePorts(tb, 1)[0])
}

// newServerOn is newServer on port.
func newServerOn(tb testing.TB, ca *tlstest.CA, port int) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(tb, "this test starts and stops a Redis of its own: it needs redis-server on PATH")
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), port: port, ca: ca, out: &lockedBuffer{}}
	if ca != nil {
		s.pair = ca.Issue(tb, "127.0.0.1", "localhost")
	}
	tb.Cleanup(s.Kill)
	return s
}

// freePorts returns n distinct ports of 127.0.0.1 that were free a moment
// ago: all are held while they are chosen, so that the servers of one
// deployment do not draw the same port.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the server's URL, database 0: rediss:// for a TLS server.
func (s *Server) URL() string {
	scheme := "redis"
	if s.ca != nil {
		scheme = "rediss"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(s.port) + "/0"
}

// args are the server's command line: its config file if any, nothing
// persisted, the port plain or TLS, then its extra arguments.
func (s *Server) args() []string {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", "", "--loglevel", "warning")
	if s.ca == nil {
		args = append(args, "--port", strconv.Itoa(s.port))
	} else {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", s.pair.CertFile, "--tls-key-file", s.pair.KeyFile,
			"--tls-ca-cert-file", s.ca.File, "--tls-auth-clients", "no")
	}
	return append(args, s.extra...)
}

// options are those of a client of the server's, trusting its CA.
func (s *Server) options() *goredis.Options {
	o := &goredis.Options{Addr: s.Addr(), MaxRetries: -1}
	if s.ca != nil {
		o.TLSConfig = &tls.Config{RootCAs: s.ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	return o
}

// Client returns a client of the server's (trusting its CA), closed when
// tb ends.
func (s *Server) Client(tb testing.TB) *goredis.Client {
	c := goredis.NewClient(s.options())
	tb.Cleanup(func() { c.Close() })
	return c
}

// Start starts the server (again, on the same port) and waits until it
// answers.
func (s *Server) Start() {
	s.tb.Helper()
	s.launch()
	s.waitReady()
}

// launch starts the server's process, and does not wait for it.
func (s *Server) launch() {
	s.tb.Helper()
	if s.cmd != nil {
		s.tb.Fatal("redistest: server already running")
	}
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
}

// waitReady waits until the launched server answers PING.
func (s *Server) waitReady() {
	s.tb.Helper()
	c := goredis.NewClient(s.options())
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.tb.Fatalf("redistest: redis-server on port %d does not answer: %v\n%s", s.port, err, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	err := s.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.tb.Errorf("redistest: wait for redis-server: %v", err)
	}
	s.cmd = nil
}

// Pause stops the server's process without closing its connections
// (SIGSTOP), as a network partition would look: nothing answers, nothing
// fails.
func (s *Server) Pause() {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.tb.Fatalf("redistest: pause: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.tb.Fatalf("redistest: resume: %v", err)
	}
}

// lockedBuffer collects a server's output while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Output returns what the server has printed: its log.
func (s *Server) Output() string { return s.out.String() }

// outputs is the output of each of servers, under its name, for a
// failure message.
func outputs(servers ...*Server) string {
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "--- %s:\n%s", s, s.out.String())
	}
	return b.String()
}

// String names the server in test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server on port %d", s.port) }
