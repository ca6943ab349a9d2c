package latchkey

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Throttle limits password attempts (throttle.Limiter). The login gate
// calls Check before a password is hashed, Record exactly once after each
// attempt Check let through, and FailureCounts to tell whether a captcha
// is needed.
type Throttle interface {
	// Check charges an attempt at username's password from ip. It
	// returns nil when the attempt may go ahead; a KindThrottled error
	// (its cause a ThrottleLimit) when a limit refuses it; an Unavailable
	// error when the counts could not be read. A refused attempt needs no
	// Record.
	Check(ctx context.Context, username string, ip netip.Addr) error
	// Record settles an attempt Check let through. Its error is for the
	// log: the attempt's outcome stands.
	Record(ctx context.Context, username string, ip netip.Addr, o Outcome) error
	// FailureCounts returns the failed attempts counted for username
	// (from any address) and from ip (for any username).
	FailureCounts(ctx context.Context, username string, ip netip.Addr) (user, addr int, err error)
}

// ServiceClientThrottle limits the failed authentications of service
// clients per client address (throttle.Limiter), so that nobody guesses
// at client secrets at speed. Introspect calls CheckServiceClient before a
// secret is compared, and RecordServiceClient exactly once after each
// check it let through: a success gives back what the check charged, so
// that a service's own calls, however many, never count against it.
type ServiceClientThrottle interface {
	// CheckServiceClient charges an authentication from ip. It returns
	// nil when it may go ahead; a KindThrottled error (its cause a
	// ThrottleLimit) when the address failed too often; an Unavailable
	// error when the count could not be read. A refused authentication
	// needs no record.
	CheckServiceClient(ctx context.Context, ip netip.Addr) error
	// RecordServiceClient settles an authentication the check let
	// through: OutcomeFailure keeps the charge, any other outcome gives
	// it back. Its error is for the log: the outcome stands.
	RecordServiceClient(ctx context.Context, ip netip.Addr, o Outcome) error
}

// Outcome is how a password attempt that the throttle let through ended.
type Outcome uint8

const (
	// OutcomeFailure: the password was checked and was wrong (or the user
	// is unknown or disabled: whatever answers invalid credentials).
	OutcomeFailure Outcome = iota
	// OutcomeSuccess: the password was right.
	OutcomeSuccess
	// OutcomeAbandoned: the password was not judged (invalid input, a
	// captcha refused, an overloaded hasher, a store that failed, a
	// cancelled request).
	OutcomeAbandoned
)

var outcomeNames = [...]string{OutcomeFailure: "failure", OutcomeSuccess: "success", OutcomeAbandoned: "abandoned"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// ThrottleLimit names the limit that refused an attempt. It is the cause
// (Err) of the error Throttle.Check returns, for the log only.
type ThrottleLimit string

func (l ThrottleLimit) Error() string { return "throttle: " + string(l) }

// ThrottleReason returns the name of the limit that refused an attempt,
// or "" when err is no refusal by a throttle.
func ThrottleReason(err error) string {
	var l ThrottleLimit
	if errors.As(err, &l) {
		return string(l)
	}
	return ""
}

// ThrottleStore keeps the counts the login throttle decides from: token
// buckets and failure counters with an exponential backoff gate, by key.
// Each method is one atomic step, so that several processes sharing one
// store (Redis) never both take the last token or both pass a closed gate.
//
// Every method takes the current time from its caller, so that a node's
// injected clock rules and a test can move it. Implementations keep times
// to at least the microsecond, and a now earlier than a time they stored
// (another node's clock ahead) never makes a bucket fuller or a gate open
// sooner. A key is used either with Take or with Add, Count and Enter,
// never both. Keys are short printable strings; an absent key is a full
// bucket or a zero count, and an implementation drops keys once they mean
// no more than that.
//
// Errors are for a store that could not answer (Redis down); the caller
// decides what a check that could not run means.
type ThrottleStore interface {
	// Take takes n tokens from the bucket at key if it holds them and
	// returns 0; otherwise it takes none and returns how long until it
	// will hold them. A negative n returns tokens (up to a full bucket)
	// and always succeeds. n is at most b.Burst.
	Take(ctx context.Context, key string, b Bucket, n int, now time.Time) (wait time.Duration, err error)
	// Add counts one event at key and returns the new count. The count is
	// forgotten ttl after the last Add. Per b, it closes key's gate until
	// now + b.Delay(count), unless it is already closed for longer.
	Add(ctx context.Context, key string, b Backoff, ttl time.Duration, now time.Time) (count int, err error)
	// Count returns key's count, 0 when absent or forgotten.
	Count(ctx context.Context, key string, now time.Time) (count int, err error)
	// Enter returns how long until key's gate opens when it is closed.
	// When it is open, Enter returns 0 and, if b.Delay(count) > 0, closes
	// it for that long: of several callers at an open gate in backoff,
	// exactly one passes, as if its attempt had already failed.
	Enter(ctx context.Context, key string, b Backoff, now time.Time) (wait time.Duration, err error)
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// Bucket is the shape of a token bucket: it holds at most Burst tokens
// and gains one every Every. 30 a minute with a burst of 10 is
// Bucket{Burst: 10, Every: 2 * time.Second}.
type Bucket struct {
	Burst int
	Every time.Duration
}

// Backoff is an exponential delay after repeated failures: after the
// After-th failure the next attempt waits Base, and twice as long after
// each further one, at most Max (which is at least Base). The zero Backoff
// never delays.
type Backoff struct {
	After int
	Base  time.Duration
	Max   time.Duration
}

// Delay returns the wait that follows the count-th failure:
// min(Base·2^(count−After), Max) once count ≥ After, else 0.
func (b Backoff) Delay(count int) time.Duration {
	if b.Base <= 0 || count < b.After {
		return 0
	}
	limit := max(b.Max, b.Base)
	d := b.Base
	for k := count - b.After; k > 0 && d < limit; k-- {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// ErrThrottled matches, with errors.Is, every error Throttled returns.
var ErrThrottled = &Error{Kind: KindThrottled, Code: "throttled", Detail: "Too many attempts; retry later."}

// Throttled returns the error for an attempt refused until wait has
// passed: 429 throttled. RetryAfter is wait rounded up to whole seconds,
// at least one, so that the Retry-After header and the detail agree and a
// client that waits as told is not refused again by the same limit. cause
// names the limit, for the log only.
func Throttled(wait time.Duration, cause error) *Error {
	secs := int64(1)
	if wait > time.Second {
		secs = int64(wait / time.Second)
		if wait%time.Second != 0 {
			secs++
		}
	}
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	return &Error{
		Kind:       KindThrottled,
		Code:       ErrThrottled.Code,
		Detail:     fmt.Sprintf("Too many attempts; retry in %d %s.", secs, unit),
		RetryAfter: time.Duration(secs) * time.Second,
		Err:        cause,
	}
}
