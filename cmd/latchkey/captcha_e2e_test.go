package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// powEnv serves the built-in proof-of-work captcha on a fresh SQLite
// file, alice its one user, the replay claims in memory (the cache's
// default).
func powEnv(t *testing.T) []string {
	t.Helper()
	env := append(dbEnv(t), "LATCHKEY_CAPTCHA_PROVIDER=pow", "LATCHKEY_CAPTCHA_SECRET=an end-to-end secret of 32 bytes")
	addUser(t, env, "alice")
	return env
}

// challenge is one answer of GET /v1/captcha/challenge.
type challenge struct {
	status     int
	code       string // of an error
	retryAfter string
	solution   string // solved as the widget does, when status is 200
}

// challenge fetches a challenge, as the client forwardedFor names when it
// is not empty, and solves it.
func (p *proc) challenge(t *testing.T, forwardedFor string) challenge {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+"/v1/captcha/challenge", nil)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
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
	c := challenge{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After")}
	if res.StatusCode != http.StatusOK {
		var body struct{ Code string }
		json.Unmarshal(b, &body)
		c.code = body.Code
		return c
	}
	var ch struct {
		Algorithm, Challenge, Salt, Signature string
		MaxNumber                             int64
	}
	if err := json.Unmarshal(b, &ch); err != nil {
		t.Fatal(err)
	}
	for n := int64(0); n <= ch.MaxNumber; n++ {
		sum := sha256.Sum256([]byte(ch.Salt + strconv.FormatInt(n, 10)))
		if hex.EncodeToString(sum[:]) == ch.Challenge {
			b, _ := json.Marshal(map[string]any{"algorithm": ch.Algorithm, "challenge": ch.Challenge, "number": n, "salt": ch.Salt, "signature": ch.Signature})
			c.solution = base64.StdEncoding.EncodeToString(b)
			return c
		}
	}
	t.Fatalf("challenge %+v has no solution", ch)
	return c
}

// solved fetches and solves a challenge, which must be issued.
func (p *proc) solved(t *testing.T) string {
	t.Helper()
	c := p.challenge(t, "")
	if c.status != http.StatusOK {
		t.Fatalf("challenge: %d %s", c.status, c.code)
	}
	return c.solution
}

// loginWith logs alice in with a captcha solution, and returns the status
// and the error code.
func (p *proc) loginWith(t *testing.T, solution string) (int, any) {
	t.Helper()
	st, m := p.call(t, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": e2ePassword, "altcha": solution})
	return st, m["code"]
}

// stop ends p as a service manager does, and waits for it.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// topOfSecond waits for the next whole second of the wall clock, so that
// what follows at once happens within one second.
func topOfSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// TestEndToEndPoWRestart checks the proof-of-work captcha across a restart
// of a server whose replay claims are in memory: a challenge fetched the
// moment the server listens is good at once, and no solution to a
// challenge issued before the restart is accepted after it.
func TestEndToEndPoWRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := powEnv(t)
	// Started at the top of a second, the server issues its first
	// challenge in the second it started.
	topOfSecond()
	a := serve(t, env)
	if st, code := a.loginWith(t, a.solved(t)); st != http.StatusOK {
		t.Fatalf("login with a challenge fetched as the server started: %d %v\n%s", st, code, a.output())
	}

	// The restart follows the challenges within a second, as a restart
	// of the same second would.
	topOfSecond()
	used, unused := a.solved(t), a.solved(t)
	if st, code := a.loginWith(t, used); st != http.StatusOK {
		t.Fatalf("login before the restart: %d %v", st, code)
	}
	a.stop(t)
	b := serve(t, env)
	for name, solution := range map[string]string{"used": used, "unused": unused} {
		if st, code := b.loginWith(t, solution); st != http.StatusBadRequest || code != "captcha_invalid" {
			t.Errorf("a solution %s before the restart, after it: %d %v", name, st, code)
		}
	}
	if st, code := b.loginWith(t, b.solved(t)); st != http.StatusOK {
		t.Fatalf("login with a challenge fetched after the restart: %d %v\n%s", st, code, b.output())
	}
}

// challengeLimitEnv allows 3 challenges per client address, then one a
// minute.
var challengeLimitEnv = []string{"LATCHKEY_THROTTLE_CHALLENGE_RATE=1/1m", "LATCHKEY_THROTTLE_CHALLENGE_BURST=3"}

// wantThrottled checks that c is the refusal of a client past its share
// of challenges: told to come back within the minute the next one takes
// (less the time since the first was taken).
func wantThrottled(t *testing.T, c challenge, what string) {
	t.Helper()
	secs, err := strconv.Atoi(c.retryAfter)
	if c.status != http.StatusTooManyRequests || c.code != "throttled" || err != nil || secs < 1 || secs > 60 {
		t.Fatalf("%s: %d %s, Retry-After %q; want 429 throttled, Retry-After up to 60", what, c.status, c.code, c.retryAfter)
	}
}

// TestEndToEndChallengeLimit checks that GET /v1/captcha/challenge is
// limited per client address, the one the login throttle counts: behind a
// trusted proxy, the forwarded one.
func TestEndToEndChallengeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	env := append(powEnv(t), challengeLimitEnv...)
	p := serve(t, append(env, "LATCHKEY_TRUSTED_PROXIES=127.0.0.1/32"))
	for i := range 3 {
		if c := p.challenge(t, "198.51.100.1"); c.status != http.StatusOK {
			t.Fatalf("challenge %d: %d %s", i+1, c.status, c.code)
		}
	}
	wantThrottled(t, p.challenge(t, "198.51.100.1"), "the 4th challenge")
	if c := p.challenge(t, "198.51.100.2"); c.status != http.StatusOK {
		t.Fatalf("another client: %d %s", c.status, c.code)
	}
}

// TestMultiNodeChallengeLimit checks that two nodes on one Redis count one
// client's challenges together, and serve each other's challenges.
func TestMultiNodeChallengeLimit(t *testing.T) {
	needCluster(t)
	c := startCluster(t, 0)
	env := slices.Concat(c.env, []string{"LATCHKEY_CAPTCHA_PROVIDER=pow", "LATCHKEY_CAPTCHA_SECRET=a multi-node secret of 32 bytes"}, challengeLimitEnv)
	a, b := serve(t, env), serve(t, env)
	solution := a.solved(t)
	a.solved(t)
	b.solved(t)
	wantThrottled(t, a.challenge(t, ""), "the 4th challenge, on the first node")
	wantThrottled(t, b.challenge(t, ""), "the 4th challenge, on the second node")
	if st, code := b.loginWith(t, solution); st != http.StatusOK {
		t.Fatalf("login on one node with a challenge of the other: %d %v", st, code)
	}
}
