package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/api/openapitest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// The end-to-end tests run the real binary, as a user would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary the end-to-end tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binary builds latchkey once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "latchkey-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "latchkey")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cli runs one latchkey command to completion.
func cli(t testing.TB, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type proc struct {
	cmd    *exec.Cmd
	url    string       // http:// or https://, as the listening line says
	client *http.Client // nil: http.DefaultClient
	logs   *bytes.Buffer
	mu     *sync.Mutex
	broken []error // answers that break the OpenAPI document, under mu
	done   chan error
}

// serve starts `latchkey serve` on a free port and waits until it listens.
func serve(t testing.TB, env []string) *proc {
	t.Helper()
	return serveAt(t, env, "127.0.0.1:0")
}

// serveAt starts `latchkey serve` on listen (host:port) and waits until
// it listens.
func serveAt(t testing.TB, env []string, listen string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "--addr", listen, "--log-format", "json")
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.logs.Write(line)
			p.logs.WriteByte('\n')
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(line, &m) == nil && m["msg"] == "listening" {
				scheme, _ := m["scheme"].(string)
				addr <- scheme + "://" + m["addr"].(string)
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		p.failBroken(t)
	})
	select {
	case a := <-addr:
		p.url = a
	case err := <-p.done:
		p.done <- err // for the cleanup, which waits for it
		t.Fatalf("serve exited: %v\n%s", err, p.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not listen\n%s", p.output())
	}
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) call(t testing.TB, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := p.client
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.openapi(t).Check(t, req, res.StatusCode, res.Header, b)
	var m map[string]any
	json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// The OpenAPI document the built binary serves, fetched once: every
// answer of latchkey's routes the tests receive is held to it.
var (
	openapiMu  sync.Mutex
	openapiDoc *openapitest.Document
)

// openapi returns the document, fetched from p the first time.
func (p *proc) openapi(t testing.TB) *openapitest.Document {
	t.Helper()
	doc, err := p.document(p.client)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// document returns the document, fetched from p with c (p's client when
// nil) the first time.
func (p *proc) document(c *http.Client) (*openapitest.Document, error) {
	openapiMu.Lock()
	defer openapiMu.Unlock()
	if openapiDoc != nil {
		return openapiDoc, nil
	}
	if c == nil {
		c = p.client
	}
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Get(p.url + "/v1/openapi.json")
	if err != nil {
		return nil, fmt.Errorf("GET /v1/openapi.json: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/openapi.json: %d %v", res.StatusCode, err)
	}
	doc, err := openapitest.Parse(b)
	if err != nil {
		return nil, err
	}
	openapiDoc = doc
	return doc, nil
}

// validate holds an answer p gave to req, received with c, to the
// document, and records where it breaks it: the test that started p
// fails with the record when it ends. It never fails the test itself, so
// that helpers without one may call it from any goroutine; the helpers
// that have one call p.openapi(t).Check instead.
func (p *proc) validate(c *http.Client, req *http.Request, status int, header http.Header, body []byte) {
	doc, err := p.document(c)
	if err == nil {
		err = doc.Validate(req, status, header, body)
	}
	if err != nil {
		p.mu.Lock()
		p.broken = append(p.broken, err)
		p.mu.Unlock()
	}
}

// failBroken fails t with the answers validate recorded, the first few
// of them.
func (p *proc) failBroken(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, err := range p.broken {
		if i == 3 {
			t.Errorf("and %d more answers of %s break the OpenAPI document", len(p.broken)-i, p.url)
			break
		}
		t.Errorf("an answer of %s breaks the OpenAPI document: %v", p.url, err)
	}
}

func (p *proc) login(t testing.TB, user, pw string) string {
	t.Helper()
	st, m := p.call(t, "POST", "/v1/login", "", map[string]string{"username": user, "password": pw})
	if st != 200 {
		t.Fatalf("login %s: %d %v", user, st, m)
	}
	return m["token"].(string)
}

// refusedWithin polls GET /v1/me until the token is refused, failing if
// that takes longer than d.
func (p *proc) refusedWithin(t *testing.T, token string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st, m := p.call(t, "GET", "/v1/me", token, nil)
		if st == 401 {
			if m["code"] != "invalid_token" {
				t.Fatalf("refused with %v", m)
			}
			return time.Since(start)
		}
		if st != 200 {
			t.Fatalf("me: %d %v", st, m)
		}
		if time.Since(start) > d {
			t.Fatalf("token still accepted %v after its revocation", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	e2ePassword = "correct horse battery staple"
	e2eNewPass  = "a brand new passphrase"
)

func dbEnv(t testing.TB) []string {
	return []string{"LATCHKEY_DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "e2e.db")}
}

func addUser(t testing.TB, env []string, name string) {
	t.Helper()
	out, err := cli(t, env, e2ePassword+"\n", "user", "add", name, "--email", name+"@example.com", "--password-stdin")
	if err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := dbEnv(t)
	addUser(t, env, "alice")
	out, err := cli(t, env, "short\n", "user", "add", "bob", "--password-stdin")
	if err == nil || !strings.Contains(out, "password") {
		t.Fatalf("a short password was accepted: %v %s", err, out)
	}
	if out, err := cli(t, env, "", "user", "list"); err != nil || !strings.Contains(out, "alice") || strings.Contains(out, "bob") {
		t.Fatalf("user list: %v\n%s", err, out)
	}

	p := serve(t, env)
	tok := p.login(t, "alice", e2ePassword)
	if !strings.HasPrefix(tok, "lk_") {
		t.Fatalf("token %q", tok)
	}
	if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 200 || m["username"] != "alice" || m["last_login"] == nil {
		t.Fatalf("me: %d %v", st, m)
	}
	if st, m := p.call(t, "GET", "/v1/sessions", tok, nil); st != 200 || len(m["sessions"].([]any)) != 1 {
		t.Fatalf("sessions: %d %v", st, m)
	}
	st, m := p.call(t, "POST", "/v1/password", tok, map[string]string{"old_password": e2ePassword, "new_password": e2eNewPass})
	if st != 200 {
		t.Fatalf("password: %d %v", st, m)
	}
	newTok := m["token"].(string)
	if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 401 {
		t.Fatalf("old token after password change: %d", st)
	}
	if st, _ := p.call(t, "GET", "/v1/me", newTok, nil); st != 200 {
		t.Fatalf("new token: %d", st)
	}
	if st, _ := p.call(t, "POST", "/v1/logout", newTok, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := p.call(t, "GET", "/v1/me", newTok, nil); st != 401 {
		t.Fatalf("token after logout: %d", st)
	}

	// Revocation by a separate CLI process reaches the running server.
	tok = p.login(t, "alice", e2eNewPass)
	p.call(t, "GET", "/v1/me", tok, nil) // cached now
	if out, err := cli(t, env, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("disable: %v %s", err, out)
	}
	d := p.refusedWithin(t, tok, time.Second)
	t.Logf("CLI disable reached the server in %v", d)
	if st, _ := p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2eNewPass}); st != 401 {
		t.Fatalf("disabled user logged in: %d", st)
	}
	if out, err := cli(t, env, "", "user", "enable", "alice"); err != nil {
		t.Fatalf("enable: %v %s", err, out)
	}
	tok = p.login(t, "alice", e2eNewPass)
	p.call(t, "GET", "/v1/me", tok, nil)
	if out, err := cli(t, env, e2ePassword+"\n", "user", "passwd", "alice", "--password-stdin"); err != nil {
		t.Fatalf("passwd: %v %s", err, out)
	}
	p.refusedWithin(t, tok, time.Second)
	p.login(t, "alice", e2ePassword)

	// Graceful stop on SIGTERM.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.output())
		}
		p.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(p.output(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", p.output())
	}
	for _, secret := range []string{e2ePassword, e2eNewPass, tok[3:]} {
		if strings.Contains(p.output(), secret) {
			t.Fatal("a secret reached the log")
		}
	}
}

func TestEndToEndExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := dbEnv(t)
	addUser(t, env, "alice")
	p := serve(t, append(env, "LATCHKEY_TOKEN_TTL=2s"))
	tok := p.login(t, "alice", e2ePassword)
	if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
		t.Fatalf("fresh token: %d", st)
	}
	time.Sleep(2100 * time.Millisecond)
	if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 401 || m["code"] != "token_expired" {
		t.Fatalf("after the TTL: %d %v", st, m)
	}
	// The seconds alias works too.
	q := serve(t, append(env, "TOKEN_EXPIRY_IN_SECONDS=1"))
	tok = q.login(t, "alice", e2ePassword)
	_, m := q.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2ePassword})
	exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string))
	if d := time.Until(exp); d > time.Second || d < -time.Second {
		t.Fatalf("expires in %v with TOKEN_EXPIRY_IN_SECONDS=1", d)
	}
}

