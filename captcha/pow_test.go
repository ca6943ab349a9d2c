package captcha_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/captcha"
	"github.com/latchkeyhq/latchkey/throttle"
	throttlememory "github.com/latchkeyhq/latchkey/throttle/memory"
)

// powKey is the HMAC key of the proof-of-work tests; powKeyCore is what
// must never show.
const (
	powKeyCore = "P0wK3yC0reSecret"
	powKey     = "k-" + powKeyCore + `"&+/`
)

// clientAddr is the address challenges are issued to.
var clientAddr = netip.MustParseAddr("203.0.113.7")

// testClock is a fake clock, safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := new(testClock)
	c.ns.Store(testNow.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// guard wraps the real in-memory replay guard, counting claims and
// failing on demand.
type guard struct {
	g     latchkey.ReplayGuard
	mu    sync.Mutex
	keys  []string
	exps  []time.Time
	fail  error
	calls atomic.Int32
}

func newGuard() *guard { return newGuardAt(time.Now) }

func newGuardAt(now func() time.Time) *guard {
	return &guard{g: memory.NewClaims(memory.ClaimsOptions{Now: now})}
}

func (g *guard) Claim(ctx context.Context, key string, expires time.Time) (bool, error) {
	g.calls.Add(1)
	g.mu.Lock()
	g.keys = append(g.keys, key)
	g.exps = append(g.exps, expires)
	fail := g.fail
	g.mu.Unlock()
	if fail != nil {
		return false, fail
	}
	return g.g.Claim(ctx, key, expires)
}

type powEnv struct {
	clock *testClock
	guard *guard
	pow   *captcha.PoW
	logs  *bytes.Buffer
}

func newPoWEnv(t *testing.T, tweak func(*captcha.PoWConfig)) *powEnv {
	t.Helper()
	c := newTestClock()
	e := &powEnv{clock: c, guard: newGuardAt(c.Now), logs: new(bytes.Buffer)}
	cfg := captcha.PoWConfig{
		Secret:    powKey,
		Guard:     e.guard,
		MaxNumber: 1000,
		Now:       c.Now,
		Logger:    slog.New(slog.NewJSONHandler(e.logs, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := captcha.NewPoW(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.pow = p
	return e
}

func (e *powEnv) challenge(t *testing.T) captcha.Challenge {
	t.Helper()
	ch, err := e.pow.NewChallenge(context.Background(), clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// solve finds the number behind ch by brute force, as the widget does.
func solve(t testing.TB, ch captcha.Challenge) int64 {
	t.Helper()
	for n := int64(0); n <= ch.MaxNumber; n++ {
		sum := sha256.Sum256([]byte(ch.Salt + strconv.FormatInt(n, 10)))
		if hex.EncodeToString(sum[:]) == ch.Challenge {
			return n
		}
	}
	t.Fatalf("no solution up to %d", ch.MaxNumber)
	return 0
}

// widgetPayload is what the ALTCHA widget posts for a solved challenge.
func widgetPayload(ch captcha.Challenge, n int64) map[string]any {
	return map[string]any{
		"algorithm": ch.Algorithm,
		"challenge": ch.Challenge,
		"number":    n,
		"salt":      ch.Salt,
		"signature": ch.Signature,
		"took":      417,
	}
}

func encode(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func set(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestPoW(t *testing.T) {
	other, err := captcha.NewPoW(captcha.PoWConfig{Secret: "another-key-of-16+bytes", Guard: newGuard(), MaxNumber: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// response builds the response from a fresh challenge and its
		// solution; it may move the clock.
		response func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string
		want     error
		claimed  bool // the guard must have been asked
	}{
		{
			name: "solved",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(widgetPayload(ch, n))
			},
			claimed: true,
		},
		{
			name: "solved without took, with test",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "took", nil, "test", false))
			},
			claimed: true,
		},
		{
			name: "replayed",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				r := encode(widgetPayload(ch, n))
				if err := e.pow.Verify(context.Background(), r, ""); err != nil {
					t.Fatalf("first use: %v", err)
				}
				return r
			},
			want:    errInvalid,
			claimed: true,
		},
		{
			name: "replayed on another node",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				node2, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: e.guard, MaxNumber: 1000, Now: e.clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				r := encode(widgetPayload(ch, n))
				if err := node2.Verify(context.Background(), r, ""); err != nil {
					t.Fatalf("first use: %v", err)
				}
				return r
			},
			want:    errInvalid,
			claimed: true,
		},
		{
			name: "just before expiry",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				e.clock.Advance(captcha.DefaultChallengeTTL - time.Second)
				return encode(widgetPayload(ch, n))
			},
			claimed: true,
		},
		{
			name: "expired",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				e.clock.Advance(captcha.DefaultChallengeTTL)
				return encode(widgetPayload(ch, n))
			},
			want: errInvalid,
		},
		{
			name: "signature of another key",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				m := hmac.New(sha256.New, []byte("another-key-of-16+bytes"))
				m.Write([]byte(ch.Challenge))
				return encode(set(widgetPayload(ch, n), "signature", hex.EncodeToString(m.Sum(nil))))
			},
			want: errInvalid,
		},
		{
			name: "signature altered",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "signature", flipHex(ch.Signature)))
			},
			want: errInvalid,
		},
		{
			name: "signature upper case",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "signature", strings.ToUpper(ch.Signature)))
			},
			want: errInvalid,
		},
		{
			name: "signature missing",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "signature", nil))
			},
			want: errInvalid,
		},
		{
			name: "challenge of another key",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				och, err := other.NewChallenge(context.Background(), clientAddr)
				if err != nil {
					t.Fatal(err)
				}
				return encode(widgetPayload(och, solve(t, och)))
			},
			want: errInvalid,
		},
		{
			name: "challenge swapped, signature kept",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				ch2 := e.challenge(t)
				return encode(set(widgetPayload(ch2, solve(t, ch2)), "signature", ch.Signature))
			},
			want: errInvalid,
		},
		{
			name: "wrong number",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "number", n+1))
			},
			want: errInvalid,
		},
		{
			name: "negative number",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "number", -n-1))
			},
			want: errInvalid,
		},
		{
			name: "number missing",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "number", nil))
			},
			want: errInvalid,
		},
		{
			name: "number as a string",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "number", strconv.FormatInt(n, 10)))
			},
			want: errInvalid,
		},
		{
			name: "number as a float",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "number", float64(n)+0.5))
			},
			want: errInvalid,
		},
		{
			name: "expiry pushed back",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "salt", reExpire(t, ch.Salt, 10)))
			},
			want: errInvalid,
		},
		{
			name: "expiry pushed far back",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "salt", reExpire(t, ch.Salt, 86400)))
			},
			want: errInvalid,
		},
		{
			name: "salt random part changed",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "salt", flipHex(ch.Salt[:24])+ch.Salt[24:]))
			},
			want: errInvalid,
		},
		{
			name: "salt without the delimiter",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "salt", strings.TrimSuffix(ch.Salt, "&")))
			},
			want: errInvalid,
		},
		{
			name: "algorithm SHA-1",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "algorithm", "SHA-1"))
			},
			want: errInvalid,
		},
		{
			name: "algorithm lower case",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "algorithm", "sha-256"))
			},
			want: errInvalid,
		},
		{
			name: "url-safe base64",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				b, _ := json.Marshal(widgetPayload(ch, n))
				return base64.RawURLEncoding.EncodeToString(append(b, "  ?>"...))
			},
			want: errInvalid,
		},
		{
			name: "not base64",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return "not base64!"
			},
			want: errInvalid,
		},
		{
			name: "not JSON",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return base64.StdEncoding.EncodeToString([]byte("algorithm=SHA-256"))
			},
			want: errInvalid,
		},
		{
			name: "JSON array",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return base64.StdEncoding.EncodeToString([]byte(`["SHA-256"]`))
			},
			want: errInvalid,
		},
		{
			name: "data after the JSON",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				b, _ := json.Marshal(widgetPayload(ch, n))
				return base64.StdEncoding.EncodeToString(append(b, "{}"...))
			},
			want: errInvalid,
		},
		{
			name: "empty",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return ""
			},
			want: errRequired,
		},
		{
			name: "over the limit",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				return encode(set(widgetPayload(ch, n), "pad", strings.Repeat("x", captcha.MaxResponseLength)))
			},
			want: errInvalid,
		},
		{
			name: "guard fails",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				e.guard.fail = errors.New("redis: connection refused (key " + powKey + ")")
				return encode(widgetPayload(ch, n))
			},
			want:    errUnavailable,
			claimed: true,
		},
		{
			name: "guard full",
			response: func(t *testing.T, e *powEnv, ch captcha.Challenge, n int64) string {
				e.guard.fail = memory.ErrClaimsFull
				return encode(widgetPayload(ch, n))
			},
			want:    errUnavailable,
			claimed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPoWEnv(t, nil)
			ch := e.challenge(t)
			r := tt.response(t, e, ch, solve(t, ch))
			before := e.guard.calls.Load()
			err := e.pow.Verify(context.Background(), r, "203.0.113.7")
			checkPoWErr(t, err, tt.want)
			if asked := e.guard.calls.Load() > before; asked != tt.claimed {
				t.Errorf("guard asked: %v, want %v", asked, tt.claimed)
			}
			noPoWKey(t, "log", e.logs.String())
			if (tt.want == errInvalid) != strings.Contains(e.logs.String(), "captcha rejected") {
				t.Errorf("refusal logged: %v, want %v:\n%s", !(tt.want == errInvalid), tt.want == errInvalid, e.logs.String())
			}
		})
	}
}

func checkPoWErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Verify: %v, want a pass", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Verify: %v, want %v", err, want)
	}
	if want == errUnavailable && latchkey.AsError(err).RetryAfter <= 0 {
		t.Error("unavailable without Retry-After")
	}
	noPoWKey(t, "error", err.Error())
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("request failed", "err", err)
	noPoWKey(t, "log", buf.String())
}

func noPoWKey(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, powKeyCore) {
		t.Errorf("%s shows the key: %s", what, s)
	}
}

// flipHex changes the first hex digit of s.
func flipHex(s string) string {
	c := byte('0')
	if s[0] == '0' {
		c = '1'
	}
	return string(c) + s[1:]
}

// reExpire moves the expiry in a salt by d seconds.
func reExpire(t *testing.T, salt string, d int64) string {
	t.Helper()
	random, rest, _ := strings.Cut(salt, "?expires=")
	exp, err := strconv.ParseInt(strings.TrimSuffix(rest, "&"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return random + "?expires=" + strconv.FormatInt(exp+d, 10) + "&"
}

// TestPoWClaim checks what is claimed: the challenge, until a little
// after it expires.
func TestPoWClaim(t *testing.T) {
	e := newPoWEnv(t, nil)
	ch := e.challenge(t)
	if err := e.pow.Verify(context.Background(), encode(widgetPayload(ch, solve(t, ch))), ""); err != nil {
		t.Fatal(err)
	}
	exp := e.clock.Now().Truncate(time.Second).Add(captcha.DefaultChallengeTTL)
	if e.guard.keys[0] != "captcha:pow:"+ch.Challenge {
		t.Errorf("claimed %q, want the challenge", e.guard.keys[0])
	}
	if got := e.guard.exps[0]; got.Before(exp) || got.After(exp.Add(5*time.Minute)) {
		t.Errorf("claimed until %v, want from %v to a few minutes later", got, exp)
	}
}

// fixedRand yields the given bytes, then zeros.
type fixedRand struct{ b []byte }

func (r *fixedRand) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	clear(p[n:])
	return len(p), nil
}

// TestPoWSplicing checks that digits moved from the number to the salt
// (which keep salt+number, hence the challenge, unchanged) are refused.
func TestPoWSplicing(t *testing.T) {
	rnd := make([]byte, 12+8)
	binary.LittleEndian.PutUint64(rnd[12:], 12345)
	e := newPoWEnv(t, func(c *captcha.PoWConfig) { c.Rand = &fixedRand{b: rnd}; c.MaxNumber = 100_000 })
	ch := e.challenge(t)
	if n := solve(t, ch); n != 12345 {
		t.Fatalf("number %d, want 12345", n)
	}
	for split := 1; split < 5; split++ {
		digits := "12345"
		n, _ := strconv.ParseInt(digits[split:], 10, 64)
		r := encode(set(widgetPayload(ch, n), "salt", ch.Salt+digits[:split]))
		checkPoWErr(t, e.pow.Verify(context.Background(), r, ""), errInvalid)
	}
	if e.guard.calls.Load() != 0 {
		t.Error("a spliced salt reached the guard")
	}
	if err := e.pow.Verify(context.Background(), encode(widgetPayload(ch, 12345)), ""); err != nil {
		t.Fatalf("the real solution: %v", err)
	}
}

// TestPoWChallengeShape checks the JSON the widget reads, and that it is
// ALTCHA's: challenge = hex(SHA-256(salt + number)), signature =
// hex(HMAC-SHA256(key, challenge)).
func TestPoWChallengeShape(t *testing.T) {
	rnd := make([]byte, 12+8)
	copy(rnd, "0123456789ab")
	binary.LittleEndian.PutUint64(rnd[12:], 4242)
	c := newTestClock()
	p, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: newGuard(), Now: c.Now, Rand: &fixedRand{b: rnd}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.NewChallenge(context.Background(), clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, []string{"algorithm", "challenge", "maxnumber", "salt", "signature"}) {
		t.Errorf("JSON keys %v", keys)
	}
	wantSalt := hex.EncodeToString([]byte("0123456789ab")) + "?expires=" + strconv.FormatInt(testNow.Add(5*time.Minute).Unix(), 10) + "&"
	if ch.Salt != wantSalt {
		t.Errorf("salt %q, want %q", ch.Salt, wantSalt)
	}
	if ch.Algorithm != "SHA-256" || ch.MaxNumber != captcha.DefaultMaxNumber {
		t.Errorf("algorithm %q, maxnumber %d", ch.Algorithm, ch.MaxNumber)
	}
	sum := sha256.Sum256([]byte(wantSalt + "4242"))
	if ch.Challenge != hex.EncodeToString(sum[:]) {
		t.Errorf("challenge %s, want hex(sha256(salt+number))", ch.Challenge)
	}
	mac := hmac.New(sha256.New, []byte(powKey))
	mac.Write([]byte(ch.Challenge))
	if ch.Signature != hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signature %s, want hex(hmac-sha256(key, challenge))", ch.Signature)
	}
	noPoWKey(t, "challenge", string(b))
}

