package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/redis/redistest"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// The multi-node tests run several `latchkey serve` processes on one
// PostgreSQL and one Redis, as a deployment behind a load balancer would.

// throttleEnv lifts the login throttle, which counts per client address:
// every login here comes from 127.0.0.1.
var throttleEnv = []string{"LATCHKEY_THROTTLE_IP_RATE=1000/1s", "LATCHKEY_THROTTLE_IP_BURST=1000"}

// needCluster skips t unless PostgreSQL and Redis tests are enabled (and
// fails it under CI=true when they are not).
func needCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary, on PostgreSQL and Redis")
	}
	pgtest.ServerURL(t)
	// The test kills and restarts a redis-server of its own, never the
	// shared one; the shared one's variable is what enables Redis tests.
	redistest.URL(t)
}

// cluster is n serve processes on one PostgreSQL schema and one
// redis-server, both the test's own, with alice as a user.
type cluster struct {
	env      []string
	redis    *redistest.Server
	nodes    []*proc
	client   *http.Client
	password string // alice's, as of now
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	pgURL, _ := pgtest.NewSchema(t)
	srv := redistest.StartServer(t)
	env := append([]string{"LATCHKEY_DATABASE_URL=" + pgURL, "LATCHKEY_CACHE_URL=" + srv.URL()}, throttleEnv...)
	addUser(t, env, "alice")
	c := &cluster{env: env, redis: srv, client: newClient(t), password: e2ePassword}
	for range n {
		c.nodes = append(c.nodes, serve(t, env))
	}
	return c
}

// newClient returns an HTTP client that keeps enough connections to each
// node alive for the pollers, and bounds every request.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
	}
	t.Cleanup(tr.CloseIdleConnections)
	// Generous: the change feed's advisory lock is per database, so an
	// import in another test's schema can hold up logins for seconds.
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// answer is one request's outcome. request never fails the test, so that
// pollers may run it off the test's goroutine: an answer that breaks the
// OpenAPI document fails the test that started its node when it ends.
type answer struct {
	status     int
	body       map[string]any
	start, end time.Time
	err        error
}

func (a answer) code() string {
	s, _ := a.body["code"].(string)
	return s
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %v", a.status, a.body)
}

// refused reports a 401 invalid_token: the answer to a revoked token.
func (a answer) refused() bool {
	return a.status == http.StatusUnauthorized && a.code() == "invalid_token"
}

// request sends one request to p and returns its answer, held to the
// OpenAPI document (proc.validate) once its end is taken: the check's
// time is not the server's.
func request(c *http.Client, p *proc, method, path, token string, body any) answer {
	a, req, header, raw := exchange(c, p, method, path, token, body)
	if a.err == nil {
		p.validate(c, req, a.status, header, raw)
	}
	return a
}

// uncheckedRequest is request without the check, for the measured runs
// of a throughput measurement: the client shares the cores with the
// servers, and the check would cost a third of the requests a second it
// measures. The same requests are checked in its warm-up.
func uncheckedRequest(c *http.Client, p *proc, method, path, token string, body any) answer {
	a, _, _, _ := exchange(c, p, method, path, token, body)
	return a
}

// exchange sends one request to p and returns its answer, with the
// request, the answer's header and its body as received.
func exchange(c *http.Client, p *proc, method, path, token string, body any) (answer, *http.Request, http.Header, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		return answer{err: err}, nil, nil, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	a := answer{start: time.Now()}
	res, err := c.Do(req)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a, req, nil, nil
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	a.end = time.Now()
	if err != nil {
		a.err = err // an answer cut short is no answer
		return a, req, nil, nil
	}
	a.status = res.StatusCode
	json.Unmarshal(b, &a.body)
	return a, req, res.Header, b
}

// issued is a token and its session id.
type issued struct{ token, session string }

func (c *cluster) login(t *testing.T, p *proc) issued {
	t.Helper()
	a := request(c.client, p, "POST", "/v1/login", "", map[string]string{"username": "alice", "password": c.password})
	if a.err != nil {
		t.Fatalf("login on %s: %v\n%s", p.url, a, p.stacks())
	}
	if a.status != http.StatusOK {
		t.Fatalf("login on %s: %v", p.url, a)
	}
	return issued{token: a.body["token"].(string), session: a.body["session_id"].(string)}
}

