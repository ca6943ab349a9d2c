package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/tlstest"
)

// install writes a certificate and key where serve reads them, each file
// replaced whole (written aside, then renamed), as a renewal tool does.
func install(t *testing.T, certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	for _, f := range []struct {
		name string
		data []byte
	}{{certFile, certPEM}, {keyFile, keyPEM}} {
		tmp := f.name + ".new"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeyPair(t *testing.T) {
	ca := tlstest.NewCA(t)
	a, b := ca.Issue(t, "127.0.0.1"), ca.Issue(t, "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install(t, certFile, keyFile, a.CertPEM, a.KeyPEM)
	k, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("loadKeyPair: %v", err)
	}
	served := func() *x509.Certificate {
		t.Helper()
		c, err := k.getCertificate(&tls.ClientHelloInfo{})
		if err != nil || c == nil {
			t.Fatalf("getCertificate: %v, %v", c, err)
		}
		return c.Leaf
	}
	if !served().Equal(a.Cert) {
		t.Fatal("the loaded pair is not served")
	}
	if cfg := k.config(); cfg.MinVersion != tls.VersionTLS12 || cfg.Certificates != nil || cfg.CipherSuites != nil {
		t.Errorf("config: MinVersion %x, %d certificates, cipher suites %v", cfg.MinVersion, len(cfg.Certificates), cfg.CipherSuites)
	}

	// Each failed reload keeps what is served.
	for _, tt := range []struct {
		name          string
		certPEM, key  []byte
		wantErrSubstr string
	}{
		{"key of another certificate", b.CertPEM, a.KeyPEM, "private key does not match public key"},
		{"no key", b.CertPEM, nil, "failed to find any PEM data in key input"},
		{"not PEM", []byte("renewal in progress"), b.KeyPEM, "failed to find any PEM data in certificate input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			install(t, certFile, keyFile, tt.certPEM, tt.key)
			_, err := k.reload()
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) || !strings.Contains(err.Error(), certFile) {
				t.Fatalf("reload: %v, want an error naming %s and saying %q", err, certFile, tt.wantErrSubstr)
			}
			if !served().Equal(a.Cert) {
				t.Fatal("a failed reload changed the served certificate")
			}
			if _, err := loadKeyPair(certFile, keyFile); err == nil {
				t.Fatal("loadKeyPair accepted what reload refused")
			}
		})
	}
	os.Remove(keyFile)
	if _, err := k.reload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reload without a key file: %v", err)
	}

	install(t, certFile, keyFile, b.CertPEM, b.KeyPEM)
	leaf, err := k.reload()
	if err != nil || !leaf.Equal(b.Cert) || !served().Equal(b.Cert) {
		t.Fatalf("reload of a good pair: %v; new pair served: %v", err, served().Equal(b.Cert))
	}
}

func TestServerLog(t *testing.T) {
	var buf lockedBuffer
	l := serverLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})))
	l.Print("http: TLS handshake error from 192.0.2.1:4242: EOF")
	l.Print("http: Accept error: too many open files; retrying in 5ms")
	want := `{"level":"DEBUG","msg":"http: TLS handshake error from 192.0.2.1:4242: EOF"}
{"level":"WARN","msg":"http: Accept error: too many open files; retrying in 5ms"}
`
	if buf.String() != want {
		t.Fatalf("got\n%swant\n%s", buf.String(), want)
	}
}

// TestOnHangup: one log line per SIGHUP, whether it reloads, fails to, or
// has nothing to reload.
func TestOnHangup(t *testing.T) {
	ca := tlstest.NewCA(t)
	a := ca.Issue(t, "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install(t, certFile, keyFile, a.CertPEM, a.KeyPEM)
	k, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pair *keyPair
		prep func()
		want string
	}{
		{"plain HTTP", nil, func() {}, "nothing to reload"},
		{"good pair", k, func() {}, "TLS certificate reloaded"},
		{"broken pair", k, func() { os.WriteFile(keyFile, []byte("x"), 0o600) }, "TLS certificate not reloaded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.prep()
			var buf lockedBuffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))
			hup := make(chan os.Signal)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { onHangup(ctx, hup, tt.pair, log); close(done) }()
			hup <- syscall.SIGHUP
			hup <- syscall.SIGHUP // the first one is handled once this is received
			cancel()
			<-done
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 || !strings.Contains(lines[0], tt.want) || lines[0] != lines[1] {
				t.Fatalf("want two lines %q, got:\n%s", tt.want, buf.String())
			}
		})
	}
}

