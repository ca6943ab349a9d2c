package verify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Mode is the route of the latchkey server that a Remote asks.
type Mode int

const (
	// ForwardAuth asks GET /v1/forward-auth with the token, as a reverse
	// proxy does: it needs no credentials of its own, and tells an
	// expired token from an invalid one.
	ForwardAuth Mode = iota
	// Introspect asks POST /v1/introspect (RFC 7662) as a service client
	// registered with latchkey client add, whose credentials it sends.
	Introspect
)

func (m Mode) String() string {
	switch m {
	case ForwardAuth:
		return "forward-auth"
	case Introspect:
		return "introspect"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Defaults of RemoteConfig.
const (
	DefaultTimeout         = 2 * time.Second
	DefaultMaxCacheEntries = 10_000
)

// RemoteConfig configures a Remote. Zero values take the defaults.
type RemoteConfig struct {
	// URL is the latchkey server's base URL (or its load balancer's):
	// https://auth.internal, to which /v1/forward-auth or /v1/introspect
	// is appended. Use https beyond the machine: tokens and the client's
	// secret go in each request.
	URL  string
	Mode Mode
	// ClientID and ClientSecret are the service client's name and secret,
	// for Introspect; unused by ForwardAuth.
	ClientID, ClientSecret string
	// Timeout bounds one check, from its first byte sent to the answer
	// read; default DefaultTimeout. A check that runs out of it fails
	// closed.
	Timeout time.Duration
	// MaxCache is how long a positive answer may be used again without
	// asking: 0, the default, asks on every check, so that a revoked token
	// is refused as soon as the server refuses it. With MaxCache set, a
	// token revoked is still accepted here for up to MaxCache after the
	// server last said it was valid. Negative answers are never kept.
	MaxCache time.Duration
	// MaxCacheEntries bounds the positive answers kept; default
	// DefaultMaxCacheEntries.
	MaxCacheEntries int
	// Transport carries the checks; default a transport of the Remote's
	// own, which keeps connections to the server alive between checks.
	Transport http.RoundTripper
	// Logger receives the 503s the middleware answers, with their cause;
	// nil discards.
	Logger *slog.Logger
}

// Remote checks tokens by asking a latchkey server, for a service that
// cannot reach the database. Every check is one request over a kept-alive
// connection, unless a positive answer younger than MaxCache is at hand. A
// check that cannot run (the server unreachable, slow past Timeout,
// answering 5xx or something else than latchkey's answers, refusing the
// service client's credentials) fails closed: an error of kind
// latchkey.KindUnavailable, which the middleware answers with 503. Its
// methods are safe for concurrent use.
type Remote struct {
	endpoint string
	mode     Mode
	basic    string // the Authorization header of Introspect
	timeout  time.Duration
	client   *http.Client
	own      *http.Transport // the default transport, closed by Close
	answers  *answers        // nil without MaxCache
	log      *slog.Logger
	now      func() time.Time
}

// NewRemote returns a Remote on cfg. It connects on the first check.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("verify: remote URL %q: want http(s)://HOST[:PORT][/PATH] without credentials", redactUser(cfg.URL))
	}
	u.RawQuery, u.Fragment = "", ""
	r := &Remote{mode: cfg.Mode, timeout: cfg.Timeout, log: cfg.Logger, now: time.Now}
	switch cfg.Mode {
	case ForwardAuth:
		r.endpoint = u.JoinPath("v1/forward-auth").String()
	case Introspect:
		if cfg.ClientID == "" || cfg.ClientSecret == "" {
			return nil, errors.New("verify: introspection needs the service client's ClientID and ClientSecret (latchkey client add)")
		}
		r.endpoint = u.JoinPath("v1/introspect").String()
		// RFC 7662 §2.1 and RFC 6749 §2.3.1: each form-urlencoded, then
		// base64.
		r.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.ClientSecret)))
	default:
		return nil, fmt.Errorf("verify: remote mode %v: want ForwardAuth or Introspect", cfg.Mode)
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if cfg.MaxCache < 0 {
		return nil, fmt.Errorf("verify: MaxCache %v is negative", cfg.MaxCache)
	}
	if cfg.MaxCache > 0 {
		n := cfg.MaxCacheEntries
		if n <= 0 {
			n = DefaultMaxCacheEntries
		}
		r.answers = &answers{ttl: cfg.MaxCache, max: n, m: make(map[latchkey.Digest]answer)}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	rt := cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every check goes to one host: keep as many connections to it
		// idle as checks run at once, not net/http's 2.
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
		t.ResponseHeaderTimeout = r.timeout
		r.own, rt = t, t
	}
	r.client = &http.Client{
		Transport: rt,
		// A redirect is no answer of latchkey's, and following one would
		// send the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return r, nil
}