// stacks ends p with SIGQUIT and returns its log, which then holds every
// goroutine's stack: what a request that timed out was waiting for.
func (p *proc) stacks() string {
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case err := <-p.done:
		p.done <- err // for serve's cleanup
	case <-time.After(5 * time.Second):
	}
	return p.output()
}

// accepted fails t unless every node answers GET /v1/me with 200 for token.
func (c *cluster) accepted(t *testing.T, token string, nodes ...*proc) {
	t.Helper()
	for _, p := range nodes {
		if a := request(c.client, p, "GET", "/v1/me", token, nil); a.status != http.StatusOK || a.body["username"] != "alice" {
			t.Fatalf("me on %s: %v", p.url, a)
		}
	}
}

// poll is what polling one node until it refused a token found.
type poll struct {
	refused time.Time // end of the first refusing answer
	sent    time.Time // when its request was sent
	first   bool      // the first answer already refused
	stale   int       // 200s, each to a request started after the revocation
	n       int       // requests made
	err     error
}

// pollRefused asks p for GET /v1/me with token as fast as it answers,
// until p refuses it or bound has passed.
func pollRefused(c *http.Client, p *proc, token string, bound time.Duration) poll {
	deadline := time.Now().Add(bound)
	var r poll
	for {
		a := request(c, p, "GET", "/v1/me", token, nil)
		r.n++
		switch {
		case a.refused():
			r.refused, r.sent, r.first = a.end, a.start, r.stale == 0
			return r
		case a.status == http.StatusOK:
			r.stale++
		default:
			r.err = fmt.Errorf("%s: %v", p.url, a)
			return r
		}
		if time.Now().After(deadline) {
			r.err = fmt.Errorf("%s still accepts the token %v after its revocation (%d answers of 200)", p.url, bound, r.stale)
			return r
		}
	}
}

// pollAll runs pollRefused on every node at once.
func pollAll(c *http.Client, nodes []*proc, token string, bound time.Duration) []poll {
	rs := make([]poll, len(nodes))
	var wg sync.WaitGroup
	for i, p := range nodes {
		wg.Go(func() { rs[i] = pollRefused(c, p, token, bound) })
	}
	wg.Wait()
	return rs
}

// percentile returns the nearest-rank p-th percentile of ds, sorted.
func percentile(ds []time.Duration, p int) time.Duration {
	i := (len(ds)*p + 99) / 100
	return ds[max(i, 1)-1]
}

func ms(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }

func TestMultiNode(t *testing.T) {
	needCluster(t)
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	t.Run("revocation", func(t *testing.T) {
		tok := c.login(t, n1)
		c.accepted(t, tok.token, n1, n2, n3)
		a := request(c.client, n2, "POST", "/v1/logout", tok.token, nil)
		if a.status != http.StatusNoContent {
			t.Fatalf("logout on node 2: %v", a)
		}
		r := pollRefused(c.client, n3, tok.token, time.Second)
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Logf("logout on node 2 → node 3 refused after %v (first request refused: %t, answers of 200 before: %d)",
			ms(r.refused.Sub(a.end)), r.first, r.stale)
		for _, p := range c.nodes {
			if a := request(c.client, p, "GET", "/v1/me", tok.token, nil); !a.refused() {
				t.Errorf("%s after the logout: %v", p.url, a)
			}
		}
	})

	t.Run("propagation", func(t *testing.T) { propagation(t, c) })
	t.Run("cli", func(t *testing.T) { cliPropagation(t, c) })
	t.Run("redis outage", func(t *testing.T) { redisOutage(t, c) })
}