// TestEndToEndIdleTimeout runs two servers on one SQLite file with an
// idle timeout of 2 s: a token used every second, alternately on each,
// never idles out; unused, it is refused on both within one step (an
// eighth of the timeout for the last-use granularity, as much for the
// write period) after the timeout.
func TestEndToEndIdleTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const idle = 2 * time.Second
	env := append(dbEnv(t), "LATCHKEY_TOKEN_IDLE_TIMEOUT="+idle.String())
	addUser(t, env, "alice")
	a, b := serve(t, env), serve(t, env)
	tok := a.login(t, "alice", e2ePassword)
	for i := range 8 {
		time.Sleep(time.Second)
		p := []*proc{a, b}[i%2]
		if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
			t.Fatalf("use %d, %v after the previous one, on server %c: %d %v", i, time.Second, "ab"[i%2], st, m)
		}
	}
	time.Sleep(idle + idle/4 + 300*time.Millisecond)
	for _, p := range []*proc{a, b} {
		if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 401 || m["code"] != "token_expired" {
			t.Fatalf("idle past the timeout and a step: %d %v", st, m)
		}
	}
}

func TestEndToEndTwoServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := dbEnv(t)
	addUser(t, env, "alice")
	a, b := serve(t, env), serve(t, env)
	for _, scope := range []string{"local", "global"} {
		tok := a.login(t, "alice", e2ePassword)
		for _, p := range []*proc{a, b} {
			if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
				t.Fatalf("token on %s: %d", p.url, st)
			}
		}
		if st, _ := a.call(t, "POST", "/v1/logout?scope="+scope, tok, nil); st != 204 {
			t.Fatalf("logout: %d", st)
		}
		d := b.refusedWithin(t, tok, time.Second)
		t.Logf("logout (%s) on one server reached the other in %v", scope, d)
	}
}

