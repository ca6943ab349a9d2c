package captcha

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The providers' documented siteverify endpoints.
const (
	RecaptchaURL = "https://www.google.com/recaptcha/api/siteverify"
	HCaptchaURL  = "https://api.hcaptcha.com/siteverify"
	TurnstileURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
)

// Defaults of Config.
const (
	DefaultMinScore = 0.5
	DefaultAction   = "login"
	DefaultTimeout  = 5 * time.Second
	DefaultMaxAge   = 5 * time.Minute
)

const (
	// maxAnswerBytes bounds what is read of a provider's answer.
	maxAnswerBytes = 64 << 10
	// retryPause is the wait before Turnstile's one retry.
	retryPause = 100 * time.Millisecond
	// minSecretLength refuses secrets too short to be a provider's (and
	// too short to scrub from messages without mangling them).
	minSecretLength = 8
)

// Config configures a SiteVerify. Zero values take the defaults.
type Config struct {
	// Secret is the provider's secret key. Required. It is sent in the
	// POST body only, and never appears in an error or a log line.
	Secret string
	// SiteKey is the public site key. hCaptcha receives it as sitekey,
	// which makes it refuse tokens solved for another site key; the other
	// providers ignore it here (the widget needs it).
	SiteKey string
	// VerifyURL overrides the provider's siteverify endpoint (a proxy, a
	// test server). It must be an absolute http or https URL.
	VerifyURL string
	// MinScore is the lowest acceptable score, from 0 to 1, applied when
	// the answer carries a score (reCAPTCHA v3). hCaptcha Enterprise
	// scores are risks (0 safe, 1 threat): they must not exceed
	// 1 - MinScore. Default DefaultMinScore; a negative value accepts any
	// score.
	MinScore float64
	// Action is the expected action. An answer that names an action
	// (reCAPTCHA v3, Turnstile with data-action) must name this one.
	// Default DefaultAction.
	Action string
	// Hostnames, when not empty, lists the hostnames (case-insensitive,
	// exact) where a solved challenge is accepted; an answer without a
	// hostname is then refused. Empty accepts any hostname.
	Hostnames []string
	// Timeout bounds one verification, the provider's answer and
	// Turnstile's retry included. Default DefaultTimeout.
	Timeout time.Duration
	// MaxAge refuses answers whose challenge_ts is older. Default
	// DefaultMaxAge; a negative value turns the check off.
	MaxAge time.Duration
	// HTTPClient sends the requests; default a client over
	// http.DefaultTransport. Redirects are never followed (a redirected
	// POST could carry the secret elsewhere); a redirect is an
	// unavailable provider.
	HTTPClient *http.Client
	// Now is the clock challenge_ts is checked against; default time.Now.
	Now func() time.Time
	// Rand is the source of Turnstile idempotency keys; default
	// crypto/rand.Reader.
	Rand io.Reader
	// Logger receives one Info line per refused response, with the
	// reason; default discards. Unavailability is not logged here: the
	// error carries its cause to the HTTP edge, which logs it.
	Logger *slog.Logger
}

// String keeps the secret out of %v and %+v.
func (c Config) String() string {
	return fmt.Sprintf("captcha.Config{SiteKey:%q VerifyURL:%q MinScore:%v Action:%q Hostnames:%q Timeout:%v MaxAge:%v Secret:%s}",
		c.SiteKey, c.VerifyURL, c.MinScore, c.Action, c.Hostnames, c.Timeout, c.MaxAge, redacted)
}

// GoString keeps the secret out of %#v.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the secret out of slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("site_key", c.SiteKey),
		slog.String("verify_url", c.VerifyURL),
		slog.Float64("min_score", c.MinScore),
		slog.String("action", c.Action),
		slog.Any("hostnames", c.Hostnames),
		slog.Duration("timeout", c.Timeout),
		slog.String("secret", redacted),
	)
}

// provider is what differs between the siteverify providers.
type provider struct {
	name string
	url  string
	// siteKey sends Config.SiteKey as sitekey (hCaptcha).
	siteKey bool
	// riskScore reads score as a risk, 0 safe to 1 threat (hCaptcha
	// Enterprise), rather than a confidence (reCAPTCHA v3).
	riskScore bool
	// idempotent sends an idempotency_key and retries once, with the same
	// key, after a network error or a 5xx (Turnstile). The others have no
	// such key: a retry could consume the single-use token twice.
	idempotent bool
}