// propagation revokes tokens on one node, in the ways a client can, and
// measures how long until every other node refuses them.
func propagation(t *testing.T, c *cluster) {
	const rounds = 50
	methods := []string{"logout", "delete session", "logout others"}
	var (
		props   []time.Duration
		starts  []time.Duration // to the start of the last node's first refused request
		slowest string
		worst   time.Duration
		stale   int // answers of 200 after the revoking response, all rounds
		staleIn int // rounds with any
		firsts  int // nodes whose first request after it already refused
		polled  int
	)
	for i := range rounds {
		method := methods[i%len(methods)]
		li := rand.IntN(len(c.nodes))
		vi := (li + 1 + rand.IntN(len(c.nodes)-1)) % len(c.nodes)
		revoker := c.nodes[vi]
		target := c.login(t, c.nodes[li])
		var other issued
		if method != "logout" {
			other = c.login(t, c.nodes[rand.IntN(len(c.nodes))])
		}
		c.accepted(t, target.token, c.nodes...)

		var a answer
		switch method {
		case "logout":
			a = request(c.client, revoker, "POST", "/v1/logout", target.token, nil)
		case "delete session":
			a = request(c.client, revoker, "DELETE", "/v1/sessions/"+target.session, other.token, nil)
		case "logout others":
			a = request(c.client, revoker, "POST", "/v1/logout?scope=others", other.token, nil)
		}
		if a.status != http.StatusNoContent {
			t.Fatalf("round %d: %s on %s: %v", i, method, revoker.url, a)
		}
		rs := pollAll(c.client, c.nodes, target.token, 2*time.Second)
		var last, lastSent time.Time
		n, requests := 0, 0
		for j, r := range rs {
			if r.err != nil {
				t.Fatalf("round %d (%s on node %d): %v", i, method, vi+1, r.err)
			}
			if j == vi {
				// The revoking node evicted the token before it answered.
				if !r.first {
					t.Errorf("round %d: node %d accepted the token %d times after its own %s", i, vi+1, r.stale, method)
				}
				continue
			}
			if r.refused.After(last) {
				last = r.refused
			}
			if r.sent.After(lastSent) {
				lastSent = r.sent
			}
			stale += r.stale
			n += r.stale
			requests += r.n
			polled++
			if r.first {
				firsts++
			}
		}
		if n > 0 {
			staleIn++
		}
		d := last.Sub(a.end)
		props = append(props, d)
		starts = append(starts, lastSent.Sub(a.end))
		if d > worst {
			worst = d
			slowest = fmt.Sprintf("round %d, %s on node %d after login on node %d: %v, %d answers of 200 in %d requests to the other nodes",
				i, method, vi+1, li+1, ms(d), n, requests)
		}
	}
	slices.Sort(props)
	slices.Sort(starts)
	p50, p99 := percentile(props, 50), percentile(props, 99)
	t.Logf("revocation propagation over %d rounds (revoking response → last other node refusing): p50 %v, p99 %v, max %v (target p99 < 100ms)",
		rounds, ms(p50), ms(p99), ms(props[len(props)-1]))
	t.Logf("the same, to the start of the first refused request (excludes the refusal's own latency): p50 %v, p99 %v",
		ms(percentile(starts, 50)), ms(percentile(starts, 99)))
	t.Logf("stale answers (200 to a request started after the revoking response): %d, in %d of %d rounds; %d of %d node polls refused on the first request",
		stale, staleIn, rounds, firsts, polled)
	t.Logf("slowest: %s", slowest)
	if p99 >= time.Second {
		t.Errorf("revocation propagation p99 %v, want under 1s", p99)
	}
	if stale > 0 {
		t.Errorf("%d answers of 200 to requests started after the revoking response, in %d rounds: want none", stale, staleIn)
	}
}