// redactUser hides the user info of a URL that should have none.
func redactUser(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("xxxxx")
		return u.String()
	}
	return s
}

// Verify checks a token with the server: its Identity when it is valid,
// else latchkey.ErrInvalidToken, latchkey.ErrTokenExpired (ForwardAuth
// only: introspection says an expired token is not active, as any other),
// or an error of kind latchkey.KindUnavailable when the check could not
// run. A token that cannot be one is refused without a request.
func (r *Remote) Verify(ctx context.Context, token string) (Identity, error) {
	if !latchkey.ValidTokenSyntax(token) {
		return Identity{}, latchkey.ErrInvalidToken
	}
	if r.answers == nil {
		return r.ask(ctx, token)
	}
	d := latchkey.Token(token).Digest()
	sent := r.now()
	if id, ok := r.answers.get(d, sent); ok {
		return id, nil
	}
	gen := r.answers.generation()
	id, err := r.ask(ctx, token)
	switch {
	case err == nil:
		r.answers.put(d, id, gen, sent)
	case latchkey.ErrorKind(err) == latchkey.KindUnauthenticated:
		r.answers.refused(d)
	}
	return id, err
}

// Middleware checks the token of every request (Verify) before next: a
// request refused gets the answer the API would give; one let through
// carries its Identity (FromContext).
func (r *Remote) Middleware(next http.Handler) http.Handler {
	return middleware(r.Verify, r.log, next)
}

// Close closes the idle connections of the Remote's own transport.
func (r *Remote) Close() {
	if r.own != nil {
		r.own.CloseIdleConnections()
	}
}

// maxAnswer bounds the body of an answer read: latchkey's are a few
// hundred bytes.
const maxAnswer = 64 << 10

// ask asks the server about token, once.
func (r *Remote) ask(ctx context.Context, token string) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var req *http.Request
	if r.mode == Introspect {
		form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", r.basic)
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, r.endpoint, nil)
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error // which names the endpoint again
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Identity{}, r.unavailable(err, nil)
	}
	defer func() {
		// Read to the end, so that the connection serves the next check.
		io.Copy(io.Discard, io.LimitReader(res.Body, maxAnswer))
		res.Body.Close()
	}()
	if r.mode == Introspect {
		return r.introspection(res)
	}
	return r.forwardAuth(res)
}

