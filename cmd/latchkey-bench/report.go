package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Targets from the benchmark issue; each is checked within one run.
const (
	targetHitOverHealthz = 0.85
	targetHitOverPeer    = 30.0
	targetMissP99        = 2 * time.Millisecond
	targetMissAtTokens   = 1_000_000
	targetLoginOverHash  = 2 * time.Millisecond
	targetMillionRSS     = 512 << 20
)

// write prints the report as markdown.
func (r *report) write(w io.Writer) {
	cfg, m := r.cfg, r.main
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }

	p("## latchkey-bench\n\n")
	p("Run %s on %s × %d CPUs, %s, %s; load average %s before, %s after; took %v.  \n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), r.cpu, numCPU(), r.goVersion, r.wrkVersion,
		r.loadBefore, r.loadAfter, r.took.Round(time.Second))
	p("Each scenario: %v, wrk %d threads × %d connections over loopback, sharing the CPUs with the server.  \n",
		cfg.duration, cfg.threads, cfg.connections)
	p("Database: %s users, %s live tokens (seeded in %v), last used %v before the run.\n\n",
		count(int64(m.users)), count(int64(m.tokens)), m.seedTook.Round(100*time.Millisecond), cfg.lastUsed)

	p("| scenario | requests | requests/s | p50 | p99 | errors | compared | ratio | target |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |\n")
	row := func(name string, res result, compared, ratio, target string) {
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, count(res.Requests), rate(res.RPS),
			ms(res.P50), ms(res.P99), errs(res), compared, ratio, target)
	}

	row("GET /healthz: the same server's ceiling", m.healthz, "", "", "")
	hitH := m.hit.RPS / m.healthz.RPS
	row("GET /v1/me, cache hit", m.hit, "me-hit / healthz", fmt.Sprintf("%.2f", hitH), atLeast(hitH, targetHitOverHealthz, "%.2f"))
	switch {
	case r.peer != nil:
		hitP := m.hit.RPS / r.peer.RPS
		row("GET /api/me, original (DRF, 2 gunicorn workers), cache hit", *r.peer,
			"me-hit / original", fmt.Sprintf("%.1f×", hitP), atLeast(hitP, targetHitOverPeer, "%.0f×"))
	case cfg.peer:
		p("| GET /api/me, original | | | | | | me-hit / original | | %s |\n", r.peerNote)
	default:
		p("| GET /api/me, original | | | | | | me-hit / original | | not run: add -peer |\n")
	}
	missName := fmt.Sprintf("GET /v1/me, cache miss, %s tokens", count(int64(m.tokens)))
	if m.miss.Used >= int64(m.tokens) {
		missName += " (all sent)"
	}
	row(missName, m.miss, "miss p99", ms(m.miss.P99), r.missTarget())
	loginGap := r.login1.P50 - r.hashP50
	row("POST /v1/login, 1 connection", r.login1, "login p50 − hash p50", signedMs(loginGap), atMost(loginGap, targetLoginOverHash))
	row(fmt.Sprintf("POST /v1/login, %d connections", cfg.loginConnections), r.loginN, "", "", "")
	p("| argon2id Verify alone, in process, one at a time (p99: the slowest) | %d | | %s | %s | | | | |\n", r.hashRuns, ms(r.hashP50), ms(r.hashMax))

	p("\n| memory: the server's VmRSS | value | target |\n| --- | ---: | --- |\n")
	p("| before the cache fill | %s | |\n", mib(m.rssBefore))
	p("| after caching %s sessions (and their %s users) | %s | |\n", count(int64(m.tokens)), count(int64(min(m.users, m.tokens))), mib(m.rssAfter))
	p("| per cached session, its user's share included | %s | reported |\n", bytesPer(m.perSession()))
	million, how := r.millionRSS()
	p("| 1,000,000 cached sessions (%s) | %s | %s |\n", how, mib(million), below(million, targetMillionRSS))
	p("| peak, logins included (VmHWM) | %s | |\n", mib(r.peakAfterLogin))

	if len(r.scale) > 0 {
		p("\n### Cache miss against size (-scale)\n\n")
		p("| users / tokens | seeded in | requests | requests/s | p50 | p99 | errors | RSS after fill | per session |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, s := range r.scale {
			p("| %s / %s | %v | %s | %s | %s | %s | %s | %s | %s |\n", count(int64(s.users)), count(int64(s.tokens)),
				s.seedTook.Round(100*time.Millisecond), count(s.miss.Requests), rate(s.miss.RPS), ms(s.miss.P50), ms(s.miss.P99),
				errs(s.miss), mib(s.rssAfter), bytesPer(s.perSession()))
		}
		if len(r.scale) == 2 {
			a, b := r.scale[0], r.scale[1]
			p("| ratio, %s ÷ %s | | | %.2f× | %.2f× | %.2f× | | | %.2f× |\n", count(int64(b.tokens)), count(int64(a.tokens)),
				b.miss.RPS/a.miss.RPS, ratioD(b.miss.P50, a.miss.P50), ratioD(b.miss.P99, a.miss.P99), b.perSession()/a.perSession())
		}
	}
	if warn := r.warnings(); len(warn) > 0 {
		p("\n")
		for _, s := range warn {
			p("- warning: %s\n", s)
		}
	}
}

