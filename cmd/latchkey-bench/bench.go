package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/internal/thousands"
	"github.com/latchkeyhq/latchkey/password"
)

// bench holds what every scenario shares: the built binary, the wrk
// scripts, the one password hash, and the child processes to stop.
type bench struct {
	cfg     *config
	environ []string
	log     io.Writer
	root    string
	tmp     string
	bin     string
	scripts map[string]string
	hasher  *password.Hasher
	hash    string
	procs   []*proc
}

func newBench(ctx context.Context, cfg *config, environ []string, stderr io.Writer) (*bench, error) {
	if _, err := exec.LookPath(cfg.wrk); err != nil {
		return nil, fmt.Errorf("%s is not on PATH: install it with `apt-get install -y wrk` (Debian), or run scripts/bench, which does", cfg.wrk)
	}
	b := &bench{cfg: cfg, environ: environ, log: stderr}
	var err error
	if b.root, err = findRoot(); err != nil {
		return nil, err
	}
	if b.tmp, err = os.MkdirTemp("", "latchkey-bench-"); err != nil {
		return nil, err
	}
	ready := false
	defer func() {
		if !ready {
			b.close()
		}
	}()
	if b.scripts, err = writeScripts(b.tmp); err != nil {
		return nil, err
	}

	b.logf("building ./cmd/latchkey")
	b.bin = filepath.Join(b.tmp, "latchkey")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/latchkey")
	build.Dir, build.Env = b.root, environ
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, out)
	}

	// One real argon2id hash, with the parameters the server uses, shared
	// by every seeded user.
	b.hasher = password.New(password.Options{})
	if b.hash, err = b.hasher.Hash(ctx, benchPassword); err != nil {
		return nil, err
	}
	ready = true
	return b, nil
}

