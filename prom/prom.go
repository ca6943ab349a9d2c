// Package prom exposes latchkey's metrics to Prometheus: it implements
// latchkey.Metrics and api.Metrics with client_golang, on a registry of
// its own, beside the Go and process collectors.
//
// Every label child a request can touch is bound when the Metrics are made
// (a route's status, at the route's first answer with it), and kept in an
// array indexed by the domain's enums: counting a token check on the
// cache's hit path is an atomic add, with no allocation and no label
// looked up. No label holds a username, token, address or user id: the
// values are the enums' names, route patterns and status codes.
package prom

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/throttle"
)

// Options configure Metrics.
type Options struct {
	// Version is the build's version, for latchkey_build_info.
	Version string
	// CaptchaProvider names the login's captcha provider, the provider
	// label of latchkey_captcha_verifications_total; "" or "none" when
	// there is none.
	CaptchaProvider string
}

// State reads what the gauges show, at each scrape. A nil func leaves its
// gauge out.
type State struct {
	// CacheTrusted is latchkey.Authenticator.CacheTrusted.
	CacheTrusted func() bool
	// ChangeFeedLag is latchkey.Authenticator.FeedLag.
	ChangeFeedLag func() time.Duration
	// CacheEntries counts the sessions and users in this process's cache.
	CacheEntries func() (sessions, users int)
	// HashSlotsInUse is password.Hasher.InUse.
	HashSlotsInUse func() int
}

// Metrics are latchkey's Prometheus metrics.
type Metrics struct {
	reg *prometheus.Registry

	logins       [latchkey.NumLoginOutcomes]prometheus.Counter
	loginSeconds prometheus.Histogram
	tokenChecks  [2][latchkey.NumTokenResults]prometheus.Counter // [hit]
	throttled    map[latchkey.ThrottleLimit]prometheus.Counter
	captcha      [latchkey.NumCaptchaResults]prometheus.Counter
	revocations  [latchkey.NumRevocationReasons]prometheus.Counter
	hashWait     prometheus.Histogram

	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
}

var (
	_ latchkey.Metrics = (*Metrics)(nil)
	_ api.Metrics      = (*Metrics)(nil)
)

// throttleLimits are the label values of the login throttle's limits.
var throttleLimits = map[latchkey.ThrottleLimit]string{
	throttle.LimitIP:      "ip",
	throttle.LimitBackoff: "backoff",
	throttle.LimitAccount: "account",
	throttle.LimitKnown:   "known",
}

// New makes the metrics and registers them, with the Go and process
// collectors.
func New(opt Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, throttled: map[latchkey.ThrottleLimit]prometheus.Counter{}}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "latchkey_build_info",
		Help: "Always 1: the version of latchkey and of Go it was built with."}, []string{"version", "goversion"})
	build.WithLabelValues(opt.Version, runtime.Version()).Set(1)

	logins := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_logins_total",
		Help: "Login decisions, by outcome: success or the answer's error code."}, []string{"outcome"})
	for o := range latchkey.NumLoginOutcomes {
		m.logins[o] = logins.WithLabelValues(o.String())
	}
	m.loginSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latchkey_login_duration_seconds",
		Help:    "Time a login decision took, the hash and its padding included.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})

	checks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_token_checks_total",
		Help: "Token checks, by whether the cache answered (hit) or the store (miss), and result."}, []string{"cache", "result"})
	for hit, cache := range [2]string{"miss", "hit"} {
		for r := range latchkey.NumTokenResults {
			m.tokenChecks[hit][r] = checks.WithLabelValues(cache, r.String())
		}
	}

	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_throttle_refusals_total",
		Help: "Password attempts refused by a limit of the login throttle."}, []string{"limit"})
	for l, name := range throttleLimits {
		m.throttled[l] = refusals.WithLabelValues(name)
	}

	captcha := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_captcha_verifications_total",
		Help: "Captcha responses checked at login, by provider and result."}, []string{"provider", "result"})
	if opt.CaptchaProvider != "" && opt.CaptchaProvider != "none" {
		for r := range latchkey.NumCaptchaResults {
			m.captcha[r] = captcha.WithLabelValues(opt.CaptchaProvider, r.String())
		}
	}

	revocations := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_revocations_total",
		Help: "Revocations committed by this process, by reason (one per request, however many tokens)."}, []string{"reason"})
	for r := range latchkey.NumRevocationReasons {
		m.revocations[r] = revocations.WithLabelValues(r.String())
	}

	m.hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latchkey_hash_queue_wait_seconds",
		Help:    "Time a password hash waited for a hashing slot (0 when one was free).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_http_requests_total",
		Help: "HTTP requests answered, by route pattern (unmatched: none) and status code."}, []string{"route", "code"})
	m.requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_http_request_duration_seconds",
		Help:    "Time the handler took, by route pattern.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"})

	reg.MustRegister(build, logins, m.loginSeconds, checks, refusals, captcha, revocations, m.hashWait, m.requests, m.requestSeconds)
	return m
}