// dropTime leaves the time out of log lines, so that two of them compare.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// lockedBuffer is a bytes.Buffer that a log may write while a test reads.
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

// serveFails runs `latchkey serve` expecting it to refuse its settings,
// and returns its output and exit status.
func serveFails(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ctx.Err() != nil {
		t.Fatalf("serve %q did not refuse its settings: %v\n%s", args, err, out)
	}
	return string(out), ee.ExitCode()
}

func TestEndToEndTLSSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ca := tlstest.NewCA(t)
	a, b := ca.Issue(t, "127.0.0.1"), ca.Issue(t, "127.0.0.1")
	env := dbEnv(t)
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"certificate alone", env, []string{"--tls-cert-file", a.CertFile}, 2,
			"tls-cert-file and tls-key-file go together"},
		{"key alone", append(env, "LATCHKEY_TLS_KEY_FILE="+a.KeyFile), nil, 2,
			"tls-cert-file and tls-key-file go together"},
		{"key of another certificate", env, []string{"--tls-cert-file", a.CertFile, "--tls-key-file", b.KeyFile}, 1,
			"tls-cert-file " + a.CertFile + ", tls-key-file " + b.KeyFile + ": tls: private key does not match public key"},
		{"no such file", append(env, "LATCHKEY_TLS_CERT_FILE=/nonexistent/cert.pem", "LATCHKEY_TLS_KEY_FILE="+a.KeyFile), nil, 1,
			"open /nonexistent/cert.pem: no such file or directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, code := serveFails(t, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
}

// tlsClient trusts ca alone, and speaks HTTP/2 where the server offers it.
func tlsClient(t *testing.T, ca *tlstest.CA) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// keptConn is one HTTP/1.1 connection over TLS to p, kept open across
// requests.
type keptConn struct {
	p    *proc
	conn *tls.Conn
	r    *bufio.Reader
}

func dialKept(t *testing.T, p *proc, addr string, ca *tlstest.CA) *keptConn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keptConn{p: p, conn: conn, r: bufio.NewReader(conn)}
}