// TestPoWSaltShape checks random challenges: distinct salts of the
// documented shape, numbers spread over [0, maxnumber].
func TestPoWSaltShape(t *testing.T) {
	e := newPoWEnv(t, func(c *captcha.PoWConfig) { c.MaxNumber = 3 })
	re := regexp.MustCompile(`^[0-9a-f]{24}\?expires=[0-9]+&$`)
	salts := map[string]bool{}
	numbers := map[int64]bool{}
	for range 200 {
		ch := e.challenge(t)
		if !re.MatchString(ch.Salt) || salts[ch.Salt] {
			t.Fatalf("salt %q: bad shape or repeated", ch.Salt)
		}
		salts[ch.Salt] = true
		numbers[solve(t, ch)] = true
	}
	if len(numbers) != 4 {
		t.Errorf("numbers drawn: %v, want all of 0 to 3", numbers)
	}
}

// TestPoWNotBefore checks that a verifier whose guard forgot the claims
// before a restart refuses the challenges issued before it, to the
// millisecond, and takes those issued after it at once.
func TestPoWNotBefore(t *testing.T) {
	c := newTestClock()
	start := c.Now()
	c.Advance(10*time.Second + 200*time.Millisecond)
	verify := func(p *captcha.PoW, r string) error { return p.Verify(context.Background(), r, "") }
	// The process before the restart, with NotBefore its own start, and
	// one of an earlier version, without.
	before, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: newGuardAt(c.Now), MaxNumber: 1000, Now: c.Now, NotBefore: start})
	if err != nil {
		t.Fatal(err)
	}
	earlier, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: newGuardAt(c.Now), MaxNumber: 1000, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	solved := func(p *captcha.PoW) string {
		ch, err := p.NewChallenge(context.Background(), clientAddr)
		if err != nil {
			t.Fatal(err)
		}
		return encode(widgetPayload(ch, solve(t, ch)))
	}
	used, unused, old := solved(before), solved(before), solved(earlier)
	if err := verify(before, used); err != nil {
		t.Fatal(err)
	}
	if err := verify(earlier, old); err != nil {
		t.Fatal(err)
	}
	// The restart, within the same second: a new process, an empty
	// in-memory guard.
	c.Advance(300 * time.Millisecond)
	after, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: newGuardAt(c.Now), MaxNumber: 1000, Now: c.Now, NotBefore: c.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]string{"used": used, "unused": unused, "of the earlier shape": old} {
		if err := verify(after, r); !errors.Is(err, errInvalid) {
			t.Errorf("a solution %s, issued before the restart: %v, want refused", name, err)
		}
	}
	// Issued at the very instant of NotBefore, and a millisecond later.
	if err := verify(after, solved(after)); err != nil {
		t.Fatalf("a challenge issued as the process started: %v", err)
	}
	c.Advance(time.Millisecond)
	if err := verify(after, solved(after)); err != nil {
		t.Fatalf("a challenge issued a millisecond after the start: %v", err)
	}
	// A clock stepped back behind NotBefore issues challenges that are
	// good all the same.
	c.Advance(-time.Minute)
	if err := verify(after, solved(after)); err != nil {
		t.Fatalf("a challenge issued by a clock stepped back: %v", err)
	}
	// Challenges of the earlier shape are read to the second: refused
	// from NotBefore's second, taken from the next.
	c.Advance(time.Minute)
	if err := verify(after, solved(earlier)); !errors.Is(err, errInvalid) {
		t.Errorf("a challenge of the earlier shape in NotBefore's second: %v, want refused", err)
	}
	c.Advance(time.Second)
	if err := verify(after, solved(earlier)); err != nil {
		t.Errorf("a challenge of the earlier shape in the next second: %v", err)
	}
}