// missTarget judges the cache miss p99 on the largest run with at least
// targetMissAtTokens tokens.
func (r *report) missTarget() string {
	var best *sizeResult
	for _, s := range append([]*sizeResult{r.main}, r.scale...) {
		if s.tokens >= targetMissAtTokens && (best == nil || s.tokens > best.tokens) {
			best = s
		}
	}
	if best == nil {
		return "< 2 ms at 1,000,000 tokens: not run (add -scale)"
	}
	return fmt.Sprintf("< 2 ms at %s tokens (%s there): %s", count(int64(best.tokens)), ms(best.miss.P99), atMostWord(best.miss.P99, targetMissP99))
}

// millionRSS returns the resident memory with 1,000,000 sessions cached:
// measured when a run had that many tokens, else projected.
func (r *report) millionRSS() (int64, string) {
	for _, s := range append([]*sizeResult{r.main}, r.scale...) {
		if s.tokens == targetMissAtTokens {
			return s.rssAfter, "measured, whole process"
		}
	}
	m := r.main
	return m.rssBefore + int64(m.perSession()*targetMissAtTokens), "projected: before + 1,000,000 × per session"
}

// warnings lists what makes figures doubtful.
func (r *report) warnings() []string {
	var w []string
	check := func(name string, res result) {
		if res.Errors > 0 {
			w = append(w, fmt.Sprintf("%s: %d errors (%d statuses ≥ 400): its figures are not of successful requests", name, res.Errors, res.Status))
		}
	}
	check("healthz", r.main.healthz)
	check("me-hit", r.main.hit)
	check("me-miss", r.main.miss)
	check("login, 1 connection", r.login1)
	check("login", r.loginN)
	if r.peer != nil {
		check("original", *r.peer)
	}
	for _, s := range r.scale {
		check("miss at "+count(int64(s.tokens))+" tokens", s.miss)
		if s.filled < int64(s.tokens) {
			w = append(w, fmt.Sprintf("the fill at %s tokens sent only %s of them", count(int64(s.tokens)), count(s.filled)))
		}
	}
	if r.main.filled < int64(r.main.tokens) {
		w = append(w, fmt.Sprintf("the fill sent only %s of %s tokens", count(r.main.filled), count(int64(r.main.tokens))))
	}
	if r.main.miss.Requests < 1000 {
		w = append(w, "the cache miss run has under 1,000 requests: its p99 is rough; use more -tokens")
	}
	return w
}

func atLeast(v, target float64, format string) string {
	t := "≥ " + fmt.Sprintf(format, target)
	if v >= target {
		return t + ": met"
	}
	return fmt.Sprintf("%s: missed, %.0f%% short", t, 100*(1-v/target))
}

func atMost(v, target time.Duration) string {
	return "≤ " + ms(target) + ": " + atMostWord(v, target)
}

func atMostWord(v, target time.Duration) string {
	if v <= target {
		return "met"
	}
	return "missed by " + ms(v-target)
}

func below(v, target int64) string {
	t := "< " + mib(target)
	if v < target {
		return t + ": met"
	}
	return t + ": missed by " + mib(v-target)
}

func ratioD(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 100:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

func signedMs(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}

func rate(r float64) string {
	if r < 100 {
		return fmt.Sprintf("%.1f", r)
	}
	return count(int64(r + 0.5))
}

func errs(res result) string { return count(res.Errors) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func bytesPer(b float64) string { return count(int64(b+0.5)) + " B" }

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func numCPU() int { return runtime.NumCPU() }