// me sends GET /v1/me on the connection and returns the status.
func (k *keptConn) me(t *testing.T, token string) int {
	t.Helper()
	k.conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(k.conn, "GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", token)
	res, err := http.ReadResponse(k.r, nil)
	if err != nil {
		t.Fatalf("GET /v1/me on the kept connection: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("GET /v1/me on the kept connection: %v", err)
	}
	// The request as written above, for the document's routes.
	req, _ := http.NewRequest("GET", k.p.url+"/v1/me", nil)
	k.p.openapi(t).Check(t, req, res.StatusCode, res.Header, b)
	if res.Close {
		t.Fatal("the server closes the kept connection")
	}
	return res.StatusCode
}

// peerCert is the certificate a new connection to addr is shown.
func peerCert(t *testing.T, addr string, ca *tlstest.CA) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// waitLog waits until the server has logged msg n times in all.
func (p *proc) waitLog(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.output(), `"msg":"`+msg+`"`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", msg, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEndToEndHTTPS serves HTTPS from the binary with a certificate of the
// test's own CA, then renews the certificate on disk and sends SIGHUP, as
// an operator (or certbot's deploy hook) would.
func TestEndToEndHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ca := tlstest.NewCA(t)
	first, second := ca.Issue(t, "127.0.0.1", "localhost"), ca.Issue(t, "127.0.0.1", "localhost")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install(t, certFile, keyFile, first.CertPEM, first.KeyPEM)
	env := dbEnv(t)
	addUser(t, env, "alice")
	p := serve(t, append(env, "LATCHKEY_TLS_CERT_FILE="+certFile, "LATCHKEY_TLS_KEY_FILE="+keyFile))
	addr, ok := strings.CutPrefix(p.url, "https://")
	if !ok {
		t.Fatalf("serve listens on %s, want https://", p.url)
	}
	p.client = tlsClient(t, ca)

	tok := p.login(t, "alice", e2ePassword)
	req, _ := http.NewRequest("GET", p.url+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.openapi(t).Check(t, req, res.StatusCode, res.Header, b)
	var me map[string]any
	json.Unmarshal(b, &me)
	if res.StatusCode != 200 || me["username"] != "alice" {
		t.Fatalf("GET /v1/me over TLS: %d %v", res.StatusCode, me)
	}
	if res.ProtoMajor != 2 || res.TLS.Version != tls.VersionTLS13 || !res.TLS.PeerCertificates[0].Equal(first.Cert) {
		t.Errorf("GET /v1/me over %s, TLS %x, certificate %v; want HTTP/2, TLS 1.3, the installed certificate",
			res.Proto, res.TLS.Version, res.TLS.PeerCertificates[0].Subject)
	}

	t.Run("plain HTTP refused", func(t *testing.T) {
		res, err := http.Get("http://" + addr + "/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS server") {
			t.Fatalf("plain HTTP: %d %q", res.StatusCode, body)
		}
	})
	t.Run("TLS 1.1 refused, 1.2 accepted", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
		if conn, err := tls.Dial("tcp", addr, cfg); err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("TLS 1.1 refused with %v, want a protocol version alert", err)
		}
		cfg.MaxVersion = tls.VersionTLS12
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatalf("TLS 1.2: %v", err)
		}
		conn.Close()
	})

	kept := dialKept(t, p, addr, ca)
	if st := kept.me(t, tok); st != 200 {
		t.Fatalf("GET /v1/me on a kept connection: %d", st)
	}

	// A renewal caught half way (the new certificate beside the old key)
	// is refused, logged once, and the current pair stays.
	install(t, certFile, keyFile, second.CertPEM, first.KeyPEM)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "TLS certificate not reloaded; the current one stays", 1)
	if !peerCert(t, addr, ca).Equal(first.Cert) {
		t.Fatal("a failed reload changed the certificate")
	}
	if !strings.Contains(p.output(), "private key does not match public key") {
		t.Errorf("the failed reload does not say why:\n%s", p.output())
	}

	install(t, certFile, keyFile, second.CertPEM, second.KeyPEM)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "TLS certificate reloaded", 1)
	if !peerCert(t, addr, ca).Equal(second.Cert) {
		t.Fatal("a new connection is not shown the reloaded certificate")
	}
	if st := kept.me(t, tok); st != 200 {
		t.Fatalf("GET /v1/me on the connection kept across the reload: %d", st)
	}
	if !kept.conn.ConnectionState().PeerCertificates[0].Equal(first.Cert) {
		t.Fatal("the kept connection changed certificates")
	}
	if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
		t.Fatalf("GET /v1/me after the reload: %d %v", st, m)
	}
	if n := strings.Count(p.output(), "TLS certificate not reloaded"); n != 1 {
		t.Errorf("the failed reload was logged %d times, want once", n)
	}
	if strings.Contains(p.output(), "handshake error") {
		t.Errorf("failed handshakes (plain HTTP, TLS 1.1) logged above debug:\n%s", p.output())
	}
	select {
	case err := <-p.done:
		t.Fatalf("serve exited: %v", err)
	default:
	}
}

// TestEndToEndHangupPlainHTTP: serve without TLS takes SIGHUP too, and
// keeps serving (the default action would end it).
func TestEndToEndHangupPlainHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := serve(t, dbEnv(t))
	for i := 1; i <= 2; i++ {
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog(t, "SIGHUP: not serving TLS, nothing to reload", i)
	}
	if st, _ := p.call(t, "GET", "/healthz", "", nil); st != 200 {
		t.Fatalf("healthz after SIGHUP: %d", st)
	}
	select {
	case err := <-p.done:
		t.Fatalf("serve exited on SIGHUP: %v\n%s", err, p.output())
	default:
	}
}