// TestPoWStampedShape checks the salt of a PoW with a NotBefore: the issue
// time in milliseconds follows the expiry; without one, the salt keeps the
// earlier shape (TestPoWChallengeShape), and either verifier accepts both.
func TestPoWStampedShape(t *testing.T) {
	c := newTestClock()
	c.Advance(1234 * time.Millisecond)
	g := newGuardAt(c.Now)
	stamped, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: g, MaxNumber: 1000, Now: c.Now, NotBefore: testNow})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: g, MaxNumber: 1000, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := stamped.NewChallenge(context.Background(), clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	want := "?expires=" + strconv.FormatInt(c.Now().Unix()+300, 10) + "&issued=" + strconv.FormatInt(c.Now().UnixMilli(), 10) + "&"
	if !regexp.MustCompile(`^[0-9a-f]{24}\?`).MatchString(ch.Salt) || ch.Salt[24:] != want {
		t.Fatalf("salt %q, want 24 hex digits then %q", ch.Salt, want)
	}
	for _, issuer := range []*captcha.PoW{stamped, plain} {
		for _, verifier := range []*captcha.PoW{stamped, plain} {
			ch, err := issuer.NewChallenge(context.Background(), clientAddr)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifier.Verify(context.Background(), encode(widgetPayload(ch, solve(t, ch))), ""); err != nil {
				t.Errorf("salt %q: %v", ch.Salt, err)
			}
		}
	}
}