// close stops every child process and removes the temporary directory.
func (b *bench) close() {
	for _, p := range slices.Backward(b.procs) {
		p.stop(b.cfg.serverStopTimeout)
	}
	b.procs = nil
	if b.tmp == "" {
		return
	}
	if b.cfg.keep {
		b.logf("kept %s", b.tmp)
		return
	}
	os.RemoveAll(b.tmp)
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, "latchkey-bench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// server is latchkey serving one seeded database.
type server struct {
	*seeded
	dir    string
	tokens int    // live tokens seeded
	base   string // http://127.0.0.1:PORT
	p      *proc
}

// startServer seeds a fresh database in a directory of its own and starts
// latchkey serve on it.
func (b *bench) startServer(ctx context.Context, name string, users, tokens int) (*server, error) {
	dir := filepath.Join(b.tmp, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	b.logf("%s: seeding %s users and %s tokens", name, thousands.Format(int64(users)), thousands.Format(int64(tokens)))
	sd, err := seed(ctx, dir, users, b.sets(tokens), b.hash, b.cfg.lastUsed)
	if err != nil {
		return nil, err
	}
	b.logf("%s: seeded in %v", name, sd.took.Round(100*time.Millisecond))
	// The database was just written: have the kernel write it back now,
	// not while the server is measured (at 1,000,000 tokens, 400 MB).
	syscall.Sync()
	return b.serve(ctx, sd, dir, tokens, "server.log")
}

// sets are the token sets of a database with tokens live tokens: those,
// the warm-up's and the one-connection miss's.
func (b *bench) sets(tokens int) []tokenSet {
	return []tokenSet{
		{prefix: "tokens-", n: tokens, files: b.cfg.threads},
		{prefix: "warm-", n: warmTokens, files: b.cfg.threads},
		{prefix: "solo-", n: soloTokens, files: 1},
	}
}

// serve starts latchkey serve on the seeded database sd, which holds
// tokens tokens, logging to logName in dir, with the settings env adds.
func (b *bench) serve(ctx context.Context, sd *seeded, dir string, tokens int, logName string, env ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{seeded: sd, dir: dir, tokens: tokens, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	args := []string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--database-url", sd.url}
	// The cache is left at its default size unless the tokens need more.
	if tokens > 1_000_000 {
		args = append(args, "--cache-max-entries", strconv.Itoa(tokens+tokens/4))
	}
	cmd := exec.Command(b.bin, args...)
	// Every request comes from 127.0.0.1, so the per-address login
	// throttle is opened wide (its bookkeeping still runs); settings are
	// passed in the environment, which a server without them ignores.
	cmd.Env = append(append(withoutLatchkeyEnv(b.environ), "LATCHKEY_LOG_LEVEL=warn",
		"LATCHKEY_THROTTLE_IP_RATE=1000/1s", "LATCHKEY_THROTTLE_IP_BURST=1000000"), env...)
	if s.p, err = startProc("latchkey serve", cmd, filepath.Join(dir, logName), nil); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, s.p)
	if err := waitHTTP(ctx, s.p, s.base+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// serveWithMetrics starts a second server on s's database with the
// Prometheus metrics on, and checks that they count its requests.
func (b *bench) serveWithMetrics(ctx context.Context, s *server) (*server, func(), error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	metricsURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	m, err := b.serve(ctx, s.seeded, s.dir, s.tokens, "server-metrics.log", "LATCHKEY_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, nil, err
	}
	stop := func() { m.p.stop(b.cfg.serverStopTimeout) }
	if code, err := httpStatus(ctx, "GET", m.base+"/v1/me", "Bearer "+s.hitToken, ""); err != nil || code != http.StatusOK {
		stop()
		return nil, nil, fmt.Errorf("warming the hit token with metrics on: GET /v1/me = %d, %v", code, err)
	}
	body, err := httpBody(ctx, metricsURL, "")
	if err != nil || !strings.Contains(string(body), `latchkey_http_requests_total{code="200",route="GET /v1/me"} 1`) {
		stop()
		return nil, nil, fmt.Errorf("GET %s did not count GET /v1/me: %v", metricsURL, err)
	}
	return m, stop, nil
}

// stopServer stops the server and deletes its database and token files.
func (b *bench) stopServer(s *server) {
	s.p.stop(b.cfg.serverStopTimeout)
	if s.p.exited() && s.p.err != nil {
		b.logf("latchkey serve ended with %v:\n%s", s.p.err, s.p.logTail())
	}
	if !b.cfg.keep {
		os.RemoveAll(s.dir)
	}
}

// rss reads the server's resident memory.
func (s *server) rss() (rss, peak int64, err error) { return rssBytes(s.p.cmd.Process.Pid) }

// warmTokens are sent before the memory baseline is read, so that it
// includes what any load of cache misses sets up once: the SQLite page
// caches, connection buffers, the heap the garbage collector paces for.
const warmTokens = 10_000

// soloTokens feed the cache miss on one connection, where a check waits
// for no other request.
const soloTokens = 10_000

// walk sends each token of the server's files prefix0…prefixN-1 once,
// with one wrk thread per file, for at most d; see lua/walk.lua.
func (b *bench) walk(ctx context.Context, s *server, prefix string, threads, conns int, d time.Duration) (result, error) {
	return b.walkWith(ctx, "walk", s, prefix, threads, conns, d)
}

// walkWith is walk with the script of that name: walk, or solo (whose
// threads time each request, for one connection a thread).
func (b *bench) walkWith(ctx context.Context, script string, s *server, prefix string, threads, conns int, d time.Duration) (result, error) {
	var done []string
	for t := range threads {
		done = append(done, filepath.Join(s.dir, "done-"+strconv.Itoa(t)))
	}
	return runWrk(ctx, b.cfg.wrk, load{
		script: b.scripts[script], url: s.base + "/v1/me",
		args:    []string{filepath.Join(s.dir, prefix), filepath.Join(s.dir, "done-")},
		threads: threads, connections: conns, duration: d, doneFiles: done,
	})
}

// sizeResult is what one database size measured.
type sizeResult struct {
	users, tokens       int
	seedTook            time.Duration
	healthz, hit, miss  result
	forwardAuth         result // GET /v1/forward-auth with the hit's token
	hitMetrics          result // GET /v1/me, cache hit, on a server with metrics on
	solo                result // the cache miss on one connection
	login1              result // POST /v1/login on one connection
	hashRuns            int
	hashP50, hashMax    time.Duration // the hash alone
	rssBefore, rssAfter int64
	peak                int64
	filled              int64 // tokens the fill sent
}

// perSession is the growth of resident memory per cached token.
func (r *sizeResult) perSession() float64 {
	return float64(r.rssAfter-r.rssBefore) / float64(r.tokens)
}

// missAndFill warms the server up, runs the cache miss on one connection
// and on -connections, then sends every remaining token once; it reads
// the server's memory after the one-connection run and after the fill.
func (b *bench) missAndFill(ctx context.Context, s *server, r *sizeResult) error {
	cfg := b.cfg
	var err error
	if r.solo, err = b.warmAndSolo(ctx, s); err != nil {
		return err
	}
	if r.rssBefore, _, err = s.rss(); err != nil {
		return err
	}
	b.logf("GET /v1/me, cache miss: each request a token never sent before")
	if r.miss, err = b.walk(ctx, s, "tokens-", cfg.threads, cfg.connections, cfg.duration); err != nil {
		return err
	}
	b.logf("filling the cache with every token")
	fill, err := b.walk(ctx, s, "tokens-", cfg.threads, cfg.connections, fillTimeout)
	if err != nil {
		return err
	}
	r.filled = fill.Used
	if fill.Used < int64(r.tokens) {
		b.logf("warning: the fill sent %d of %d tokens within %v", fill.Used, r.tokens, fillTimeout)
	}
	time.Sleep(2 * time.Second)
	r.rssAfter, r.peak, err = s.rss()
	return err
}

// warmAndSolo warms the server up, then runs the cache miss on one
// connection, and lets its last-use writes go out.
func (b *bench) warmAndSolo(ctx context.Context, s *server) (result, error) {
	b.logf("warming up: %s cache misses on tokens of their own", thousands.Format(warmTokens))
	if _, err := b.walk(ctx, s, "warm-", b.cfg.threads, b.cfg.connections, fillTimeout); err != nil {
		return result{}, err
	}
	// The warm-up's last-use writes (one batch a second) go out before
	// the measurement, which is to see only its own.
	time.Sleep(2 * time.Second)
	b.logf("GET /v1/me, cache miss, 1 connection")
	solo, err := b.walkWith(ctx, "solo", s, "solo-", 1, 1, b.cfg.duration)
	if err != nil {
		return result{}, err
	}
	// Let the batched last-use writes go out (every second).
	time.Sleep(2 * time.Second)
	return solo, nil
}

// misses runs the cache misses alone: on one connection, then on
// -connections.
func (b *bench) misses(ctx context.Context, s *server, solo, miss *result) error {
	var err error
	if *solo, err = b.warmAndSolo(ctx, s); err != nil {
		return err
	}
	b.logf("GET /v1/me, cache miss: each request a token never sent before")
	*miss, err = b.walk(ctx, s, "tokens-", b.cfg.threads, b.cfg.connections, b.cfg.duration)
	return err
}

// report is everything one run measured.
type report struct {
	cfg                   *config
	started               time.Time
	took                  time.Duration
	cpu                   string
	goVersion, wrkVersion string
	loadBefore, loadAfter string

	main           *sizeResult
	loginN         result
	peakAfterLogin int64

	bare result // the bare net/http handler: the machine's limit
	// The bare handler answering with forward-auth's header fields.
	bareForwardAuth result
	peer            *result
	peerNote        string // why there is no peer figure
	peerSetup       time.Duration

	scale []*sizeResult // small, large
	pg    []*pgResult   // the same sizes on PostgreSQL (-postgres)
}

func (b *bench) run(ctx context.Context) (*report, error) {
	cfg := b.cfg
	rep := &report{cfg: cfg, started: time.Now(), cpu: cpuModel(), goVersion: runtime.Version(),
		wrkVersion: wrkVersion(cfg.wrk), loadBefore: loadAvg()}
	var err error

	var pr *peer
	if cfg.peer {
		// Started first, so that its GET /api/me can run right after
		// latchkey's, under the same load from the rest of the machine.
		if pr, err = b.startPeer(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.logf("peer: %v", err)
			rep.peerNote = "failed: " + firstLine(err.Error())
		}
		if pr != nil {
			rep.peerSetup = pr.setup
		} else if rep.peerNote == "" {
			rep.peerNote = "not found: ../shared/peers/drf-seed/run.sh"
		}
	}

	main, err := b.runMain(ctx, rep, pr)
	if err != nil {
		return nil, err
	}
	rep.main = main

	if cfg.scale {
		for i, sz := range [][2]int{{10_000, 10_000}, {cfg.scaleUsers, cfg.scaleTokens}} {
			if sz[0] == main.users && sz[1] == main.tokens {
				rep.scale = append(rep.scale, main)
				continue
			}
			r, err := b.runSize(ctx, "scale"+strconv.Itoa(i), sz[0], sz[1])
			if err != nil {
				return nil, err
			}
			rep.scale = append(rep.scale, r)
		}
	}
	if cfg.postgres != "" {
		for i, sz := range [][2]int{{10_000, 10_000}, {cfg.scaleUsers, cfg.scaleTokens}} {
			r, err := b.runPostgres(ctx, "pg"+strconv.Itoa(i), sz[0], sz[1])
			if err != nil {
				return nil, err
			}
			rep.pg = append(rep.pg, r)
		}
	}
	rep.loadAfter = loadAvg()
	rep.took = time.Since(rep.started)
	return rep, nil
}

// runMain runs every latchkey scenario on one server, and the peer's
// cache hit, when pr is not nil, right after latchkey's.
func (b *bench) runMain(ctx context.Context, rep *report, pr *peer) (*sizeResult, error) {
	cfg := b.cfg
	s, err := b.startServer(ctx, "main", cfg.users, cfg.tokens)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(s)
	r := &sizeResult{users: cfg.users, tokens: cfg.tokens, seedTook: s.took}
	bearer := "Bearer " + s.hitToken
	if code, err := httpStatus(ctx, "GET", s.base+"/v1/me", bearer, ""); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("warming the hit token: GET /v1/me = %d, %v", code, err)
	}
	if code, err := httpStatus(ctx, "GET", s.base+"/v1/forward-auth", bearer, ""); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("checking the hit token: GET /v1/forward-auth = %d, %v", code, err)
	}

	// The figures compared with each other run in alternating rounds
	// that share -duration, so that a change in the load from the rest of
	// the machine weighs on each of them alike.
	type compared struct {
		name    string
		url     string
		headers []string
		runs    []result
	}
	// The bare handler answers with the body latchkey gave, so that both
	// write as many bytes.
	body, err := httpBody(ctx, s.base+"/v1/me", bearer)
	if err != nil {
		return nil, fmt.Errorf("GET /v1/me: %w", err)
	}
	// The bare forward-auth answer has the header fields latchkey's has.
	code, ident, err := httpHeader(ctx, s.base+"/v1/forward-auth", bearer)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d", code)
	}
	if err != nil {
		return nil, fmt.Errorf("GET /v1/forward-auth: %w", err)
	}
	bs, err := startBare(s.hitToken, body, ident)
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	defer bs.stop()
	// The same database served with the Prometheus metrics on, by a
	// second process, which idles while the first is measured.
	withMetrics, stopMetrics, err := b.serveWithMetrics(ctx, s)
	if err != nil {
		return nil, err
	}
	defer stopMetrics()
	healthz := &compared{name: "GET /healthz", url: s.base + "/healthz"}
	hit := &compared{name: "GET /v1/me, cache hit", url: s.base + "/v1/me", headers: []string{"Authorization: " + bearer}}
	fwd := &compared{name: "GET /v1/forward-auth, cache hit", url: s.base + "/v1/forward-auth", headers: []string{"Authorization: " + bearer}}
	hitM := &compared{name: "GET /v1/me, cache hit, metrics on", url: withMetrics.base + "/v1/me", headers: []string{"Authorization: " + bearer}}
	bare := &compared{name: "bare net/http: SHA-256 and a map", url: bs.me, headers: []string{"Authorization: " + bearer}}
	bareFwd := &compared{name: "bare net/http: forward-auth's header fields", url: bs.forwardAuth, headers: []string{"Authorization: " + bearer}}
	group := []*compared{healthz, hit, hitM, fwd, bare, bareFwd}
	var peerHit *compared
	if pr != nil {
		peerHit = &compared{name: "peer: GET /api/me, cache hit", url: pr.url, headers: []string{"Authorization: " + pr.auth}}
		group = append(group, peerHit)
	}
	slice := max(time.Second, (cfg.duration / time.Duration(cfg.rounds)).Truncate(time.Second))
	for round := range cfg.rounds {
		order := slices.Clone(group)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			b.logf("%s (round %d of %d, %v)", c.name, round+1, cfg.rounds, slice)
			res, err := runWrk(ctx, cfg.wrk, load{script: b.scripts["static"], url: c.url, headers: c.headers,
				threads: cfg.threads, connections: cfg.connections, duration: slice})
			if err != nil {
				return nil, err
			}
			c.runs = append(c.runs, res)
		}
	}
	r.healthz, r.hit, r.forwardAuth, rep.bare = merge(healthz.runs), merge(hit.runs), merge(fwd.runs), merge(bare.runs)
	r.hitMetrics, rep.bareForwardAuth = merge(hitM.runs), merge(bareFwd.runs)
	bs.stop()
	stopMetrics()
	if pr != nil {
		res := merge(peerHit.runs)
		rep.peer = &res
		pr.p.stop(cfg.serverStopTimeout)
	}

	if err := b.missAndFill(ctx, s, r); err != nil {
		return nil, err
	}

	if err := b.loginVsHash(ctx, s, r); err != nil {
		return nil, err
	}
	b.logf("POST /v1/login, %d connections", cfg.loginConnections)
	if rep.loginN, err = b.login(ctx, s, r.users, cfg.loginConnections); err != nil {
		return nil, err
	}
	if _, rep.peakAfterLogin, err = s.rss(); err != nil {
		return nil, err
	}
	return r, nil
}

