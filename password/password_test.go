package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// newHasher returns a Hasher with cheap parameters unless opts sets them,
// and a counter of the key derivations it computed. Unless opts sets
// Sleep, failed verifications are not padded: a slot held for seconds by
// a test would make the floor seconds long. The floor's tests are in
// floor_test.go.
func newHasher(tb testing.TB, opts Options) (*Hasher, *atomic.Int64) {
	tb.Helper()
	if opts.Params == (Argon2id{}) {
		opts.Params = cheap
	}
	if opts.Sleep == nil {
		opts.Sleep = func(context.Context, time.Duration) {}
	}
	n := new(atomic.Int64)
	next := opts.OnCompute
	opts.OnCompute = func() {
		n.Add(1)
		if next != nil {
			next()
		}
	}
	return New(opts), n
}

// verify calls h.Verify and fails the test on an error.
func verify(tb testing.TB, h *Hasher, pw latchkey.Password, encoded string) (ok, rehash bool) {
	tb.Helper()
	ok, rehash, err := h.Verify(context.Background(), pw, encoded)
	if err != nil {
		tb.Fatalf("Verify(%q): %v", encoded, err)
	}
	return ok, rehash
}

func TestHashVerify(t *testing.T) {
	for _, c := range []struct {
		name   string
		params Argon2id
		pw     latchkey.Password
	}{
		{"cheap", cheap, "correct horse battery staple"},
		{"two lanes", Argon2id{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, "correct horse battery staple"},
		{"long salt and key", Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 64, KeyLen: 128}, "correct horse battery staple"},
		{"non-ASCII", cheap, "Пароль — это не слово 🔑"},
		{"empty", cheap, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, n := newHasher(t, Options{Params: c.params})
			encoded, err := h.Hash(context.Background(), c.pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(encoded, "$argon2id$v=19$") {
				t.Errorf("Hash = %q, want a PHC string", encoded)
			}
			if ok, rehash := verify(t, h, c.pw, encoded); !ok || rehash {
				t.Errorf("Verify(right password) = %v, %v; want true, false", ok, rehash)
			}
			if ok, rehash := verify(t, h, c.pw+"x", encoded); ok || rehash {
				t.Errorf("Verify(wrong password) = %v, %v; want false, false", ok, rehash)
			}
			if got := n.Load(); got != 3 {
				t.Errorf("%d key derivations, want 3", got)
			}
			again, err := h.Hash(context.Background(), c.pw)
			if err != nil {
				t.Fatal(err)
			}
			if again == encoded {
				t.Error("two hashes of one password are equal: the salt is not fresh")
			}
		})
	}
}

func TestIsOwn(t *testing.T) {
	h, _ := newHasher(t, Options{})
	own, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		encoded string
		want    bool
	}{
		{own, true},
		{"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5", true},
		{"argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$a2V5", false}, // Django's
		{"pbkdf2_sha256$600000$salt$a2V5", false},
		{"bcrypt_sha256$$2b$12$saltsaltsaltsaltsaltsa", false},
		{"md5$salt$0123456789abcdef", false},
		{"!unusable", false},
		{"", false},
	} {
		if got := IsOwn(c.encoded); got != c.want {
			t.Errorf("IsOwn(%q) = %v, want %v", c.encoded, got, c.want)
		}
	}
}

// TestHashMatchesReference checks that Hash writes byte for byte what the
// reference argon2 tool writes for the same salt.
func TestHashMatchesReference(t *testing.T) {
	h, _ := newHasher(t, Options{Rand: strings.NewReader("saltsaltsaltsalt")})
	got, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if got != refM64T1P1 {
		t.Errorf("Hash = %q, want %q", got, refM64T1P1)
	}
}