// TestEndToEndTLSBackends runs two nodes on rediss:// and PostgreSQL's
// sslmode=verify-full, both servers of the test's own with certificates
// of its CA, which the nodes are given as an operator would: SSL_CERT_FILE
// for Redis (go-redis verifies rediss:// against the system's roots, and
// Go reads them from SSL_CERT_FILE too), sslrootcert in the database URL
// for PostgreSQL.
func TestEndToEndTLSBackends(t *testing.T) {
	needCluster(t)
	ca := tlstest.NewCA(t)
	pg := pgtest.StartTLSServer(t, ca)
	rd := redistest.StartTLSServer(t, ca)
	env := []string{"LATCHKEY_DATABASE_URL=" + pg.URL(), "LATCHKEY_CACHE_URL=" + rd.URL(), "SSL_CERT_FILE=" + ca.File}
	addUser(t, env, "alice")
	a, b := serve(t, env), serve(t, env)

	tok := a.login(t, "alice", e2ePassword)
	for _, p := range []*proc{a, b} {
		if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 200 || m["username"] != "alice" {
			t.Fatalf("me on %s: %d %v", p.url, st, m)
		}
	}
	// The session reached Redis: the cache does go over TLS.
	if keys, err := rd.Client(t).Keys(t.Context(), "latchkey:*").Result(); err != nil || len(keys) == 0 {
		t.Fatalf("no latchkey keys in Redis: %v, %v", keys, err)
	}
	if st, _ := b.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	a.refusedWithin(t, tok, time.Second)

	// A revocation by the CLI, over the same TLS connections.
	tok = b.login(t, "alice", e2ePassword)
	a.call(t, "GET", "/v1/me", tok, nil)
	if out, err := cli(t, env, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("disable: %v %s", err, out)
	}
	a.refusedWithin(t, tok, time.Second)
	b.refusedWithin(t, tok, time.Second)
	for _, p := range []*proc{a, b} {
		for _, outage := range []string{"redis cache unavailable", "invalidations from Redis not received"} {
			if strings.Contains(p.output(), outage) {
				t.Fatalf("a node logged a Redis outage:\n%s", p.output())
			}
		}
	}
	if out, err := cli(t, env, "", "user", "enable", "alice"); err != nil {
		t.Fatalf("enable: %v %s", err, out)
	}

	t.Run("CA from SSL_CERT_FILE", func(t *testing.T) {
		// verify-full without sslrootcert checks against the system's
		// roots: SSL_CERT_FILE serves PostgreSQL as well.
		u := pg.URLWith("127.0.0.1", "sslmode=verify-full")
		out, err := cli(t, []string{"LATCHKEY_DATABASE_URL=" + u, "SSL_CERT_FILE=" + ca.File}, "", "user", "list")
		if err != nil || !strings.Contains(out, "alice") {
			t.Fatalf("user list: %v\n%s", err, out)
		}
		out, err = cli(t, []string{"LATCHKEY_DATABASE_URL=" + u}, "", "user", "list")
		if err == nil || !strings.Contains(out, "certificate signed by unknown authority") {
			t.Fatalf("user list without the CA: %v\n%s", err, out)
		}
	})
	t.Run("Redis without the CA", func(t *testing.T) {
		// A node that does not trust Redis's certificate runs on
		// PostgreSQL alone, and says why.
		p := serve(t, []string{"LATCHKEY_DATABASE_URL=" + pg.URL(), "LATCHKEY_CACHE_URL=" + rd.URL()})
		tok := p.login(t, "alice", e2ePassword)
		if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
			t.Fatalf("me: %d", st)
		}
		p.waitLog(t, "redis cache unavailable; requests fall back to the store", 1)
		if !strings.Contains(p.output(), "certificate signed by unknown authority") {
			t.Fatalf("the outage does not say why:\n%s", p.output())
		}
	})
}