// runSize runs the cache misses, the fill and the one-connection login
// on a database of its own.
func (b *bench) runSize(ctx context.Context, name string, users, tokens int) (*sizeResult, error) {
	s, err := b.startServer(ctx, name, users, tokens)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(s)
	r := &sizeResult{users: users, tokens: tokens, seedTook: s.took}
	if err := b.missAndFill(ctx, s, r); err != nil {
		return nil, err
	}
	if err := b.loginVsHash(ctx, s, r); err != nil {
		return nil, err
	}
	return r, nil
}

// login runs POST /v1/login on conns connections.
func (b *bench) login(ctx context.Context, s *server, users, conns int) (result, error) {
	threads := min(b.cfg.threads, conns)
	return runWrk(ctx, b.cfg.wrk, load{script: b.scripts["login"], url: s.base + "/v1/login",
		args:    []string{strconv.Itoa(users), benchPassword, strconv.Itoa(threads)},
		threads: threads, connections: conns, duration: b.cfg.duration})
}

// loginVsHash times logins on one connection, and the hash alone in this
// process while the server idles, half just before and half just after
// the logins, so that both see the machine alike.
func (b *bench) loginVsHash(ctx context.Context, s *server, r *sizeResult) error {
	body := `{"username":"user1","password":"` + benchPassword + `"}`
	if code, err := httpStatus(ctx, "POST", s.base+"/v1/login", "", body); err != nil || code != http.StatusOK {
		return fmt.Errorf("checking a login: POST /v1/login = %d, %v", code, err)
	}
	b.logf("argon2id Verify alone, in process, %d times", 2*verifyRuns)
	hashes, err := b.timeVerify(ctx, verifyRuns)
	if err != nil {
		return err
	}
	b.logf("POST /v1/login, 1 connection")
	if r.login1, err = b.login(ctx, s, r.users, 1); err != nil {
		return err
	}
	more, err := b.timeVerify(ctx, verifyRuns)
	if err != nil {
		return err
	}
	hashes = append(hashes, more...)
	slices.Sort(hashes)
	r.hashRuns, r.hashP50, r.hashMax = len(hashes), hashes[(len(hashes)-1)/2], hashes[len(hashes)-1]
	return nil
}

