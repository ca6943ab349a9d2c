// Package password hashes new passwords, verifies given ones against stored
// hashes, and checks new passwords against a policy.
//
// Hasher implements latchkey.PasswordHasher. It writes Argon2id hashes in the
// PHC string form of the reference argon2 tool and passlib, and reads them
// back with caps on their parameters, so that a crafted hash cannot choose
// what a check costs. Each Argon2id computation takes its memory parameter
// (19 MiB by default), so the Hasher also bounds how many run at once: a
// flood of logins queues briefly and is then refused with
// latchkey.ErrOverloaded instead of exhausting memory. Formats imported from
// other systems plug in as Schemes and are replaced on the next login.
//
// A verification that does not match returns no sooner than the floor: the
// recent cost of the slowest kind of hash the Hasher has checked or
// calibrated (see Calibrate), so that neither an unknown username nor the
// algorithm of a stored hash shows in the time a failed login takes.
package password

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Scheme verifies one encoding of password hashes. Schemes let hashes
// imported from another system (Django's pbkdf2_sha256, bcrypt) be checked
// until the next login replaces them with a fresh Argon2id hash.
type Scheme interface {
	// Identify reports whether encoded is in the scheme's format, judging
	// from its prefix alone.
	Identify(encoded string) bool
	// Verify reports whether pw matches encoded, and whether encoded's
	// parameters are weaker than those the scheme wants for new hashes.
	// It returns an error (wrapping ErrMalformed) only when encoded cannot
	// be checked, and then before deriving any key: the Hasher does the
	// dummy derivation instead, so a bad hash costs what a good one does.
	Verify(pw latchkey.Password, encoded string) (ok, weaker bool, err error)
	// Params names encoded's parameter set: the algorithm and every
	// parameter that changes what a check costs, but no salt or key
	// ("pbkdf2_sha256$870000"), so that hashes with the same name cost
	// the same to verify. It returns "" when encoded cannot be checked,
	// computing nothing. The Hasher pads failed verifications to the
	// slowest parameter set it has seen.
	Params(encoded string) string
}

// ErrMalformed is wrapped by Scheme.Verify errors for hashes that cannot be
// checked: unparsable, or with parameters beyond the scheme's caps. The
// Hasher reports such hashes as a mismatch, never as an error, because a
// stored hash that cannot be checked must refuse the login, not fail it.
var ErrMalformed = errors.New("password: malformed hash")

// Options configures a Hasher. Zero values take the defaults.
type Options struct {
	// Params are the Argon2id parameters of new hashes; a stored hash with
	// weaker ones is reported for rehashing. Default DefaultArgon2id.
	Params Argon2id
	// Schemes verify hashes of other formats. A password that matches one
	// of them is always reported for rehashing.
	Schemes []Scheme
	// MaxConcurrent bounds the hashes computed at once, and so the memory
	// they take (MaxConcurrent × Params.Memory). Default GOMAXPROCS: more
	// would only share the same CPUs.
	MaxConcurrent int
	// MaxQueue bounds the callers waiting for a slot; a caller beyond it
	// gets latchkey.ErrOverloaded at once. Default 8 × MaxConcurrent;
	// negative: nobody waits.
	MaxQueue int
	// QueueTimeout is how long a caller waits for a slot before it gets
	// latchkey.ErrOverloaded. Default 1s.
	QueueTimeout time.Duration
	// Rand is the source of salts; it must be safe for concurrent use.
	// Default crypto/rand.Reader.
	Rand io.Reader
	// OnCompute, when not nil, is called once for each key derivation,
	// real or dummy, while its slot is still held: tests count the work
	// an unknown user costs with it, and metrics can count hashes.
	OnCompute func()
	// OnWait, when not nil, is called once for each caller that took a
	// slot or queued for one, with how long it waited: 0 when a slot was
	// free, the whole wait when none came in time. A caller refused at
	// once because MaxQueue wait already is not timed. Metrics time the
	// queue with it.
	OnWait func(d time.Duration)
	// Now and Sleep are the clock that times verifications and the wait
	// that pads a failed one to the floor; Sleep returns early when ctx
	// ends. Default time.Now and a timer; tests move both.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration)
}

// Hasher hashes and verifies passwords under a concurrency bound. It is
// safe for concurrent use.
type Hasher struct {
	params    Argon2id
	schemes   []Scheme // schemes[0] is params: the scheme of new hashes
	dummy     phc      // verified when there is nothing real to verify
	dummySet  string   // the dummy's parameter set, and that of new hashes
	slots     chan struct{}
	waiting   atomic.Int64
	maxQueue  int64
	timeout   time.Duration
	rand      io.Reader
	onCompute func()
	onWait    func(time.Duration)
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration)
	costs     costs // what each parameter set cost: the floor
}