var (
	recaptcha = provider{name: "recaptcha", url: RecaptchaURL}
	hcaptcha  = provider{name: "hcaptcha", url: HCaptchaURL, siteKey: true, riskScore: true}
	turnstile = provider{name: "turnstile", url: TurnstileURL, idempotent: true}
)

// SiteVerify is a latchkey.CaptchaVerifier that asks a provider's
// siteverify endpoint: one POST (application/x-www-form-urlencoded) of
// secret, response and remoteip, then checks the JSON answer. Build it
// with NewRecaptcha, NewHCaptcha or NewTurnstile. It is safe for
// concurrent use.
type SiteVerify struct {
	p        provider
	secret   string
	siteKey  string
	url      string
	minScore float64 // < 0: any
	action   string
	hosts    []string // lower case; empty: any
	timeout  time.Duration
	maxAge   time.Duration // < 0: off
	client   *http.Client
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
	scrub    scrubber
}

var _ latchkey.CaptchaVerifier = (*SiteVerify)(nil)

// NewRecaptcha returns a verifier for Google reCAPTCHA v2 and v3 (the
// answer's score and action are checked when present, as v3 answers
// carry them).
func NewRecaptcha(cfg Config) (*SiteVerify, error) { return newSiteVerify(recaptcha, cfg) }

// NewHCaptcha returns a verifier for hCaptcha. Config.SiteKey, when set,
// is sent as sitekey.
func NewHCaptcha(cfg Config) (*SiteVerify, error) { return newSiteVerify(hcaptcha, cfg) }

// NewTurnstile returns a verifier for Cloudflare Turnstile. Each
// verification sends a new random idempotency_key, and retries once with
// the same key after a network error or a 5xx answer.
func NewTurnstile(cfg Config) (*SiteVerify, error) { return newSiteVerify(turnstile, cfg) }