// cliPropagation changes alice's password with `latchkey user passwd`, a
// one-off process that deletes the Redis entries and publishes the
// invalidation as a node does (the change feed is the backstop).
func cliPropagation(t *testing.T, c *cluster) {
	const rounds = 5
	var (
		props []time.Duration
		stale int
	)
	for i := range rounds {
		tok := c.login(t, c.nodes[rand.IntN(len(c.nodes))])
		c.accepted(t, tok.token, c.nodes...)
		next := e2eNewPass
		if c.password == e2eNewPass {
			next = e2ePassword
		}
		if out, err := cli(t, c.env, next+"\n", "user", "passwd", "alice", "--password-stdin"); err != nil {
			t.Fatalf("passwd: %v\n%s", err, out)
		}
		done := time.Now()
		c.password = next
		var last time.Time
		for _, r := range pollAll(c.client, c.nodes, tok.token, 2*time.Second) {
			if r.err != nil {
				t.Fatalf("round %d: %v", i, r.err)
			}
			if r.refused.After(last) {
				last = r.refused
			}
			stale += r.stale
		}
		props = append(props, last.Sub(done))
	}
	slices.Sort(props)
	t.Logf("CLI user passwd (Redis publish; change feed as backstop) → every node refusing: p50 %v, max %v over %d rounds; %d answers of 200 meanwhile",
		ms(percentile(props, 50)), ms(props[len(props)-1]), rounds, stale)
	if m := props[len(props)-1]; m >= time.Second {
		t.Errorf("a CLI revocation took %v to reach every node, want under 1s", m)
	}
}

// logoutReaches checks that tok, accepted by every node, is logged out on
// node 3 and then refused by nodes 1 and 2, within a second; when says
// at what point of the test, for the log.
func (c *cluster) logoutReaches(t *testing.T, tok issued, when string) {
	t.Helper()
	c.accepted(t, tok.token, c.nodes...)
	a := request(c.client, c.nodes[2], "POST", "/v1/logout", tok.token, nil)
	if a.status != http.StatusNoContent {
		t.Fatalf("%s: logout on node 3: %v", when, a)
	}
	for i, r := range pollAll(c.client, c.nodes[:2], tok.token, time.Second) {
		if r.err != nil {
			t.Fatalf("%s: %v", when, r.err)
		}
		t.Logf("%s, logout on node 3 reached node %d in %v (%d answers of 200 before)",
			when, i+1, ms(r.refused.Sub(a.end)), r.stale)
	}
}

// watch asks every node about a revoked token, over and over, until
// stopped, and counts the answers that accepted it.
type watch struct {
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	asked    atomic.Int64
	mu       sync.Mutex
	problems []string
}

func startWatch(t *testing.T, c *cluster, token string) *watch {
	w := &watch{stop: make(chan struct{})}
	for _, p := range c.nodes {
		w.wg.Go(func() {
			for {
				select {
				case <-w.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				a := request(c.client, p, "GET", "/v1/me", token, nil)
				w.asked.Add(1)
				if !a.refused() {
					w.mu.Lock()
					w.problems = append(w.problems, fmt.Sprintf("%s at %s: %v", p.url, a.start.Format("15:04:05.000"), a))
					w.mu.Unlock()
				}
			}
		})
	}
	t.Cleanup(func() { w.Stop() })
	return w
}

// Stop ends the watch and returns how many answers it had and which were
// not refusals.
func (w *watch) Stop() (int64, []string) {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.asked.Load(), w.problems
}

// logged reports whether p logged a line with the message msg.
func (p *proc) logged(msg string) bool {
	for line := range strings.Lines(p.output()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return true
		}
	}
	return false
}

// Messages cache/tiered logs when its subscription is lost and back.
const (
	msgLayerOff = "cache: invalidations from Redis not received; local cache layer off until resubscribed"
	msgLayerOn  = "cache: invalidations from Redis received again; local cache layer purged and on"
)