// TestEndToEndNoStaleAnswer runs two servers on one SQLite file and, round
// after round, caches a token on both, revokes it on one (logout, session
// delete or password change) and asks both the moment the revocation has
// answered: neither may answer 200. It counts the late 200s (there must be
// none) and the revocations' latency.
func TestEndToEndNoStaleAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(dbEnv(t), throttleEnv...)
	addUser(t, env, "alice")
	nodes := []*proc{serve(t, env), serve(t, env)}
	const rounds = 30
	late := 0
	var took []time.Duration
	password := e2ePassword
	for i := range rounds {
		revoker, other := nodes[i%2], nodes[(i+1)%2]
		tok := revoker.login(t, "alice", password)
		for _, p := range nodes {
			if st, _ := p.call(t, "GET", "/v1/me", tok, nil); st != 200 {
				t.Fatalf("round %d: fresh token refused: %d", i, st)
			}
		}
		start := time.Now()
		switch i % 3 {
		case 0:
			if st, _ := revoker.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
				t.Fatalf("round %d: logout: %d", i, st)
			}
		case 1:
			helper := revoker.login(t, "alice", password)
			var sessions struct {
				Sessions []struct {
					ID      string `json:"id"`
					Current bool   `json:"current"`
				} `json:"sessions"`
			}
			getJSON(t, revoker, "/v1/sessions", tok, &sessions)
			id := ""
			for _, x := range sessions.Sessions {
				if x.Current {
					id = x.ID
				}
			}
			start = time.Now()
			if st, _ := revoker.call(t, "DELETE", "/v1/sessions/"+id, helper, nil); st != 204 {
				t.Fatalf("round %d: delete session: %d", i, st)
			}
		case 2:
			next := password + "!"
			if st, m := revoker.call(t, "POST", "/v1/password", tok, map[string]string{"old_password": password, "new_password": next}); st != 200 {
				t.Fatalf("round %d: password change: %d %v", i, st, m)
			}
			password = next
		}
		took = append(took, time.Since(start))
		// Both at once, the instant the revocation answered.
		var wg sync.WaitGroup
		codes := make([]int, len(nodes))
		for j, p := range []*proc{other, revoker} {
			wg.Go(func() { codes[j], _ = p.call(t, "GET", "/v1/me", tok, nil) })
		}
		wg.Wait()
		for j, st := range codes {
			if st == 200 {
				late++
				t.Errorf("round %d: %s answered 200 after the revocation returned", i, []string{"the other server", "the revoking server"}[j])
			}
		}
	}
	slices.Sort(took)
	t.Logf("two servers on one SQLite file, %d revocations: %d late 200s; revocation latency p50 %v, max %v",
		rounds, late, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// getJSON decodes the body of a GET.
func getJSON(t *testing.T, p *proc, path, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.openapi(t).Check(t, req, res.StatusCode, res.Header, b)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestServeHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, nil, io.Discard, &stderr)
	if err == nil {
		t.Fatal("--help did not stop")
	}
	for _, want := range []string{"LATCHKEY_ADDR", "127.0.0.1:8080", "LATCHKEY_DATABASE_URL", "sqlite:latchkey.db", "LATCHKEY_CACHE_URL", "LATCHKEY_TOKEN_TTL", "24h", "TOKEN_EXPIRY_IN_SECONDS", "LATCHKEY_TOKEN_IDLE_TIMEOUT", "LATCHKEY_PASSWORD_MIN_LENGTH"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestEndToEndPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	u, _ := pgtest.NewSchema(t)
	env := []string{"LATCHKEY_DATABASE_URL=" + u}
	addUser(t, env, "alice")
	a, b := serve(t, env), serve(t, env)
	tok := a.login(t, "alice", e2ePassword)
	for _, p := range []*proc{a, b} {
		if st, m := p.call(t, "GET", "/v1/me", tok, nil); st != 200 || m["username"] != "alice" {
			t.Fatalf("me on %s: %d %v", p.url, st, m)
		}
	}
	if st, _ := a.call(t, "POST", "/v1/logout", tok, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	t.Logf("logout on one server reached the other in %v", b.refusedWithin(t, tok, time.Second))
	tok = b.login(t, "alice", e2ePassword)
	a.call(t, "GET", "/v1/me", tok, nil)
	if out, err := cli(t, env, "", "user", "disable", "alice"); err != nil {
		t.Fatalf("disable: %v %s", err, out)
	}
	a.refusedWithin(t, tok, time.Second)
	b.refusedWithin(t, tok, time.Second)
}
