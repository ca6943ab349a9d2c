package captcha

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// AlgorithmSHA256 is the one ALTCHA algorithm PoW issues and accepts.
const AlgorithmSHA256 = "SHA-256"

// Defaults of PoWConfig.
const (
	// DefaultMaxNumber makes a client try about 50,000 SHA-256 hashes on
	// average (well under a second in a browser's workers).
	DefaultMaxNumber = 100_000
	// DefaultChallengeTTL is how long a challenge may be solved and used.
	DefaultChallengeTTL = 5 * time.Minute
)

const (
	// saltBytes is the random part of a salt (ALTCHA's default, 12).
	saltBytes = 12
	// minKeyLength is the shortest HMAC key NewPoW accepts.
	minKeyLength = 16
	// clockSkew is how far nodes' clocks may disagree. A claim is kept
	// this much past the challenge's expiry, so that a node whose clock is
	// behind still finds it; and an expiry more than this beyond now plus
	// the TTL is refused.
	clockSkew = time.Minute
	// claimPrefix namespaces PoW claims in a shared replay guard.
	claimPrefix = "captcha:pow:"
)

// PoWConfig configures a PoW. Zero values take the defaults.
type PoWConfig struct {
	// Secret is the HMAC key that signs challenges (at least 16 bytes;
	// 32 random bytes are best). Nodes that share a replay guard share
	// it. It never appears in an error or a log line.
	Secret string
	// Guard remembers used solutions until their challenge expires.
	// Required. It must be shared by every node that verifies (the shared
	// cache) so that neither another node nor a restart accepts a
	// solution twice.
	Guard latchkey.ReplayGuard
	// MaxNumber is the difficulty: the secret number is drawn uniformly
	// from 0 to MaxNumber. Default DefaultMaxNumber.
	MaxNumber int64
	// TTL is how long a challenge is valid, in whole seconds (at least
	// one). Default DefaultChallengeTTL.
	TTL time.Duration
	// NotBefore, when set, refuses challenges issued at or before it (to
	// the millisecond). Set it to the process start when Guard does not
	// outlive the process (cache/memory, one node), so that a restart,
	// which forgets the claims, does not reopen the solutions claimed
	// before it: their clients just solve a new challenge. Leave it zero
	// with a shared guard.
	//
	// With NotBefore set, each challenge carries its issue time in
	// milliseconds, and this PoW stamps none at or before NotBefore (its
	// clock stepped back, say), so that a challenge is good from the
	// instant it is issued. Without it, challenges keep the shape of
	// earlier versions, which nodes of two versions sharing a guard
	// accept from each other during a rolling upgrade. A challenge of
	// that shape has its issue time read to the second, as its expiry
	// minus the current TTL: one issued in NotBefore's second is refused.
	NotBefore time.Time
	// Limiter, when set, is asked before each challenge is issued, with
	// the client's address: the limit of challenges per address, on every
	// node alike (throttle.Limiter). Nil issues without limit.
	Limiter ChallengeLimiter
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the source of salts and secret numbers; default
	// crypto/rand.Reader.
	Rand io.Reader
	// Logger receives one Info line per refused solution, with the
	// reason; default discards.
	Logger *slog.Logger
}

// String keeps the secret out of %v and %+v.
func (c PoWConfig) String() string {
	return fmt.Sprintf("captcha.PoWConfig{MaxNumber:%d TTL:%v NotBefore:%v Secret:%s}", c.MaxNumber, c.TTL, c.NotBefore, redacted)
}

// GoString keeps the secret out of %#v.
func (c PoWConfig) GoString() string { return c.String() }

// LogValue keeps the secret out of slog output.
func (c PoWConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("max_number", c.MaxNumber),
		slog.Duration("ttl", c.TTL),
		slog.Time("not_before", c.NotBefore),
		slog.String("secret", redacted),
	)
}

// Challenge is what GET /v1/captcha/challenge answers, in the JSON shape
// the ALTCHA widget reads:
//
//	{"algorithm":"SHA-256","challenge":"<64 hex>","maxnumber":100000,
//	 "salt":"<24 hex>?expires=<unix seconds>&","signature":"<64 hex>"}
//
// challenge is hex(SHA-256(salt + decimal number)) for a secret number in
// [0, maxnumber], and signature is hex(HMAC-SHA256(key, challenge)). The
// expiry rides in the salt, as ALTCHA does, and with PoWConfig.NotBefore
// set so does the issue time ("&issued=<unix ms>&" follows); the salt ends
// with "&" so that digits moved from the number to the salt cannot change
// it.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int64  `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// ChallengeLimiter limits the challenges issued to a client address
// (throttle.Limiter). CheckChallenge charges one challenge to ip, and
// returns nil when it may be issued, a latchkey.Throttled error when the
// address has had its share, or an Unavailable error when the count
// could not be read.
type ChallengeLimiter interface {
	CheckChallenge(ctx context.Context, ip netip.Addr) error
}