func TestVerifyReference(t *testing.T) {
	for _, c := range []struct {
		name       string
		encoded    string
		pw         latchkey.Password
		ok, rehash bool
	}{
		{"same params", refM64T1P1, "correct horse", true, false},
		{"less memory", refM32T1P1, "correct horse", true, true},
		{"more passes and lanes", refM64T2P2, "correct horse", true, false},
		{"wrong password", refM64T1P1, "correct horse!", false, false},
		{"weaker but wrong password", refM32T1P1, "Correct horse", false, false},
		{"other scheme", "plain$correct horse", "correct horse", true, true},
		{"other scheme, wrong password", "plain$correct horse", "incorrect horse", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, n := newHasher(t, Options{Schemes: []Scheme{plain{}}})
			ok, rehash := verify(t, h, c.pw, c.encoded)
			if ok != c.ok || rehash != c.rehash {
				t.Errorf("Verify = %v, %v; want %v, %v", ok, rehash, c.ok, c.rehash)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("%d key derivations, want 1", got)
			}
		})
	}
}

// TestDefaultParams runs the one check at full cost.
func TestDefaultParams(t *testing.T) {
	h, _ := newHasher(t, Options{Params: DefaultArgon2id})
	if ok, rehash := verify(t, h, "correct horse", refDefault); !ok || rehash {
		t.Errorf("Verify(reference) = %v, %v; want true, false", ok, rehash)
	}
	encoded, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(encoded, want) {
		t.Errorf("Hash = %q, want prefix %q", encoded, want)
	}
	if ok, rehash := verify(t, h, "correct horse", encoded); !ok || rehash {
		t.Errorf("Verify(own hash) = %v, %v; want true, false", ok, rehash)
	}
	// A Hasher configured more strongly asks for the default hash to be
	// replaced.
	stronger, _ := newHasher(t, Options{Params: Argon2id{Memory: 19456, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if ok, rehash := verify(t, stronger, "correct horse", refDefault); !ok || !rehash {
		t.Errorf("stronger Hasher: Verify(reference) = %v, %v; want true, true", ok, rehash)
	}
}

// TestUnusableHashCostsOneHash checks that a hash that cannot match costs
// exactly one key derivation with the configured parameters, like a wrong
// password: the crafted ones would allocate 64 MiB or more if computed,
// the configured cost is 64 KiB.
func TestUnusableHashCostsOneHash(t *testing.T) {
	const big = 64 * 1024 // KiB
	for _, c := range []struct {
		name    string
		encoded string
	}{
		{"wrong password", refM64T1P1},
		{"empty (unknown user)", ""},
		{"unusable", "!"},
		{"Django unusable", "!Kx9Tz1JwQm0pYq3rV8sD2fG5hJ7kL4nB6cX0zA1s"},
		{"unusable argon2id", "!" + refM64T1P1},
		{"unknown scheme", "pbkdf2_sha256$870000$c2FsdA$aGFzaA=="},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"malformed argon2id", "$argon2id$v=19$m=64,t=1,p=1$"},
		{"malformed other scheme", "plain$"},
		{"version 16", strings.Replace(craft(big, 1, 1, 16, 32), "v=19", "v=16", 1)},
		{"memory over cap", craft(1<<20, 1, 1, 16, 32)},
		{"time over cap", craft(big, maxTime+1, 1, 16, 32)},
		{"work over cap", craft(maxMemory, 5, 1, 16, 32)},
		{"lanes over cap", craft(big, 1, maxThreads+1, 16, 32)},
		{"salt too short", craft(big, 1, 1, minSaltLen-1, 32)},
		{"key too long", craft(big, 1, 1, 16, maxKeyLen+1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, n := newHasher(t, Options{Schemes: []Scheme{plain{}}})
			var ok, rehash bool
			bytes := allocated(func() { ok, rehash = verify(t, h, "correct horse!", c.encoded) })
			if ok || rehash {
				t.Errorf("Verify = %v, %v; want false, false", ok, rehash)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("%d key derivations, want 1", got)
			}
			if bytes > 8<<20 {
				t.Errorf("Verify allocated %d bytes: it derived a key with the crafted parameters", bytes)
			}
		})
	}
}

// allocated returns how many bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestNewPanicsOnBadParams(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Argon2id
	}{
		{"no passes", Argon2id{Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"memory over cap", Argon2id{Memory: maxMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"short salt", Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", c.p)
				}
			}()
			New(Options{Params: c.p})
		})
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()

	t.Run("queue full", func(t *testing.T) {
		g := newGate()
		h, _ := newHasher(t, Options{Schemes: []Scheme{g}, MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Minute})
		done := hold(t, h, g)
		queued := make(chan error, 1)
		go func() {
			_, _, err := h.Verify(ctx, "correct horse", refM64T1P1)
			queued <- err
		}()
		waitQueued(t, h, 1)
		_, _, err := h.Verify(ctx, "correct horse", refM64T1P1)
		checkOverloaded(t, err)
		_, err = h.Hash(ctx, "correct horse")
		checkOverloaded(t, err)
		done()
		if err := <-queued; err != nil {
			t.Errorf("queued caller: %v", err)
		}
	})

	t.Run("queue timeout", func(t *testing.T) {
		g := newGate()
		h, _ := newHasher(t, Options{Schemes: []Scheme{g}, MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 10 * time.Millisecond})
		hold(t, h, g)
		_, _, err := h.Verify(ctx, "correct horse", refM64T1P1)
		checkOverloaded(t, err)
	})

	t.Run("waits timed, slots counted", func(t *testing.T) {
		g := newGate()
		var mu sync.Mutex
		var waits []time.Duration
		h, _ := newHasher(t, Options{Schemes: []Scheme{g}, MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 10 * time.Millisecond,
			OnWait: func(d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() }})
		if n := h.InUse(); n != 0 {
			t.Fatalf("InUse = %d before any hash", n)
		}
		done := hold(t, h, g)
		if n := h.InUse(); n != 1 {
			t.Fatalf("InUse = %d while a hash runs", n)
		}
		_, _, err := h.Verify(ctx, "correct horse", refM64T1P1)
		checkOverloaded(t, err)
		done()
		mu.Lock()
		defer mu.Unlock()
		if len(waits) != 2 || waits[0] != 0 || waits[1] < 10*time.Millisecond {
			t.Fatalf("waits %v, want 0 then the queue timeout", waits)
		}
	})

	t.Run("no queue", func(t *testing.T) {
		g := newGate()
		h, _ := newHasher(t, Options{Schemes: []Scheme{g}, MaxConcurrent: 1, MaxQueue: -1, QueueTimeout: time.Minute})
		hold(t, h, g)
		_, err := h.Hash(ctx, "correct horse")
		checkOverloaded(t, err)
	})

	t.Run("cancelled while queued", func(t *testing.T) {
		g := newGate()
		h, n := newHasher(t, Options{Schemes: []Scheme{g}, MaxConcurrent: 1, QueueTimeout: time.Minute})
		hold(t, h, g)
		cctx, cancel := context.WithCancel(ctx)
		queued := make(chan error, 1)
		go func() {
			_, _, err := h.Verify(cctx, "correct horse", refM64T1P1)
			queued <- err
		}()
		waitQueued(t, h, 1)
		cancel()
		err := <-queued
		if !errors.Is(err, context.Canceled) || errors.Is(err, latchkey.ErrOverloaded) {
			t.Errorf("Verify = %v, want context.Canceled", err)
		}
		waitQueued(t, h, 0)
		if got := n.Load(); got != 0 {
			t.Errorf("%d key derivations, want 0", got)
		}
	})

	t.Run("cancelled before", func(t *testing.T) {
		h, n := newHasher(t, Options{})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := h.Verify(cctx, "correct horse", refM64T1P1); !errors.Is(err, context.Canceled) {
			t.Errorf("Verify = %v, want context.Canceled", err)
		}
		if _, err := h.Hash(cctx, "correct horse"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want context.Canceled", err)
		}
		if got := n.Load(); got != 0 {
			t.Errorf("%d key derivations, want 0", got)
		}
	})

	for _, c := range []struct {
		name          string
		maxConcurrent int
		maxQueue      int
		timeout       time.Duration
		allSucceed    bool
	}{
		{"bound holds, all queue", 2, 100, time.Minute, true},
		{"bound holds, excess refused", 1, 1, time.Millisecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			inflight, peak := 0, 0
			// OnCompute runs while the slot is held; sleeping in it makes
			// any overlap beyond the bound show.
			track := func() {
				mu.Lock()
				inflight++
				peak = max(peak, inflight)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				inflight--
				mu.Unlock()
			}
			h, n := newHasher(t, Options{MaxConcurrent: c.maxConcurrent, MaxQueue: c.maxQueue, QueueTimeout: c.timeout, OnCompute: track})
			const callers = 32
			errs := make(chan error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					var err error
					if i%2 == 0 {
						_, err = h.Hash(ctx, "correct horse")
					} else {
						_, _, err = h.Verify(ctx, "correct horse", refM64T1P1)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			var ok int64
			for err := range errs {
				switch {
				case err == nil:
					ok++
				case c.allSucceed || !errors.Is(err, latchkey.ErrOverloaded):
					t.Errorf("caller: %v", err)
				}
			}
			if peak > c.maxConcurrent {
				t.Errorf("%d hashes ran at once, bound %d", peak, c.maxConcurrent)
			}
			if ok == 0 || ok != n.Load() {
				t.Errorf("%d callers succeeded, %d key derivations", ok, n.Load())
			}
		})
	}
}

func checkOverloaded(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, latchkey.ErrOverloaded) {
		tb.Fatalf("err = %v, want ErrOverloaded", err)
	}
	if e := latchkey.AsError(err); e.RetryAfter <= 0 {
		tb.Errorf("RetryAfter = %v, want > 0", e.RetryAfter)
	}
}