// Watch registers the gauges that read st at each scrape. Call it once,
// once the parts st reads exist.
func (m *Metrics) Watch(st State) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	if f := st.CacheTrusted; f != nil {
		gauge("latchkey_cache_trusted", "1 while the token cache may answer (its lease holds), 0 while every check goes to the database.",
			func() float64 {
				if f() {
					return 1
				}
				return 0
			})
	}
	if f := st.ChangeFeedLag; f != nil {
		gauge("latchkey_change_feed_lag_seconds", "Time since the start of the last complete read of the change feed.",
			func() float64 { return f().Seconds() })
	}
	if f := st.HashSlotsInUse; f != nil {
		gauge("latchkey_hash_slots_in_use", "Hashing slots taken now (of LATCHKEY_HASH_CONCURRENCY).",
			func() float64 { return float64(f()) })
	}
	if f := st.CacheEntries; f != nil {
		entries := prometheus.NewDesc("latchkey_cache_entries", "Entries in this process's token cache, by kind.", []string{"kind"}, nil)
		m.reg.MustRegister(entriesCollector{desc: entries, f: f})
	}
}

// entriesCollector reads both counts of the cache at once.
type entriesCollector struct {
	desc *prometheus.Desc
	f    func() (sessions, users int)
}

func (c entriesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c entriesCollector) Collect(ch chan<- prometheus.Metric) {
	s, u := c.f()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(s), "session")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(u), "user")
}

// Handler serves the metrics in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Gatherer is the registry, for tests and checks.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

func (m *Metrics) Login(o latchkey.LoginOutcome, d time.Duration) {
	if o < latchkey.NumLoginOutcomes {
		m.logins[o].Inc()
	}
	m.loginSeconds.Observe(d.Seconds())
}

func (m *Metrics) TokenCheck(hit bool, r latchkey.TokenResult) {
	if r >= latchkey.NumTokenResults {
		return
	}
	h := 0
	if hit {
		h = 1
	}
	m.tokenChecks[h][r].Inc()
}

func (m *Metrics) ThrottleRefusal(l latchkey.ThrottleLimit) {
	if c, ok := m.throttled[l]; ok {
		c.Inc()
	}
}

func (m *Metrics) CaptchaVerification(r latchkey.CaptchaResult) {
	if r < latchkey.NumCaptchaResults && m.captcha[r] != nil {
		m.captcha[r].Inc()
	}
}

func (m *Metrics) Revocation(r latchkey.RevocationReason) {
	if r < latchkey.NumRevocationReasons {
		m.revocations[r].Inc()
	}
}

// HashWait observes a wait for a hashing slot (password.Options.OnWait).
func (m *Metrics) HashWait(d time.Duration) { m.hashWait.Observe(d.Seconds()) }

// Route returns the observer of a route's requests (api.Metrics).
func (m *Metrics) Route(pattern string) api.RouteMetrics {
	if pattern == "" {
		pattern = "unmatched"
	}
	return &route{m: m, pattern: pattern, seconds: m.requestSeconds.WithLabelValues(pattern)}
}

// route observes one route's requests. Its counter of each status is bound
// at the first answer with that status, then reused: a route's statuses
// are a handful, and only those it gave are exported.
type route struct {
	m       *Metrics
	pattern string
	seconds prometheus.Observer
	codes   [600]atomic.Pointer[counter] // by status code
}

type counter struct{ prometheus.Counter }

func (r *route) Request(code int, d time.Duration) {
	r.seconds.Observe(d.Seconds())
	if code < 100 || code >= len(r.codes) {
		r.m.requests.WithLabelValues(r.pattern, strconv.Itoa(code)).Inc()
		return
	}
	c := r.codes[code].Load()
	if c == nil {
		c = &counter{r.m.requests.WithLabelValues(r.pattern, strconv.Itoa(code))}
		r.codes[code].Store(c)
	}
	c.Inc()
}