// TestPoWStampedSalts checks that a salt whose issue time was altered,
// padded or spliced is refused: it is not the salt signed.
func TestPoWStampedSalts(t *testing.T) {
	e := newPoWEnv(t, func(c *captcha.PoWConfig) { c.NotBefore = testNow.Add(-time.Hour) })
	ch := e.challenge(t)
	n := solve(t, ch)
	head, issued, _ := strings.Cut(ch.Salt, "issued=")
	issued = strings.TrimSuffix(issued, "&")
	for _, salt := range []string{
		head + "issued=0" + issued + "&",
		head + "issued=+" + issued + "&",
		head + "issued=" + issued,
		head + "issued=" + issued + "&&",
		head + "issued=" + issued + "&issued=" + issued + "&",
		head + "issued=-1&",
		head + "issued=&",
		head + "issued=" + issued + "1&",
		head + "Issued=" + issued + "&",
		head,
	} {
		r := encode(set(widgetPayload(ch, n), "salt", salt))
		checkPoWErr(t, e.pow.Verify(context.Background(), r, ""), errInvalid)
	}
	if e.guard.calls.Load() != 0 {
		t.Error("an altered salt reached the guard")
	}
	if err := e.pow.Verify(context.Background(), encode(widgetPayload(ch, n)), ""); err != nil {
		t.Fatalf("the real solution: %v", err)
	}
}

// TestPoWTooFarAhead checks that an expiry beyond the TTL (a challenge
// issued under a longer TTL) is refused.
func TestPoWTooFarAhead(t *testing.T) {
	c := newTestClock()
	g := newGuardAt(c.Now)
	long, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: g, MaxNumber: 1000, TTL: time.Hour, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	short, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: g, MaxNumber: 1000, TTL: time.Minute, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := long.NewChallenge(context.Background(), clientAddr)
	checkPoWErr(t, short.Verify(context.Background(), encode(widgetPayload(ch, solve(t, ch))), ""), errInvalid)
}

func TestNewPoWConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  captcha.PoWConfig
		ok   bool
	}{
		{"defaults", captcha.PoWConfig{Secret: powKey, Guard: newGuard()}, true},
		{"no secret", captcha.PoWConfig{Guard: newGuard()}, false},
		{"short secret", captcha.PoWConfig{Secret: "0123456789abcde", Guard: newGuard()}, false},
		{"no guard", captcha.PoWConfig{Secret: powKey}, false},
		{"negative max", captcha.PoWConfig{Secret: powKey, Guard: newGuard(), MaxNumber: -1}, false},
		{"TTL under a second", captcha.PoWConfig{Secret: powKey, Guard: newGuard(), TTL: 500 * time.Millisecond}, false},
		{"negative TTL", captcha.PoWConfig{Secret: powKey, Guard: newGuard(), TTL: -time.Minute}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := captcha.NewPoW(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				noPoWKey(t, "error", err.Error())
			}
		})
	}
}

// TestPoWRandFails checks that a failing random source is an internal
// error, not a weak challenge.
func TestPoWRandFails(t *testing.T) {
	p, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: newGuard(), Rand: io.LimitReader(rand.Reader, 4)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.NewChallenge(context.Background(), clientAddr); latchkey.ErrorKind(err) != latchkey.KindInternal {
		t.Fatalf("NewChallenge: %v, want an internal error", err)
	}
}

// TestPoWConcurrentReplay checks that of many concurrent uses of one
// solution, exactly one passes.
func TestPoWConcurrentReplay(t *testing.T) {
	e := newPoWEnv(t, nil)
	ch := e.challenge(t)
	r := encode(widgetPayload(ch, solve(t, ch)))
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if e.pow.Verify(context.Background(), r, "") == nil {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := passed.Load(); n != 1 {
		t.Fatalf("%d uses passed, want 1", n)
	}
}

// limiterFunc is a ChallengeLimiter of a function.
type limiterFunc func(ctx context.Context, ip netip.Addr) error

func (f limiterFunc) CheckChallenge(ctx context.Context, ip netip.Addr) error { return f(ctx, ip) }

// TestPoWLimiter checks that a challenge is issued only once the limiter
// (the real throttle, in memory) let its client have it.
func TestPoWLimiter(t *testing.T) {
	c := newTestClock()
	l, err := throttle.New(throttlememory.New(throttlememory.Options{}), throttle.Config{
		Challenge: latchkey.Bucket{Burst: 2, Every: time.Minute},
		Now:       c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newPoWEnv(t, func(cfg *captcha.PoWConfig) { cfg.Limiter = l })
	other := netip.MustParseAddr("203.0.113.8")
	for range 2 {
		e.challenge(t)
	}
	ch, err := e.pow.NewChallenge(context.Background(), clientAddr)
	if !errors.Is(err, latchkey.ErrThrottled) || latchkey.AsError(err).RetryAfter != time.Minute || ch != (captcha.Challenge{}) {
		t.Fatalf("third challenge: %+v, %v; want none, throttled for a minute", ch, err)
	}
	if _, err := e.pow.NewChallenge(context.Background(), other); err != nil {
		t.Fatalf("another address: %v", err)
	}
	c.Advance(time.Minute)
	e.challenge(t)

	// A limiter that could not count refuses: fail closed.
	var asked netip.Addr
	down := latchkey.Unavailable(errors.New("throttle: store down"))
	e = newPoWEnv(t, func(cfg *captcha.PoWConfig) {
		cfg.Limiter = limiterFunc(func(_ context.Context, ip netip.Addr) error { asked = ip; return down })
	})
	if _, err := e.pow.NewChallenge(context.Background(), other); !errors.Is(err, down) || asked != other {
		t.Fatalf("limiter down: %v (asked about %v), want %v", err, asked, down)
	}
}

func BenchmarkPoWVerify(b *testing.B) {
	p, err := captcha.NewPoW(captcha.PoWConfig{Secret: powKey, Guard: newGuard(), MaxNumber: 10})
	if err != nil {
		b.Fatal(err)
	}
	var rs []string
	for range 10_000 {
		ch, _ := p.NewChallenge(context.Background(), clientAddr)
		rs = append(rs, encode(widgetPayload(ch, solve(b, ch))))
	}
	i := 0
	for b.Loop() {
		p.Verify(context.Background(), rs[i%len(rs)], "")
		i++
	}
}