var _ latchkey.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher. It panics when opts.Params fail Validate: a
// configuration that writes hashes the Hasher would itself refuse to read
// must stop the program at start, not lock users out later. Callers that
// take parameters from configuration call Validate first.
func New(opts Options) *Hasher {
	if opts.Params == (Argon2id{}) {
		opts.Params = DefaultArgon2id
	}
	if err := opts.Params.Validate(); err != nil {
		panic(fmt.Sprintf("password: %v", err))
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	switch {
	case opts.MaxQueue == 0:
		opts.MaxQueue = 8 * opts.MaxConcurrent
	case opts.MaxQueue < 0:
		opts.MaxQueue = 0
	}
	if opts.QueueTimeout <= 0 {
		opts.QueueTimeout = time.Second
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.OnCompute == nil {
		opts.OnCompute = func() {}
	}
	if opts.OnWait == nil {
		opts.OnWait = func(time.Duration) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	p := opts.Params
	return &Hasher{
		params:  p,
		schemes: append([]Scheme{p}, opts.Schemes...),
		// The dummy's salt and key are zero: its result is thrown away, and
		// only its cost, which depends on the parameters alone, matters.
		dummy:     phc{params: p, salt: make([]byte, p.SaltLen), key: make([]byte, p.KeyLen)},
		dummySet:  p.set(),
		slots:     make(chan struct{}, opts.MaxConcurrent),
		maxQueue:  int64(opts.MaxQueue),
		timeout:   opts.QueueTimeout,
		rand:      opts.Rand,
		onCompute: opts.OnCompute,
		onWait:    opts.OnWait,
		now:       opts.Now,
		sleep:     opts.Sleep,
		costs:     costs{sets: make(map[string]*cost)},
	}
}

// Hash returns a new Argon2id PHC string for pw with a fresh salt. Its
// cost is that of the dummy, and counts towards the floor.
func (h *Hasher) Hash(ctx context.Context, pw latchkey.Password) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	start := h.now()
	key := h.params.derive(pw, salt)
	h.onCompute()
	end := h.now()
	h.costs.add(h.dummySet, end.Sub(start), end)
	return h.params.encode(salt, key), nil
}

// IsOwn reports whether encoded was written by a Hasher, at a login's
// rehash or a password change, rather than imported from another system:
// it is the latchkey.ImportOptions.KeepHash of an import, which keeps such
// a hash over an imported one. A Hasher writes Argon2id PHC strings,
// "$argon2id$…"; no Django encoding starts so (Django's Argon2 hashes
// start "argon2$").
func IsOwn(encoded string) bool { return strings.HasPrefix(encoded, argon2idPrefix) }

// Verify reports whether pw matches encoded, and whether encoded should be
// replaced by a fresh Hash: it matched with weaker parameters or in another
// scheme. An empty, unusable ("!…", Django's mark), unknown or malformed
// hash never matches and costs one dummy derivation with the configured
// parameters, the same work as a wrong password.
//
// A verification that does not match, whatever the reason, returns no
// sooner than the floor after it got its hashing slot: the wait is spent
// after the slot is given back, so it holds no CPU. Then a wrong password
// for a user whose hash is a cheap one (Django's md5) or a costly one
// (pbkdf2_sha256 at 870,000 iterations), and an unknown user, all take
// the time of the slowest, and response times tell neither which
// usernames exist nor which were imported with which hash. A match is
// not padded. The only errors are latchkey.ErrOverloaded and the
// context's; a context that ends during the wait ends the wait.
func (h *Hasher) Verify(ctx context.Context, pw latchkey.Password, encoded string) (ok, rehash bool, err error) {
	v, err := h.measure(ctx, pw, encoded)
	if err != nil {
		return false, false, err
	}
	floor := h.costs.add(v.set, v.spent, v.start.Add(v.spent))
	if !v.ok {
		if d := v.start.Add(floor).Sub(h.now()); d > 0 {
			h.sleep(ctx, d)
		}
	}
	return v.ok, v.rehash, nil
}

// verification is the outcome of one check and what it cost.
type verification struct {
	ok, rehash bool
	set        string        // the parameter set whose cost was paid
	start      time.Time     // when the check had its slot
	spent      time.Duration // from start until the check was done
}

// measure checks pw against encoded in a hashing slot, and times the check
// from the moment it had the slot: a wait in the queue is no part of any
// hash's cost.
func (h *Hasher) measure(ctx context.Context, pw latchkey.Password, encoded string) (verification, error) {
	if err := h.acquire(ctx); err != nil {
		return verification{}, err
	}
	defer h.release()
	v := verification{start: h.now()}
	v.ok, v.rehash, v.set = h.check(pw, encoded)
	h.onCompute()
	v.spent = h.now().Sub(v.start)
	return v, nil
}

// check verifies pw against encoded, or does the dummy work when encoded
// cannot match, and names the parameter set whose cost it paid.
func (h *Hasher) check(pw latchkey.Password, encoded string) (ok, rehash bool, set string) {
	if i, s, set := h.scheme(encoded); s != nil {
		ok, weaker, err := s.Verify(pw, encoded)
		if err == nil {
			return ok, ok && (weaker || i > 0), set
		}
	}
	h.dummy.verify(pw)
	return false, false, h.dummySet
}

// scheme returns the scheme of encoded, its index and encoded's parameter
// set; a nil Scheme and the dummy's set when encoded is empty, unusable
// ("!…"), of no scheme, or malformed.
func (h *Hasher) scheme(encoded string) (int, Scheme, string) {
	if encoded != "" && !strings.HasPrefix(encoded, "!") {
		for i, s := range h.schemes {
			if !s.Identify(encoded) {
				continue
			}
			if set := s.Params(encoded); set != "" {
				return i, s, set
			}
			break // malformed
		}
	}
	return 0, nil, h.dummySet
}

// acquire takes a hashing slot. A caller waits at most the queue timeout,
// and only when fewer than MaxQueue callers already wait: under a flood a
// refused caller learns at once to retry, instead of joining a queue that
// would only grow.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	select {
	case h.slots <- struct{}{}:
		h.onWait(0)
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxQueue {
		h.waiting.Add(-1)
		return fmt.Errorf("password: hash queue full: %w", latchkey.ErrOverloaded)
	}
	defer h.waiting.Add(-1)
	start := h.now()
	defer func() { h.onWait(h.now().Sub(start)) }()
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("password: no hash slot within %v: %w", h.timeout, latchkey.ErrOverloaded)
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hash slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// InUse returns how many hashing slots are taken now, of MaxConcurrent.
func (h *Hasher) InUse() int { return len(h.slots) }