// redisOutage kills the cluster's Redis with tokens cached everywhere,
// revokes one, and checks that no node accepts it, that logins and checks
// go on from the database, and that caching resumes when Redis is back.
func redisOutage(t *testing.T, c *cluster) {
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	start := time.Now()
	revoked := c.login(t, n2)
	t.Logf("with Redis up, login on node 2 took %v", ms(time.Since(start)))
	live := c.login(t, n3)
	for range 2 {
		c.accepted(t, revoked.token, c.nodes...)
		c.accepted(t, live.token, c.nodes...)
	}

	c.redis.Kill()
	killed := time.Now()
	a := request(c.client, n1, "POST", "/v1/logout", revoked.token, nil)
	if a.status != http.StatusNoContent {
		t.Fatalf("logout on node 1 with Redis down: %v", a)
	}
	t.Logf("Redis killed; logout on node 1 answered %v later, taking %v", ms(a.end.Sub(killed)), ms(a.end.Sub(a.start)))
	for i, r := range pollAll(c.client, c.nodes, revoked.token, time.Second) {
		if r.err != nil {
			t.Fatalf("with Redis down: %v", r.err)
		}
		t.Logf("with Redis down, node %d refused the revoked token %v after the logout (first request refused: %t, answers of 200 before: %d)",
			i+1, ms(r.refused.Sub(a.end)), r.first, r.stale)
	}
	// From here on every node must refuse it, Redis down or back.
	w := startWatch(t, c, revoked.token)

	for i, p := range c.nodes {
		var took [2]time.Duration
		for j := range took {
			start := time.Now()
			tok := c.login(t, p)
			took[j] = time.Since(start)
			c.accepted(t, tok.token, c.nodes...)
		}
		t.Logf("with Redis down, logins on node %d took %v, then %v; their tokens work on every node", i+1, ms(took[0]), ms(took[1]))
	}
	for i, p := range c.nodes {
		const n = 20
		start := time.Now()
		for range n {
			c.accepted(t, live.token, p)
		}
		t.Logf("with Redis down, GET /v1/me on node %d took %v on average (from the database)", i+1, ms(time.Since(start)/n))
		if a := request(c.client, p, "GET", "/readyz", "", nil); a.status != http.StatusOK {
			t.Errorf("readyz on node %d with Redis down: %v", i+1, a)
		}
		if !p.logged(msgLayerOff) {
			t.Errorf("node %d did not log that its local cache layer is off:\n%s", i+1, p.output())
		}
	}
	// Stay down a while, so the nodes' subscribers retry a few times.
	time.Sleep(max(0, 2*time.Second-time.Since(killed)))

	c.redis.Start()
	restarted := time.Now()
	for i, p := range c.nodes {
		for !p.logged(msgLayerOn) {
			if time.Since(restarted) > 10*time.Second {
				t.Fatalf("node %d did not resubscribe within 10s of Redis's return:\n%s", i+1, p.output())
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("Redis restarted; node %d's local cache layer on again within %v", i+1, ms(time.Since(restarted)))
	}

	// A revocation at once: the nodes' command connections may still be
	// failing (go-redis dials again at most once a second after repeated
	// dial errors), so its announcement may be lost to the change feed.
	tok := c.login(t, n1)
	c.logoutReaches(t, tok, "just after Redis's return")

	// Caching resumed: new tokens land in Redis from every node, work
	// everywhere, and their revocation reaches the other nodes by pub/sub.
	rc := redistest.Client(t, c.redis.URL())
	inRedis := func(tok string) bool {
		d := latchkey.Token(tok).Digest()
		n, err := rc.Exists(t.Context(), "latchkey:s:"+hex.EncodeToString(d[:])).Result()
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		return n == 1
	}
	for i, p := range c.nodes {
		for {
			if tok = c.login(t, p); inRedis(tok.token) {
				break
			}
			if time.Since(restarted) > 10*time.Second {
				t.Fatalf("node %d's logins do not reach Redis 10s after its return:\n%s", i+1, p.output())
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("node %d's logins reach Redis again within %v of its return", i+1, ms(time.Since(restarted)))
	}
	tok = c.login(t, n1)
	if inRedis(revoked.token) {
		t.Error("the token revoked during the outage is in Redis after its return")
	}
	c.logoutReaches(t, tok, "once writes reach Redis again")
	c.accepted(t, live.token, c.nodes...)
	// Let the watch see the nodes settle what they owed Redis.
	time.Sleep(500 * time.Millisecond)

	asked, problems := w.Stop()
	for _, p := range problems {
		t.Errorf("revoked token not refused: %s", p)
	}
	t.Logf("the token revoked during the outage was refused %d times of %d, on every node, through the outage and after Redis's return",
		asked-int64(len(problems)), asked)
	if asked == 0 {
		t.Error("the watch asked nothing")
	}
}

// TestThroughputRedisVsEmbedded measures GET /v1/me through one node on
// PostgreSQL and Redis against one on the embedded default (SQLite and an
// in-process cache), in one run. It is a measurement, not a check.
func TestThroughputRedisVsEmbedded(t *testing.T) {
	if testing.Short() || os.Getenv("LATCHKEY_BENCH") != "1" {
		t.Skip("a measurement, not a check: set LATCHKEY_BENCH=1 to run it")
	}
	needCluster(t)
	const (
		warmup  = time.Second
		measure = 5 * time.Second
		workers = 16
	)
	embedded := append(dbEnv(t), throttleEnv...)
	addUser(t, embedded, "alice")
	emb := serve(t, embedded)
	c := startCluster(t, 1)
	red := c.nodes[0]

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers, IdleConnTimeout: time.Minute},
		Timeout:   10 * time.Second,
	}
	t.Cleanup(client.CloseIdleConnections)
	// do is request in the warm-up, uncheckedRequest in the measured runs.
	run := func(p *proc, token string, d time.Duration, do func(*http.Client, *proc, string, string, string, any) answer) int64 {
		var ok, bad atomic.Int64
		start := time.Now()
		deadline := start.Add(d)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := 0; i < 10_000_000 && time.Now().Before(deadline); i++ {
					if a := do(client, p, "GET", "/v1/me", token, nil); a.status == http.StatusOK {
						ok.Add(1)
					} else {
						bad.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if bad.Load() > 0 || ok.Load() == 0 {
			t.Fatalf("%s: %d answers of 200, %d others", p.url, ok.Load(), bad.Load())
		}
		return ok.Load()
	}
	etok := emb.login(t, "alice", e2ePassword)
	rtok := c.login(t, red).token
	run(emb, etok, warmup, request)
	run(red, rtok, warmup, request)
	// Redis's command count shows whether the Redis node's checks were
	// answered by its local layer.
	rc := redistest.Client(t, c.redis.URL())
	commands := func() int64 {
		info, err := rc.Info(t.Context(), "stats").Result()
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("redis: no total_commands_processed")
		return 0
	}
	// In the order embedded, Redis, Redis, embedded, so that a drift in
	// the machine's load weighs on both alike.
	half := measure / 2
	e := run(emb, etok, half, uncheckedRequest)
	before := commands()
	r := run(red, rtok, half, uncheckedRequest)
	r += run(red, rtok, half, uncheckedRequest)
	cmds := commands() - before - 1 // the INFO itself
	e += run(emb, etok, half, uncheckedRequest)
	es, rs := float64(e)/measure.Seconds(), float64(r)/measure.Seconds()
	t.Logf("GET /v1/me, %d clients, %v each: embedded (SQLite, memory) %.0f req/s; PostgreSQL and Redis %.0f req/s; ratio redis/embedded %.2f",
		workers, measure, es, rs, rs/es)
	t.Logf("Redis commands while the Redis node answered %d requests: %d (local cache layer hits cost none)", r, cmds)
}

// TestRevocationUnderLoad runs 1,000 revocation rounds across three nodes
// (PostgreSQL and Redis) while other clients keep the nodes busy. Each
// round logs a user in, has every node accept (and cache) the token,
// revokes it on a node (logout, session delete or logout of the others)
// and, the instant the revocation answered, asks all three nodes at once:
// none may answer 200. LATCHKEY_TEST_ROUNDS changes the number of rounds.
func TestRevocationUnderLoad(t *testing.T) {
	needCluster(t)
	rounds := 1000
	if s := os.Getenv("LATCHKEY_TEST_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LATCHKEY_TEST_ROUNDS=%q", s)
		}
		rounds = n
	}
	const workers = 8
	c := startCluster(t, 3)
	for w := range workers {
		addUser(t, c.env, fmt.Sprint("user", w))
	}
	addUser(t, c.env, "loader")

	// The background load: token checks on every node, and a login and
	// logout of another user now and then.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var bgRequests atomic.Int64
	loadTok := c.login(t, c.nodes[0]).token // alice's
	for i := range 4 {
		bg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				request(c.client, c.nodes[(i+j)%len(c.nodes)], "GET", "/v1/me", loadTok, nil)
				bgRequests.Add(1)
			}
		})
	}
	bg.Go(func() {
		for j := 0; ; j++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			p := c.nodes[j%len(c.nodes)]
			a := request(c.client, p, "POST", "/v1/login", "", map[string]string{"username": "loader", "password": e2ePassword})
			if tok, ok := a.body["token"].(string); ok {
				request(c.client, p, "POST", "/v1/logout", tok, nil)
			}
			bgRequests.Add(2)
		}
	})

	type result struct {
		late    int
		latency time.Duration
		method  string
	}
	results := make(chan result, rounds)
	errs := make(chan error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprint("user", w)
			login := func(p *proc) (issued, error) {
				for try := 0; ; try++ {
					a := request(c.client, p, "POST", "/v1/login", "", map[string]string{"username": user, "password": e2ePassword})
					switch {
					case a.status == http.StatusOK:
						return issued{token: a.body["token"].(string), session: a.body["session_id"].(string)}, nil
					case a.status == http.StatusServiceUnavailable && a.code() == "overloaded" && try < 10:
						// The hashing slots are busy: retry, as a client would.
						time.Sleep(100 * time.Millisecond)
					default:
						return issued{}, fmt.Errorf("login of %s on %s: %v", user, p.url, a)
					}
				}
			}
			for {
				i := next.Add(1) - 1
				if i >= int64(rounds) {
					return
				}
				method := []string{"logout", "delete session", "logout others"}[i%3]
				target, err := login(c.nodes[rand.IntN(len(c.nodes))])
				if err != nil {
					errs <- err
					return
				}
				var other issued
				if method != "logout" {
					if other, err = login(c.nodes[rand.IntN(len(c.nodes))]); err != nil {
						errs <- err
						return
					}
				}
				for _, p := range c.nodes {
					if a := request(c.client, p, "GET", "/v1/me", target.token, nil); a.status != http.StatusOK {
						errs <- fmt.Errorf("round %d: fresh token on %s: %v", i, p.url, a)
						return
					}
				}
				revoker := c.nodes[rand.IntN(len(c.nodes))]
				var a answer
				switch method {
				case "logout":
					a = request(c.client, revoker, "POST", "/v1/logout", target.token, nil)
				case "delete session":
					a = request(c.client, revoker, "DELETE", "/v1/sessions/"+target.session, other.token, nil)
				case "logout others":
					a = request(c.client, revoker, "POST", "/v1/logout?scope=others", other.token, nil)
				}
				if a.status != http.StatusNoContent {
					errs <- fmt.Errorf("round %d: %s on %s: %v", i, method, revoker.url, a)
					return
				}
				answers := make([]answer, len(c.nodes))
				var ask sync.WaitGroup
				for j, p := range c.nodes {
					ask.Go(func() { answers[j] = request(c.client, p, "GET", "/v1/me", target.token, nil) })
				}
				ask.Wait()
				r := result{latency: a.end.Sub(a.start), method: method}
				for _, x := range answers {
					switch {
					case x.status == http.StatusOK:
						r.late++
					case !x.refused():
						errs <- fmt.Errorf("round %d: after the %s: %v", i, method, x)
						return
					}
				}
				if method != "logout" {
					request(c.client, revoker, "POST", "/v1/logout", other.token, nil)
				}
				results <- r
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(results)
	late, lateRounds, n := 0, 0, 0
	var lat []time.Duration
	for r := range results {
		n++
		late += r.late
		if r.late > 0 {
			lateRounds++
		}
		lat = append(lat, r.latency)
	}
	if n == 0 {
		t.Fatal("no round completed")
	}
	slices.Sort(lat)
	t.Logf("%d revocation rounds on 3 nodes in %v beside %d background requests: %d late 200s (in %d rounds); revocation latency p50 %v, p99 %v, max %v",
		n, took.Round(time.Millisecond), bgRequests.Load(), late, lateRounds, ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(lat[len(lat)-1]))
	if late > 0 {
		t.Errorf("%d answers of 200 to requests sent after the revocation answered, in %d of %d rounds: want none", late, lateRounds, n)
	}
	if n < rounds && !t.Failed() {
		t.Errorf("%d of %d rounds completed", n, rounds)
	}
}