// unavailable is a check that could not run, for cause; res, when the
// server answered, may say when to retry.
func (r *Remote) unavailable(cause error, res *http.Response) error {
	e := latchkey.Unavailable(fmt.Errorf("verify: %s %s: %w", r.mode, r.endpoint, cause))
	if res != nil {
		if s, err := strconv.Atoi(strings.TrimSpace(res.Header.Get("Retry-After"))); err == nil && s > 0 && s <= 3600 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return e
}

// The identity headers of a forward-auth answer, as the README documents
// them.
const (
	headerUserID    = "X-Latchkey-User-Id"
	headerUsername  = "X-Latchkey-Username"
	headerEmail     = "X-Latchkey-Email"
	headerSessionID = "X-Latchkey-Session-Id"
	headerExpiresAt = "X-Latchkey-Expires-At"
)

// forwardAuth reads a /v1/forward-auth answer.
func (r *Remote) forwardAuth(res *http.Response) (Identity, error) {
	switch res.StatusCode {
	case http.StatusOK:
		h := res.Header
		id, err1 := strconv.ParseInt(h.Get(headerUserID), 10, 64)
		exp, err2 := time.Parse(time.RFC3339, h.Get(headerExpiresAt))
		if err := errors.Join(err1, err2); err != nil || h.Get(headerUsername) == "" || h.Get(headerSessionID) == "" {
			return Identity{}, r.unavailable(fmt.Errorf("200 without latchkey's identity headers"), nil)
		}
		return Identity{
			UserID:    id,
			Username:  h.Get(headerUsername),
			Email:     h.Get(headerEmail),
			SessionID: h.Get(headerSessionID),
			ExpiresAt: exp,
		}, nil
	case http.StatusUnauthorized:
		return Identity{}, refusal(res)
	}
	return Identity{}, r.unavailable(fmt.Errorf("answered %s", res.Status), res)
}

// refusal is latchkey's error for a 401 answer to a token: token_expired
// when it says so, else invalid_token.
func refusal(res *http.Response) error {
	var body struct{ Code string }
	json.NewDecoder(io.LimitReader(res.Body, maxAnswer)).Decode(&body)
	if body.Code == latchkey.CodeTokenExpired {
		return latchkey.ErrTokenExpired
	}
	return latchkey.ErrInvalidToken
}

// introspectionJSON is RFC 7662's answer, as /v1/introspect gives it.
type introspectionJSON struct {
	Active   bool   `json:"active"`
	Sub      string `json:"sub"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Exp      int64  `json:"exp"`
	Jti      string `json:"jti"`
}

// introspection reads a /v1/introspect answer.
func (r *Remote) introspection(res *http.Response) (Identity, error) {
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		// invalid_client: the service's credentials, not the token, were
		// refused.
		return Identity{}, r.unavailable(errors.New("the service client's credentials were refused (401): check ClientID and ClientSecret"), res)
	default:
		return Identity{}, r.unavailable(fmt.Errorf("answered %s", res.Status), res)
	}
	var in introspectionJSON
	if err := json.NewDecoder(io.LimitReader(res.Body, maxAnswer)).Decode(&in); err != nil {
		return Identity{}, r.unavailable(fmt.Errorf("answer: %w", err), nil)
	}
	if !in.Active {
		return Identity{}, latchkey.ErrInvalidToken
	}
	id, err := strconv.ParseInt(in.Sub, 10, 64)
	if err != nil || in.Username == "" || in.Jti == "" || in.Exp == 0 {
		return Identity{}, r.unavailable(errors.New("an active answer without latchkey's sub, username, jti and exp"), nil)
	}
	return Identity{
		UserID:    id,
		Username:  in.Username,
		Email:     in.Email,
		SessionID: in.Jti,
		ExpiresAt: time.Unix(in.Exp, 0).UTC(),
	}, nil
}

// answers are the positive answers a Remote may use again, each until
// MaxCache after its request was sent, or the token's expiry if sooner.
type answers struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	// gen counts refusals: an answer whose request was sent before one
	// is not kept, so that a token refused meanwhile is not accepted
	// again from an answer that was already on its way.
	gen uint64
	m   map[latchkey.Digest]answer
}

type answer struct {
	id    Identity
	until time.Time
}

func (c *answers) get(d latchkey.Digest, now time.Time) (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[d]
	if !ok {
		return Identity{}, false
	}
	if !now.Before(a.until) {
		delete(c.m, d)
		return Identity{}, false
	}
	return a.id, true
}

func (c *answers) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps a positive answer to a request sent at sent, unless a
// refusal came since gen was read.
func (c *answers) put(d latchkey.Digest, id Identity, gen uint64, sent time.Time) {
	until := sent.Add(c.ttl)
	if id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= c.max {
		for k, a := range c.m {
			if !sent.Before(a.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k) // any one: a miss costs one request
		}
	}
	c.m[d] = answer{id: id, until: until}
}

// refused drops d and spoils the answers on their way.
func (c *answers) refused(d latchkey.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, d)
}