// PoW is a latchkey.CaptchaVerifier for a proof of work: the client finds
// the number behind a challenge NewChallenge issued, and sends
// base64(JSON{algorithm, challenge, number, salt, signature}), as the
// ALTCHA widget does. Issuing keeps no state; each solution is accepted
// once, by claiming it in the replay guard until the challenge expires.
// It is safe for concurrent use.
type PoW struct {
	key       []byte
	guard     latchkey.ReplayGuard
	max       int64
	ttl       int64 // seconds
	stamp     bool  // challenges carry their issue time (NotBefore is set)
	notBefore int64 // unix milliseconds; challenges issued at or before are refused
	limiter   ChallengeLimiter
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger
	scrub     scrubber
}

var _ latchkey.CaptchaVerifier = (*PoW)(nil)

// NewPoW returns a proof-of-work verifier.
func NewPoW(cfg PoWConfig) (*PoW, error) {
	if len(cfg.Secret) < minKeyLength {
		return nil, fmt.Errorf("captcha: pow: the secret is missing or shorter than %d bytes", minKeyLength)
	}
	if cfg.Guard == nil {
		return nil, errors.New("captcha: pow: a replay guard is required")
	}
	if cfg.MaxNumber < 0 {
		return nil, errors.New("captcha: pow: negative max number")
	}
	if cfg.MaxNumber == 0 {
		cfg.MaxNumber = DefaultMaxNumber
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultChallengeTTL
	}
	if cfg.TTL < time.Second {
		return nil, errors.New("captcha: pow: the challenge TTL is under a second")
	}
	p := &PoW{
		key:       []byte(cfg.Secret),
		guard:     cfg.Guard,
		max:       cfg.MaxNumber,
		ttl:       int64(cfg.TTL / time.Second),
		notBefore: -1 << 63,
		limiter:   cfg.Limiter,
		now:       cfg.Now,
		rand:      cfg.Rand,
		log:       cfg.Logger,
		scrub:     newScrubber(cfg.Secret),
	}
	if !cfg.NotBefore.IsZero() {
		p.stamp, p.notBefore = true, cfg.NotBefore.UnixMilli()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// String names the verifier without its key.
func (p *PoW) String() string { return "captcha.PoW" }

// GoString keeps the key out of %#v.
func (p *PoW) GoString() string { return p.String() }

// LogValue keeps the key out of slog output.
func (p *PoW) LogValue() slog.Value { return slog.StringValue(p.String()) }

// NewChallenge issues a challenge that expires after the TTL to the
// client at ip (api.ClientIP), once the Limiter let it: a client past its
// share gets the Limiter's error (latchkey.ErrThrottled, 429 with
// Retry-After). Every way of issuing a challenge passes here, so none
// skips the limit.
func (p *PoW) NewChallenge(ctx context.Context, ip netip.Addr) (Challenge, error) {
	if p.limiter != nil {
		if err := p.limiter.CheckChallenge(ctx, ip); err != nil {
			return Challenge{}, err
		}
	}
	var b [saltBytes]byte
	if _, err := io.ReadFull(p.rand, b[:]); err != nil {
		return Challenge{}, latchkey.Internal("captcha: pow: salt: %w", err)
	}
	n, err := p.number()
	if err != nil {
		return Challenge{}, latchkey.Internal("captcha: pow: number: %w", err)
	}
	now := p.now()
	issued := noIssueTime
	if p.stamp {
		issued = max(now.UnixMilli(), p.notBefore+1)
	}
	salt := formatSalt(hex.EncodeToString(b[:]), now.Unix()+p.ttl, issued)
	sum := work(salt, n)
	challenge := hex.EncodeToString(sum[:])
	return Challenge{
		Algorithm: AlgorithmSHA256,
		Challenge: challenge,
		MaxNumber: p.max,
		Salt:      salt,
		Signature: hex.EncodeToString(p.sign(challenge)),
	}, nil
}

// number draws the secret number uniformly from [0, max].
func (p *PoW) number() (int64, error) {
	span := uint64(p.max) + 1
	limit := ^uint64(0) - ^uint64(0)%span // a multiple of span
	var b [8]byte
	for {
		if _, err := io.ReadFull(p.rand, b[:]); err != nil {
			return 0, err
		}
		if v := binary.LittleEndian.Uint64(b[:]); v < limit {
			return int64(v % span), nil
		}
	}
}

func (p *PoW) sign(challenge string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(challenge))
	return m.Sum(nil)
}

// work is the hash a client searches for: SHA-256(salt + decimal n).
func work(salt string, n int64) [sha256.Size]byte {
	return sha256.Sum256([]byte(salt + strconv.FormatInt(n, 10)))
}

// noIssueTime is the issue time of a salt that carries none.
const noIssueTime int64 = -1

// formatSalt writes a salt: the random part, then, as a query string
// (ALTCHA's widget reads expires from it), the expiry in unix seconds and,
// unless it is noIssueTime, the issue time in unix milliseconds:
//
//	<24 hex>?expires=<unix s>&
//	<24 hex>?expires=<unix s>&issued=<unix ms>&
func formatSalt(random string, expires, issued int64) string {
	s := random + "?expires=" + strconv.FormatInt(expires, 10) + "&"
	if issued != noIssueTime {
		s += "issued=" + strconv.FormatInt(issued, 10) + "&"
	}
	return s
}

// parseSalt reads the expiry, and the issue time (noIssueTime when it
// carries none), from a salt PoW issued, of either shape. Any other
// shape, including a salt with digits spliced on, is refused.
func parseSalt(salt string) (expires, issued int64, ok bool) {
	random, rest, found := strings.Cut(salt, "?expires=")
	if !found || len(random) != 2*saltBytes || !isLowerHex(random) {
		return 0, 0, false
	}
	digits, rest, found := strings.Cut(rest, "&")
	if !found {
		return 0, 0, false
	}
	expires, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	issued = noIssueTime
	if rest != "" {
		param, found := strings.CutPrefix(rest, "issued=")
		if !found {
			return 0, 0, false
		}
		if digits, found = strings.CutSuffix(param, "&"); !found {
			return 0, 0, false
		}
		if issued, err = strconv.ParseInt(digits, 10, 64); err != nil || issued < 0 {
			return 0, 0, false
		}
	}
	// Written back, the salt must be the one read: no sign, no leading
	// zero, nothing spliced on.
	if formatSalt(random, expires, issued) != salt {
		return 0, 0, false
	}
	return expires, issued, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// payload is a solution as the ALTCHA widget sends it (before base64).
// Other fields (took, test) are ignored.
type payload struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    *int64 `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// decodePayload reads base64(JSON) into a payload. It checks the shape
// only: the caller checks the signature, the expiry and the work.
func decodePayload(response string) (payload, error) {
	var pl payload
	if len(response) > MaxResponseLength {
		return pl, fmt.Errorf("payload of %d bytes exceeds %d", len(response), MaxResponseLength)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(response)
	if err != nil {
		return pl, errors.New("payload is not base64")
	}
	if err := json.Unmarshal(raw, &pl); err != nil {
		return pl, errors.New("payload is not a JSON object of the expected fields")
	}
	switch {
	case pl.Algorithm != AlgorithmSHA256:
		return pl, fmt.Errorf("algorithm is not %s", AlgorithmSHA256)
	case len(pl.Challenge) != 2*sha256.Size || !isLowerHex(pl.Challenge):
		return pl, errors.New("challenge is not 64 lower-case hex digits")
	case len(pl.Signature) != 2*sha256.Size || !isLowerHex(pl.Signature):
		return pl, errors.New("signature is not 64 lower-case hex digits")
	case pl.Number == nil || *pl.Number < 0:
		return pl, errors.New("number is missing or negative")
	}
	return pl, nil
}

// Verify checks a solution and claims it. remoteIP is not used. See
// latchkey.CaptchaVerifier.
func (p *PoW) Verify(ctx context.Context, response, remoteIP string) error {
	if response == "" {
		return latchkey.ErrCaptchaRequired
	}
	if err := p.verify(ctx, response); err != nil {
		err = p.scrub.seal(err)
		if err.Kind == latchkey.KindInvalid {
			p.log.LogAttrs(ctx, slog.LevelInfo, "captcha rejected",
				slog.String("provider", "pow"), slog.String("ip", remoteIP), slog.String("reason", err.Err.Error()))
		}
		return err
	}
	return nil
}

func (p *PoW) verify(ctx context.Context, response string) *latchkey.Error {
	pl, err := decodePayload(response)
	if err != nil {
		return invalid("captcha: pow: %w", err)
	}
	sig, _ := hex.DecodeString(pl.Signature) // checked by decodePayload
	if !hmac.Equal(p.sign(pl.Challenge), sig) {
		return invalid("captcha: pow: bad signature")
	}
	expires, issued, ok := parseSalt(pl.Salt)
	if !ok {
		return invalid("captcha: pow: salt not issued here")
	}
	now := p.now()
	switch {
	case now.Unix() >= expires:
		return invalid("captcha: pow: challenge expired %v ago", now.Sub(time.Unix(expires, 0)).Round(time.Second))
	case expires > now.Add(clockSkew).Unix()+p.ttl:
		return invalid("captcha: pow: challenge expires too far ahead")
	}
	if issued == noIssueTime {
		// The earlier shape: the start of the second it was issued in.
		issued = (expires - p.ttl) * 1000
	}
	if issued <= p.notBefore {
		return invalid("captcha: pow: challenge issued before NotBefore")
	}
	want, _ := hex.DecodeString(pl.Challenge) // checked by decodePayload
	if sum := work(pl.Salt, *pl.Number); !hmac.Equal(want, sum[:]) {
		return invalid("captcha: pow: wrong number")
	}
	first, err := p.guard.Claim(ctx, claimPrefix+pl.Challenge, time.Unix(expires, 0).Add(clockSkew))
	if err != nil {
		return unavailable("captcha: pow: replay guard: %w", err)
	}
	if !first {
		return invalid("captcha: pow: solution already used")
	}
	return nil
}
