package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/throttle"
)

// The flood of TestLoginFlood: wrong passwords for one account, from
// floodClients fake addresses behind a trusted proxy (this test, on
// 127.0.0.1), floodWorkers at a time.
const (
	floodLogins  = 2000
	floodClients = 50
	floodWorkers = 16
	floodMaxRSS  = 256 << 20
	ownerIP      = "203.0.113.7" // the owner's address, apart from the attackers'

	floodHashConcurrency = 2
)

// floodIP is the address attempt i claims to come from: 198.51.100.1–50
// (TEST-NET-2), in X-Forwarded-For.
func floodIP(i int) string { return fmt.Sprintf("198.51.100.%d", i%floodClients+1) }

// TestLoginFlood runs the throttle's load test against the real binary:
// 2,000 wrong passwords for one account from 50 addresses. Only attempts
// the throttle lets through reach the password hasher, and each of those
// answers 401 invalid_credentials (a refused one answers 429, one the
// hasher had no slot for 503), so the 401s count the hashes from outside
// the process; they must stay within what the configured limits allow for
// the flood's duration. Meanwhile a cached token keeps being answered and
// the server's resident memory stays bounded.
func TestLoginFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, and floods it for a few seconds")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's resident memory from /proc")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	env := append(dbEnv(t),
		"LATCHKEY_TRUSTED_PROXIES=127.0.0.1/32",
		// The premises of the test, whatever the environment says: the
		// throttle counts in this process, and no captcha stands in front
		// of the password.
		"LATCHKEY_CACHE_URL=memory",
		"LATCHKEY_CAPTCHA_PROVIDER=none",
		// The memory ceiling holds for so many hashes at once (19 MiB
		// each, about twice that resident with the garbage collector's
		// headroom); the default, one per CPU, is 2 on the machines CI
		// runs on, but would put a many-core machine over the ceiling.
		fmt.Sprintf("LATCHKEY_HASH_CONCURRENCY=%d", floodHashConcurrency),
	)
	lim := floodLimitsOf(t, env)
	addUser(t, env, "alice")
	p := serve(t, env)
	pid := p.cmd.Process.Pid

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: floodWorkers}}
	defer client.CloseIdleConnections()

	// The owner logs in first, from an address of its own: it gets the
	// token GET /v1/me is polled with, and that address becomes known.
	res, err := postLogin(ctx, client, p, ownerIP, e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != http.StatusOK || res.token == "" {
		t.Fatalf("owner's login: %d %s", res.status, res.code)
	}
	tok := res.token
	// The proxy's header is believed: the session records the owner's
	// address, not the proxy's. Otherwise the flood would come from one
	// client, not 50.
	if ip := sessionIP(ctx, t, client, p, tok); ip != ownerIP {
		t.Fatalf("the session records %q, want %s: X-Forwarded-For from a trusted proxy is not believed", ip, ownerIP)
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	var me meStats
	bg.Go(func() { me = pollMe(ctx, p, tok, stop) })
	var rss rssStats
	bg.Go(func() { rss = sampleRSS(pid, stop) })

	jobs := make(chan int)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		codes    = map[string]int{}
		problems []string
	)
	start := time.Now()
	var workers sync.WaitGroup
	for range floodWorkers {
		workers.Go(func() {
			for i := range jobs {
				res, err := postLogin(ctx, client, p, floodIP(i), "not the password at all")
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("attempt %d: %v", i, err))
				case res.status == http.StatusUnauthorized && res.code == "invalid_credentials",
					res.status == http.StatusTooManyRequests && res.code == "throttled" && res.retryAfter > 0,
					res.status == http.StatusServiceUnavailable && res.retryAfter > 0:
					statuses[res.status]++
					codes[res.code]++
				default:
					problems = append(problems, fmt.Sprintf("attempt %d: %d %s, Retry-After %d", i, res.status, res.code, res.retryAfter))
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range floodLogins {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	workers.Wait()
	elapsed := time.Since(start)
	close(stop)
	bg.Wait()
	hwm, hwmErr := procStatusBytes(pid, "VmHWM")

	if err := ctx.Err(); err != nil {
		t.Fatalf("the flood did not end in time: %v", err)
	}
	if len(problems) > 0 {
		t.Errorf("%d of %d attempts answered unexpectedly; the first: %s", len(problems), floodLogins, problems[0])
	}
	n401, n429, n503 := statuses[http.StatusUnauthorized], statuses[http.StatusTooManyRequests], statuses[http.StatusServiceUnavailable]
	bound := lim.failureBound(elapsed)
	t.Logf("%d logins in %v from %d clients: %d× 401, %d× 429, %d× 503 (codes %v)",
		floodLogins, elapsed.Round(time.Millisecond), floodClients, n401, n429, n503, codes)
	t.Logf("hashes (401s): %d, bound %d (%s)", n401, bound, lim.explain(elapsed))
	if n401 > bound {
		t.Errorf("%d attempts reached the hasher in %v; the throttle allows at most %d", n401, elapsed, bound)
	}
	if n401 == 0 {
		t.Errorf("no attempt reached the hasher: the flood measured nothing")
	}

	t.Logf("GET /v1/me during the flood: %d calls, p50 %v, p99 %v, max %v",
		len(me.latencies), me.quantile(0.50), me.quantile(0.99), me.quantile(1))
	switch {
	case me.err != "":
		t.Errorf("GET /v1/me with a cached token during the flood: %d of %d not 200; the first: %s", me.failed, len(me.latencies)+me.failed, me.err)
	case len(me.latencies) == 0:
		t.Errorf("GET /v1/me was never answered during the flood")
	}

	if rss.err != nil {
		t.Errorf("reading the server's resident memory: %v", rss.err)
	}
	if hwmErr != nil {
		t.Errorf("reading the server's peak resident memory: %v", hwmErr)
	}
	t.Logf("server resident memory: at most %.1f MiB in %d samples during the flood; peak over its life (VmHWM) %.1f MiB",
		mib(rss.max), rss.samples, mib(hwm))
	if rss.max >= floodMaxRSS || hwm >= floodMaxRSS {
		t.Errorf("server resident memory reached %.1f MiB (peak %.1f MiB), want under %.0f MiB", mib(rss.max), mib(hwm), mib(floodMaxRSS))
	}

	// The flood spent the account's allowance for unknown addresses, not
	// the owner's: from the address it logged in from before, the owner
	// still gets in.
	res, err = postLogin(ctx, client, p, ownerIP, e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != http.StatusOK {
		t.Errorf("the owner's login from a known address after the flood: %d %s, want 200", res.status, res.code)
	}
}

// floodLimits are the throttle settings the server runs with, read as
// serve reads them from its environment (os.Environ() with env after it,
// which wins).
type floodLimits struct {
	ipBurst, acctBurst int
	ipEvery, acctEvery time.Duration
}

func floodLimitsOf(t *testing.T, env []string) floodLimits {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range append(os.Environ(), env...) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	_, cfg, err := newFlagSet("latchkey serve", func(k string) string { return vars[k] }, io.Discard, throttleSettings())
	if err != nil {
		t.Fatal(err)
	}
	ipEvery, err := throttle.ParseRate(cfg.ThrottleIPRate)
	if err != nil {
		t.Fatal(err)
	}
	acctEvery, err := throttle.ParseRate(cfg.ThrottleAccount)
	if err != nil {
		t.Fatal(err)
	}
	return floodLimits{ipBurst: cfg.ThrottleIPBurst, ipEvery: ipEvery, acctBurst: cfg.ThrottleAcctBurst, acctEvery: acctEvery}
}

// failureBound is the most failed logins the limits let through in d,
// for one username from floodClients addresses it never logged in from.
//
// The account bucket charges one token per attempt before the hash, and
// hands it back unless the attempt failed; it starts full (the owner's
// login took one and gave it back) and gains one token every acctEvery.
// So however the attempts interleave, the failures among the attempts
// checked within d number at most acctBurst + ⌊d/acctEvery⌋ (a bucket
// never holds more than acctBurst tokens, and gives back at most what was
// taken). Each address's own bucket, charged for every attempt whatever
// its outcome, bounds them too: floodClients × (ipBurst + ⌊d/ipEvery⌋).
// d is measured around the whole flood, so it spans every check.
func (l floodLimits) failureBound(d time.Duration) int {
	acct := l.acctBurst + int(d/l.acctEvery)
	ip := floodClients * (l.ipBurst + int(d/l.ipEvery))
	return min(acct, ip)
}

func (l floodLimits) explain(d time.Duration) string {
	return fmt.Sprintf("account: burst %d + %v/%v = %d; per address: %d × (burst %d + %v/%v) = %d",
		l.acctBurst, d.Round(time.Millisecond), l.acctEvery, l.acctBurst+int(d/l.acctEvery),
		floodClients, l.ipBurst, d.Round(time.Millisecond), l.ipEvery, floodClients*(l.ipBurst+int(d/l.ipEvery)))
}

// loginResult is what a POST /v1/login answered.
type loginResult struct {
	status     int
	code       string
	token      string
	retryAfter int // seconds; 0 when absent
}

// postLogin logs in to p as alice with pw, through the trusted proxy on
// behalf of the client at ip. It is safe to call from any goroutine.
func postLogin(ctx context.Context, c *http.Client, p *proc, ip, pw string) (loginResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"username": "alice", "password": pw})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/v1/login", bytes.NewReader(body))
	if err != nil {
		return loginResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	res, err := c.Do(req)
	if err != nil {
		return loginResult{}, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return loginResult{}, err
	}
	p.validate(c, req, res.StatusCode, res.Header, b)
	var m struct{ Code, Token string }
	if err := json.Unmarshal(b, &m); err != nil {
		return loginResult{}, fmt.Errorf("%d with an unreadable body: %w", res.StatusCode, err)
	}
	ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	return loginResult{status: res.StatusCode, code: m.Code, token: m.Token, retryAfter: ra}, nil
}

// sessionIP returns the address GET /v1/sessions records for the token's
// session.
func sessionIP(ctx context.Context, t *testing.T, c *http.Client, p *proc, tok string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/v1/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
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
	var m struct {
		Sessions []struct {
			IP      string
			Current bool
		}
	}
	if err := json.Unmarshal(b, &m); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("sessions: %d %v", res.StatusCode, err)
	}
	for _, s := range m.Sessions {
		if s.Current {
			return s.IP
		}
	}
	t.Fatalf("sessions: no current session in %+v", m.Sessions)
	return ""
}

// meStats are the answers to GET /v1/me during the flood.
type meStats struct {
	latencies []time.Duration // of the 200s
	failed    int
	err       string // the first answer that was not 200
}

// quantile returns the q-quantile of the latencies (nearest rank).
func (s meStats) quantile(q float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	d := slices.Clone(s.latencies)
	slices.Sort(d)
	i := max(int(math.Ceil(q*float64(len(d))))-1, 0)
	return d[i].Round(10 * time.Microsecond)
}

// pollMe calls GET /v1/me on p with tok every 10ms until stop is closed,
// on connections of its own.
func pollMe(ctx context.Context, p *proc, tok string, stop <-chan struct{}) meStats {
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	var s meStats
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return s
		case <-ctx.Done():
			return s
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, p.url+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		began := time.Now()
		res, err := c.Do(req)
		var b []byte
		if err == nil {
			b, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		took := time.Since(began)
		cancel()
		if err == nil {
			p.validate(c, req, res.StatusCode, res.Header, b)
		}
		switch {
		case err != nil:
			s.failed++
			if s.err == "" {
				s.err = err.Error()
			}
		case res.StatusCode != http.StatusOK:
			s.failed++
			if s.err == "" {
				s.err = res.Status
			}
		default:
			s.latencies = append(s.latencies, took)
		}
	}
}

// rssStats is the server's resident memory sampled during the flood.
type rssStats struct {
	max     int64
	samples int
	err     error
}

// sampleRSS reads the resident memory of process pid every 10ms until
// stop is closed.
func sampleRSS(pid int, stop <-chan struct{}) rssStats {
	var s rssStats
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := procStatusBytes(pid, "VmRSS")
		if err != nil {
			s.err = err
			return s
		}
		s.max = max(s.max, n)
		s.samples++
		select {
		case <-stop:
			return s
		case <-tick.C:
		}
	}
}

// procStatusBytes returns a field of /proc/PID/status given in kB, such
// as VmRSS, in bytes.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(v), " kB")
		if !ok {
			break
		}
		n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
		if err != nil {
			break
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s in kB", pid, field)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