func newSiteVerify(p provider, cfg Config) (*SiteVerify, error) {
	if len(cfg.Secret) < minSecretLength {
		return nil, fmt.Errorf("captcha: %s: the secret is missing or shorter than %d bytes", p.name, minSecretLength)
	}
	s := &SiteVerify{
		p:        p,
		secret:   cfg.Secret,
		siteKey:  cfg.SiteKey,
		url:      p.url,
		minScore: cfg.MinScore,
		action:   cfg.Action,
		timeout:  cfg.Timeout,
		maxAge:   cfg.MaxAge,
		now:      cfg.Now,
		rand:     cfg.Rand,
		log:      cfg.Logger,
		scrub:    newScrubber(cfg.Secret),
	}
	if cfg.VerifyURL != "" {
		u, err := url.Parse(cfg.VerifyURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("captcha: %s: the verify URL must be an absolute http or https URL", p.name)
		}
		s.url = cfg.VerifyURL
	}
	switch {
	case s.minScore == 0:
		s.minScore = DefaultMinScore
	case s.minScore > 1 || math.IsNaN(s.minScore):
		return nil, fmt.Errorf("captcha: %s: the minimum score %v is not at most 1", p.name, s.minScore)
	}
	if s.action == "" {
		s.action = DefaultAction
	}
	for _, h := range cfg.Hostnames {
		h = normalizeHost(h)
		if h == "" {
			return nil, fmt.Errorf("captcha: %s: empty allowed hostname", p.name)
		}
		if !slices.Contains(s.hosts, h) {
			s.hosts = append(s.hosts, h)
		}
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("captcha: %s: negative timeout", p.name)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxAge == 0 {
		s.maxAge = DefaultMaxAge
	}
	client := http.Client{Transport: http.DefaultTransport}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient // a copy: the caller's client is not changed
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &client
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// String names the verifier without its secret.
func (s *SiteVerify) String() string { return "captcha.SiteVerify(" + s.p.name + ")" }

// GoString keeps the secret out of %#v.
func (s *SiteVerify) GoString() string { return s.String() }

// LogValue keeps the secret out of slog output.
func (s *SiteVerify) LogValue() slog.Value { return slog.StringValue(s.String()) }

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// answer is the part of a siteverify answer that is checked. Unknown
// fields (cdata, metadata, credit, score_reason, apk_package_name…) are
// ignored.
type answer struct {
	Success     *bool    `json:"success"`
	ErrorCodes  []string `json:"error-codes"`
	Hostname    string   `json:"hostname"`
	ChallengeTS string   `json:"challenge_ts"`
	Score       *float64 `json:"score"`
	Action      string   `json:"action"`
}

// Verify asks the provider about response. See latchkey.CaptchaVerifier.
func (s *SiteVerify) Verify(ctx context.Context, response, remoteIP string) error {
	if response == "" {
		return latchkey.ErrCaptchaRequired
	}
	if err := s.verify(ctx, response, remoteIP); err != nil {
		err = s.scrub.seal(err)
		if err.Kind == latchkey.KindInvalid {
			s.log.LogAttrs(ctx, slog.LevelInfo, "captcha rejected",
				slog.String("provider", s.p.name), slog.String("ip", remoteIP), slog.String("reason", err.Err.Error()))
		}
		return err
	}
	return nil
}

func (s *SiteVerify) verify(ctx context.Context, response, remoteIP string) *latchkey.Error {
	if len(response) > MaxResponseLength {
		return invalid("captcha: %s: response of %d bytes exceeds %d", s.p.name, len(response), MaxResponseLength)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	form := url.Values{"secret": {s.secret}, "response": {response}}
	if ip, err := netip.ParseAddr(strings.TrimSpace(remoteIP)); err == nil {
		form.Set("remoteip", ip.Unmap().WithZone("").String())
	}
	if s.p.siteKey && s.siteKey != "" {
		form.Set("sitekey", s.siteKey)
	}
	attempts := 1
	if s.p.idempotent {
		key, err := newUUID(s.rand)
		if err != nil {
			return unavailable("captcha: %s: idempotency key: %w", s.p.name, err)
		}
		form.Set("idempotency_key", key)
		attempts = 2
	}
	body := form.Encode()

	var a answer
	for try := 1; ; try++ {
		var (
			retry bool
			err   *latchkey.Error
		)
		if a, retry, err = s.call(ctx, body); err == nil {
			break
		}
		if try > 1 {
			err.Err = fmt.Errorf("after a retry: %w", err.Err)
		}
		if !retry || try == attempts || !sleep(ctx, retryPause) {
			return err
		}
	}
	return s.check(a)
}

// call posts body once. retry reports whether the failure is worth the
// one retry a provider with idempotency keys allows: a network error or a
// 5xx, where the provider may not have seen the token.
func (s *SiteVerify) call(ctx context.Context, body string) (a answer, retry bool, _ *latchkey.Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(body))
	if err != nil {
		return a, false, unavailable("captcha: %s: new request: %w", s.p.name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return a, false, unavailable("captcha: %s: no answer within %v: %w", s.p.name, s.timeout, err)
		}
		return a, true, unavailable("captcha: %s: %w", s.p.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return a, ctx.Err() == nil, unavailable("captcha: %s: read answer (status %d): %w", s.p.name, resp.StatusCode, err)
	}
	if len(raw) > maxAnswerBytes {
		return a, false, unavailable("captcha: %s: answer exceeds %d bytes (status %d)", s.p.name, maxAnswerBytes, resp.StatusCode)
	}
	switch {
	case resp.StatusCode >= 500:
		return a, true, unavailable("captcha: %s: status %d", s.p.name, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		// A 4xx may still carry a siteverify refusal with its error
		// codes; anything else is an unexpected answer.
		if a, err := decodeAnswer(raw); err == nil && !*a.Success {
			return a, false, nil
		}
		return a, false, unavailable("captcha: %s: status %d", s.p.name, resp.StatusCode)
	}
	a, err = decodeAnswer(raw)
	if err != nil {
		return a, false, unavailable("captcha: %s: unexpected answer (status 200, %d bytes): %w", s.p.name, len(raw), err)
	}
	return a, false, nil
}

// decodeAnswer reads one JSON object with a boolean success. It never
// quotes the answer in its errors: a provider's text is not for the logs.
func decodeAnswer(raw []byte) (answer, error) {
	var a answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&a); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return a, fmt.Errorf("not JSON (at byte %d)", se.Offset)
		case errors.As(err, &te) && te.Field != "":
			return a, fmt.Errorf("field %q is not a %v", te.Field, te.Type)
		}
		return a, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return a, errors.New("data after the JSON object")
	}
	if a.Success == nil {
		return a, errors.New("no boolean success field")
	}
	return a, nil
}

// Error codes of the siteverify answers (reCAPTCHA, hCaptcha, Turnstile).
// Those that say our request or the provider is at fault make the check
// unavailable (and deserve an operator's look); those that say the token
// is bad make it invalid.
var (
	serverCodes = map[string]bool{
		"missing-input-secret":     true, // all
		"invalid-input-secret":     true, // all
		"bad-request":              true, // all
		"invalid-parsed-secret":    true, // Turnstile
		"invalid-widget-id":        true, // Turnstile
		"internal-error":           true, // Turnstile
		"sitekey-secret-mismatch":  true, // hCaptcha
		"not-using-dummy-passcode": true, // hCaptcha: a test secret with a real token
		"missing-remoteip":         true, // hCaptcha
		"invalid-remoteip":         true, // hCaptcha
	}
	tokenCodes = map[string]bool{
		"missing-input-response":           true, // all
		"invalid-input-response":           true, // all
		"timeout-or-duplicate":             true, // reCAPTCHA, Turnstile
		"expired-input-response":           true, // hCaptcha
		"already-seen-response":            true, // hCaptcha
		"invalid-or-already-seen-response": true, // hCaptcha, older
	}
)

// check decides on a decoded answer.
func (s *SiteVerify) check(a answer) *latchkey.Error {
	if !*a.Success {
		var server, token, unknown []string
		for _, c := range a.ErrorCodes {
			switch q := s.scrub.quote(c); {
			case serverCodes[c]:
				server = append(server, q)
			case tokenCodes[c]:
				token = append(token, q)
			default:
				unknown = append(unknown, q)
			}
		}
		switch {
		case len(server) > 0:
			return unavailable("captcha: %s: provider refused our request: %s", s.p.name, strings.Join(append(server, append(token, unknown...)...), ", "))
		case len(a.ErrorCodes) == 0:
			return invalid("captcha: %s: provider refused the token (no error codes)", s.p.name)
		case len(token) > 0:
			return invalid("captcha: %s: provider refused the token: %s", s.p.name, strings.Join(append(token, unknown...), ", "))
		default:
			return unavailable("captcha: %s: refusal with unknown error codes: %s", s.p.name, strings.Join(unknown, ", "))
		}
	}
	if len(a.ErrorCodes) > 0 {
		return unavailable("captcha: %s: success with error codes (%d)", s.p.name, len(a.ErrorCodes))
	}
	if len(s.hosts) > 0 {
		switch h := normalizeHost(a.Hostname); {
		case h == "":
			return invalid("captcha: %s: no hostname in the answer", s.p.name)
		case !slices.Contains(s.hosts, h):
			return invalid("captcha: %s: hostname %s not allowed", s.p.name, s.scrub.quote(a.Hostname))
		}
	}
	if a.Action != "" && a.Action != s.action {
		return invalid("captcha: %s: action %s, want %q", s.p.name, s.scrub.quote(a.Action), s.action)
	}
	if a.Score != nil {
		sc := *a.Score
		if sc < 0 || sc > 1 {
			return unavailable("captcha: %s: score %v out of range", s.p.name, sc)
		}
		switch {
		case s.minScore < 0:
		case s.p.riskScore && sc > 1-s.minScore:
			return invalid("captcha: %s: risk score %v above %v", s.p.name, sc, 1-s.minScore)
		case !s.p.riskScore && sc < s.minScore:
			return invalid("captcha: %s: score %v below %v", s.p.name, sc, s.minScore)
		}
	}
	if a.ChallengeTS != "" {
		ts, ok := parseTimestamp(a.ChallengeTS)
		if !ok {
			return unavailable("captcha: %s: unreadable challenge_ts %s", s.p.name, s.scrub.quote(a.ChallengeTS))
		}
		if age := s.now().Sub(ts); s.maxAge > 0 && age > s.maxAge {
			return invalid("captcha: %s: challenge solved %v ago, more than %v", s.p.name, age.Round(time.Second), s.maxAge)
		}
	}
	return nil
}

// parseTimestamp reads challenge_ts: ISO 8601, "yyyy-MM-dd'T'HH:mm:ssZZ",
// with or without fractional seconds.
func parseTimestamp(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// sleep waits for d, or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// newUUID returns a random (version 4) UUID, the idempotency_key
// Turnstile expects.
func newUUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