// verifyRuns is half the number of timed hash verifications.
const verifyRuns = 10

// timeVerify times n verifications of the seeded hash, one at a time,
// after two untimed ones: the first of a batch pays for faulting in its
// 19 MiB, which a server under a stream of logins keeps resident.
func (b *bench) timeVerify(ctx context.Context, n int) ([]time.Duration, error) {
	ds := make([]time.Duration, 0, n+2)
	for range n + 2 {
		start := time.Now()
		ok, _, err := b.hasher.Verify(ctx, latchkey.Password(benchPassword), b.hash)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("the seeded hash does not verify")
		}
		ds = append(ds, time.Since(start))
	}
	return ds[2:], nil
}

// peer is the original API, serving.
type peer struct {
	p     *proc
	url   string // its GET /api/me
	auth  string // the Authorization header value
	setup time.Duration
}

// startPeer starts the original API with its run.sh and waits for the
// token it prints. It returns nil, nil when the script is not there.
func (b *bench) startPeer(ctx context.Context) (*peer, error) {
	script := filepath.Join(filepath.Dir(b.root), "shared", "peers", "drf-seed", "run.sh")
	if _, err := os.Stat(script); err != nil {
		b.logf("peer: %s not found; skipped", script)
		return nil, nil
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b.logf("peer: starting %s %d (installs Debian's Django, DRF and gunicorn the first time)", script, port)
	start := time.Now()
	pr, pw := io.Pipe()
	cmd := exec.Command("bash", script, strconv.Itoa(port))
	cmd.Env = b.environ
	p, err := startProc("peer", cmd, filepath.Join(b.tmp, "peer.log"), pw)
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	fail := func(err error) (*peer, error) {
		p.stop(b.cfg.serverStopTimeout)
		return nil, err
	}

	tokens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "TOKEN "); ok {
				select {
				case tokens <- strings.TrimSpace(k):
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	// The scanner's pipe is closed once the peer is gone.
	go func() { <-p.done; pw.Close() }()

	var key string
	select {
	case key = <-tokens:
	case <-p.done:
		return fail(fmt.Errorf("the peer exited before printing its token (%v):\n%s", p.err, p.logTail()))
	case <-time.After(b.cfg.peerStartTimeout):
		return fail(fmt.Errorf("the peer printed no token within %v:\n%s", b.cfg.peerStartTimeout, p.logTail()))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if key == "" {
		return fail(fmt.Errorf("the peer could not log in:\n%s", p.logTail()))
	}
	pe := &peer{p: p, url: "http://127.0.0.1:" + strconv.Itoa(port) + "/api/me", auth: "Token " + key, setup: time.Since(start)}
	// Warm both workers (each has its own cache and lazy imports).
	for range 20 {
		if code, err := httpStatus(ctx, "GET", pe.url, pe.auth, ""); err != nil || code != http.StatusOK {
			return fail(fmt.Errorf("GET /api/me = %d, %v", code, err))
		}
	}
	return pe, nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