// gate is a Scheme whose Verify holds its slot until released.
type gate struct{ entered, release chan struct{} }

func newGate() gate { return gate{make(chan struct{}), make(chan struct{})} }

func (gate) Identify(encoded string) bool { return encoded == "$gate$" }

func (gate) Params(string) string { return "gate" }

func (g gate) Verify(latchkey.Password, string) (ok, weaker bool, err error) {
	g.entered <- struct{}{}
	<-g.release
	return true, false, nil
}

// hold takes h's only slot through g and returns a func that gives it back
// and waits until the holder returned; cleanup calls it too.
func hold(tb testing.TB, h *Hasher, g gate) (done func()) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(context.Background(), "", "$gate$")
		errc <- err
	}()
	<-g.entered
	var once sync.Once
	done = func() {
		once.Do(func() {
			close(g.release)
			if err := <-errc; err != nil {
				tb.Errorf("holder: %v", err)
			}
		})
	}
	tb.Cleanup(done)
	return done
}

// waitQueued waits until n callers wait for a slot of h.
func waitQueued(tb testing.TB, h *Hasher, n int64) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); h.waiting.Load() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("%d callers waiting, want %d", h.waiting.Load(), n)
		}
	}
}

// plain is a Scheme for tests: "plain$<password>", "plain$" malformed.
type plain struct{}

func (plain) Identify(encoded string) bool { return strings.HasPrefix(encoded, "plain$") }

func (plain) Params(encoded string) string {
	if encoded == "plain$" {
		return ""
	}
	return "plain"
}

func (plain) Verify(pw latchkey.Password, encoded string) (ok, weaker bool, err error) {
	want := strings.TrimPrefix(encoded, "plain$")
	if want == "" {
		return false, false, ErrMalformed
	}
	return string(pw) == want, false, nil
}

func BenchmarkHash(b *testing.B) {
	h := New(Options{})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := New(Options{})
	ctx := b.Context()
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", encoded); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
