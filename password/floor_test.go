package password

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// clock is a Hasher's clock for tests: a check costs what the test says,
// and the padding's waits are recorded and move the clock.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	next  time.Duration // what the next check costs; then dummyCost again
	slept []time.Duration
	// sleeping, when not nil, is called at each wait.
	sleeping func(ctx context.Context)
}

const dummyCost = 30 * time.Millisecond

func newClock() *clock {
	return &clock{t: time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC), next: dummyCost}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// costs sets what the next check costs.
func (c *clock) costs(d time.Duration) {
	c.mu.Lock()
	c.next = d
	c.mu.Unlock()
}

// compute is the Hasher's OnCompute: the check just done took c.next.
func (c *clock) compute() {
	c.mu.Lock()
	c.t = c.t.Add(c.next)
	c.next = dummyCost
	c.mu.Unlock()
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) {
	if c.sleeping != nil {
		c.sleeping(ctx)
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
}

// took calls h.Verify and returns its result and how long it took on c.
func (c *clock) took(t *testing.T, h *Hasher, pw latchkey.Password, encoded string) (bool, time.Duration) {
	t.Helper()
	start := c.Now()
	ok, _, err := h.Verify(context.Background(), pw, encoded)
	if err != nil {
		t.Fatalf("Verify(%q): %v", encoded, err)
	}
	return ok, c.Now().Sub(start)
}

// TestFailedVerificationsTakeTheFloor: once a wrong password for a costly
// hash (pbkdf2_sha256) was checked, a wrong password for a cheap one
// (md5), an unknown user and an unusable or malformed hash all take as
// long; right passwords take what they cost. Before the floor, the md5
// and unknown-user failures took 2 ms and 30 ms to pbkdf2's 180 ms.
func TestFailedVerificationsTakeTheFloor(t *testing.T) {
	const (
		pbkdf2Cost = 180 * time.Millisecond
		md5Cost    = 2 * time.Millisecond
	)
	const (
		pbkdf2   = "pbkdf2_sha256$1000$seasalt12345$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=" // "correct horse"
		pbkdf2PW = "correct horse"
		md5      = "md5$U3iEfI03OXnWUyj10cEYyf$90a3ac5a099ded9708f1036d5d1b3b26" // "md5 is weak"
		md5PW    = "md5 is weak"
	)
	clk := newClock()
	h, _ := newHasher(t, Options{Schemes: DjangoSchemes(), MaxConcurrent: 1, Now: clk.Now, Sleep: clk.Sleep, OnCompute: clk.compute})
	clk.sleeping = func(context.Context) {
		if n := len(h.slots); n != 0 {
			t.Errorf("padding while holding a hashing slot (%d taken)", n)
		}
	}
	for _, c := range []struct {
		name    string
		cost    time.Duration
		pw      latchkey.Password
		encoded string
		ok      bool
		want    time.Duration
	}{
		{"pbkdf2_sha256, wrong password", pbkdf2Cost, "wrong", pbkdf2, false, pbkdf2Cost},
		{"md5, wrong password", md5Cost, "wrong", md5, false, pbkdf2Cost},
		{"unknown user", dummyCost, "wrong", "", false, pbkdf2Cost},
		{"unusable", dummyCost, md5PW, "!" + md5, false, pbkdf2Cost},
		{"malformed", dummyCost, md5PW, "md5$salt$0123", false, pbkdf2Cost},
		{"md5, right password", md5Cost, md5PW, md5, true, md5Cost},
		{"pbkdf2_sha256, right password", pbkdf2Cost, pbkdf2PW, pbkdf2, true, pbkdf2Cost},
		{"md5, wrong password again", md5Cost, "wrong", md5, false, pbkdf2Cost},
		{"unknown user again", dummyCost, "wrong", "", false, pbkdf2Cost},
	} {
		clk.costs(c.cost)
		ok, took := clk.took(t, h, c.pw, c.encoded)
		if ok != c.ok || took != c.want {
			t.Errorf("%s: Verify = %v after %v, want %v after %v", c.name, ok, took, c.ok, c.want)
		}
	}
	if f := h.Floor(); f != pbkdf2Cost {
		t.Errorf("Floor = %v, want %v", f, pbkdf2Cost)
	}
	want := []time.Duration{178, 150, 150, 150, 178, 150}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(clk.slept) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", clk.slept, want)
	}
}

// TestFloorCountsFromTheSlot: a failed check that queued for its slot
// waits for the floor from when it had the slot, as a costly check that
// queued as long would have taken the floor after its wait.
func TestFloorCountsFromTheSlot(t *testing.T) {
	clk := newClock()
	g := newGate()
	h, _ := newHasher(t, Options{Schemes: []Scheme{g, plain{}}, MaxConcurrent: 1, Now: clk.Now, Sleep: clk.Sleep, OnCompute: clk.compute})
	clk.costs(100 * time.Millisecond)
	done := hold(t, h, g) // a right password: no wait
	queued := make(chan time.Duration, 1)
	go func() {
		start := clk.Now()
		if ok, _, err := h.Verify(context.Background(), "wrong", "plain$right"); ok || err != nil {
			t.Errorf("queued Verify = %v, %v; want false, nil", ok, err)
		}
		queued <- clk.Now().Sub(start)
	}()
	waitQueued(t, h, 1)
	done()
	// The gate's check took 100ms and set the floor; the queued one began
	// when the gate's ended.
	if took := <-queued; took != 200*time.Millisecond {
		t.Errorf("queued failed check took %v, want 100ms queued and 100ms from its slot", took)
	}
}

func TestFloorEnvelope(t *testing.T) {
	t0 := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	near := func(got, want time.Duration) bool { return got > want-time.Millisecond && got < want+time.Millisecond }

	t.Run("outlier fades", func(t *testing.T) {
		cs := costs{sets: map[string]*cost{}}
		if f := cs.add("pbkdf2", ms(100), t0); f != ms(100) {
			t.Fatalf("floor %v after one check of 100ms", f)
		}
		// A slow check raises the floor at once...
		if f := cs.add("pbkdf2", ms(400), t0); f != ms(400) {
			t.Fatalf("floor %v after a check of 400ms, want 400ms", f)
		}
		// ...and fades towards the typical cost, 100 + 300/8 ms.
		typical := ms(137.5)
		for _, c := range []struct {
			after time.Duration
			want  time.Duration
		}{
			{0, ms(400)},
			{peakHalfLife, typical + (ms(400)-typical)/2},
			{30 * peakHalfLife, typical},
		} {
			cs.mu.Lock()
			f := cs.floor(t0.Add(c.after))
			cs.mu.Unlock()
			if !near(f, c.want) {
				t.Errorf("floor %v after the outlier: %v, want %v", c.after, f, c.want)
			}
		}
		// Ordinary checks bring the typical cost back.
		at := t0.Add(30 * peakHalfLife)
		var f time.Duration
		for range 40 {
			at = at.Add(10 * time.Second)
			f = cs.add("pbkdf2", ms(100), at)
		}
		if f < ms(100) || f > ms(102) {
			t.Errorf("floor %v after 40 checks of 100ms, want 100ms", f)
		}
	})

	t.Run("slowest set, however rare", func(t *testing.T) {
		cs := costs{sets: map[string]*cost{}}
		cs.add("pbkdf2_sha256$870000", ms(180), t0)
		at := t0
		for range 1000 {
			at = at.Add(time.Second)
			cs.add("md5", ms(0.01), at)
			cs.add("argon2id$dummy", ms(30), at)
		}
		if f := cs.add("md5", ms(0.01), at.Add(24*time.Hour)); f != ms(180) {
			t.Errorf("floor %v a day after the one pbkdf2 check, want 180ms", f)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		cs := costs{sets: map[string]*cost{}}
		for i := range 2 * maxSets {
			cs.add(fmt.Sprintf("pbkdf2_sha256$%d", i+1), ms(1), t0)
		}
		if n := len(cs.sets); n > maxSets+1 {
			t.Errorf("%d parameter sets followed, want at most %d", n, maxSets+1)
		}
		// A set past the bound still counts.
		if f := cs.add("pbkdf2_sha256$2000000", ms(500), t0); f != ms(500) {
			t.Errorf("floor %v after a 500ms check of a set past the bound, want 500ms", f)
		}
	})
}

// priced is a Scheme for tests: "priced$<ms>$<password>" matches its
// password, and a check costs <ms> on clk, three times that the first
// time (memory never touched before).
type priced struct {
	clk  *clock
	mu   *sync.Mutex
	seen map[string]bool
}

func newPriced(clk *clock) priced { return priced{clk, new(sync.Mutex), map[string]bool{}} }

func (priced) Identify(encoded string) bool { return strings.HasPrefix(encoded, "priced$") }

func (priced) parse(encoded string) (cost time.Duration, pw string, ok bool) {
	f := strings.SplitN(encoded, "$", 3)
	if len(f) != 3 {
		return 0, "", false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, "", false
	}
	return time.Duration(n) * time.Millisecond, f[2], true
}

func (p priced) Params(encoded string) string {
	cost, _, ok := p.parse(encoded)
	if !ok {
		return ""
	}
	return fmt.Sprintf("priced$%d", cost.Milliseconds())
}

func (p priced) Verify(pw latchkey.Password, encoded string) (ok, weaker bool, err error) {
	cost, want, ok := p.parse(encoded)
	if !ok {
		return false, false, ErrMalformed
	}
	p.mu.Lock()
	if set := p.Params(encoded); !p.seen[set] {
		p.seen[set] = true
		cost *= 3
	}
	p.mu.Unlock()
	p.clk.costs(cost)
	return string(pw) == want, false, nil
}

// walk returns a PasswordHashes over hashes.
func walk(hashes ...string) func(context.Context, func(string) error) error {
	return func(ctx context.Context, fn func(string) error) error {
		for _, h := range hashes {
			if err := fn(h); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestCalibrate(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	h, n := newHasher(t, Options{Schemes: []Scheme{newPriced(clk)}, Now: clk.Now, Sleep: clk.Sleep, OnCompute: clk.compute})

	// Before any check there is no floor.
	if f := h.Floor(); f != 0 {
		t.Errorf("Floor before any check = %v, want 0", f)
	}
	sets, err := h.Calibrate(ctx, walk("priced$180$a", "priced$180$b", "priced$2$c", "", "!unusable", "priced$x$malformed"))
	if err != nil {
		t.Fatal(err)
	}
	// The dummy, priced$180 and priced$2, each three times; the fastest
	// counts, not the first run at three times the cost.
	if sets != 3 || n.Load() != 9 {
		t.Errorf("Calibrate timed %d sets in %d checks, want 3 in 9", sets, n.Load())
	}
	if f := h.Floor(); f != 180*time.Millisecond {
		t.Errorf("Floor after calibration = %v, want 180ms", f)
	}
	// The first failed logins are padded already.
	for _, enc := range []string{"priced$2$c", ""} {
		if ok, took := clk.took(t, h, "wrong", enc); ok || took != 180*time.Millisecond {
			t.Errorf("Verify(wrong, %q) = %v after %v, want false after 180ms", enc, ok, took)
		}
	}

	// Again, with a set the store did not have before (an import): only
	// that one is timed.
	n.Store(0)
	sets, err = h.Calibrate(ctx, walk("priced$180$a", "priced$2$c", "priced$500$d"))
	if err != nil {
		t.Fatal(err)
	}
	if sets != 1 || n.Load() != 3 {
		t.Errorf("second Calibrate timed %d sets in %d checks, want 1 in 3", sets, n.Load())
	}
	if f := h.Floor(); f != 500*time.Millisecond {
		t.Errorf("Floor = %v, want 500ms", f)
	}

	// A set never calibrated is learnt at its first check.
	if ok, took := clk.took(t, h, "wrong", "priced$700$e"); ok || took != 3*700*time.Millisecond {
		t.Errorf("Verify(wrong, new set) = %v after %v, want false after its own cost, 2.1s", ok, took)
	}
	if ok, took := clk.took(t, h, "wrong", "priced$2$c"); ok || took != 3*700*time.Millisecond {
		t.Errorf("Verify(wrong) after a new set = %v after %v, want false after 2.1s", ok, took)
	}

	t.Run("walk fails", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := h.Calibrate(ctx, func(context.Context, func(string) error) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("Calibrate = %v, want %v", err, boom)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		h, _ := newHasher(t, Options{Now: clk.Now, Sleep: clk.Sleep, OnCompute: clk.compute})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := h.Calibrate(cctx, walk()); !errors.Is(err, context.Canceled) {
			t.Errorf("Calibrate = %v, want context.Canceled", err)
		}
	})
}

// TestParams names the parameter sets of real hashes: the Django
// fixtures' (shared/fixtures/django) and the Hasher's own.
func TestParams(t *testing.T) {
	h, _ := newHasher(t, Options{Schemes: DjangoSchemes()})
	own, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		encoded string
		want    string
	}{
		{own, "argon2id$m=64,t=1,p=1"},
		{refM64T2P2, "argon2id$m=64,t=2,p=2"},
		{"pbkdf2_sha256$870000$seasalt12345$Z+nnHCjHo1EcXJHpSbmoQLbOnqBar149Gl7nrWbhwYw=", "pbkdf2_sha256$870000"},
		{"pbkdf2_sha1$260000$6aj5sV1Pq1euNkltJuBHCg$E6cTXdgVgGsYozSpqqmiEyk/x8s=", "pbkdf2_sha1$260000"},
		{"argon2$argon2id$v=19$m=102400,t=2,p=8$ODA2SU9HUzR0elg3UFZ4WlFNNVNVNQ$dO7wqa1QuHEPiM65RFtMiA", "argon2$argon2id$v=19$m=102400,t=2,p=8"},
		{craftArgon2("argon2i", "", 64, 1, 1), "argon2$argon2i$v=16$m=64,t=1,p=1"},
		{"bcrypt_sha256$$2b$12$jC2ev41Tv6v4DtqYm76sEO6zAQp2Zvr9AdyGqSgrC4E5oGFXPdlLe", "bcrypt_sha256$12"},
		{"bcrypt$$2b$12$YNLYJ1PIgWlO35pSxkzIhenO6YvZbu37iJf.520jEArbYODAkiWxq", "bcrypt$12"},
		{"scrypt$16384$a604b8314e449081accab6$8$1$hwoXC2ZORmXWAQZZ+GBeOHiEkDRkYgLRkYJsx/viAaHG7DhRsNIxa6AbLEBDudF5DfsOo5njTCVKboAdUXVX1w==", "scrypt$n=16384,r=8,p=1"},
		{"md5$U3iEfI03OXnWUyj10cEYyf$90a3ac5a099ded9708f1036d5d1b3b26", "md5"},
		{"e217371f59616634182cd9bd71b3664a", "md5"},
		{"sha1$v4U7kUyK287raazPwJZQyk$ebfe3ee8402ca1a61c3328b6ef23994a2e512364", "sha1"},
		{"crypt$$abhfCpXqd4GrI", "crypt"},
		// What cannot be checked costs the dummy.
		{"", h.dummySet},
		{"!tX7LK2xyJqOwMtmTdGpfFz7d5xyKycaZCO1Q7nSG", h.dummySet},
		{craftPBKDF2(DjangoPBKDF2, "1000000000"), h.dummySet},
		{"md5$salt$0123", h.dummySet},
		{"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", h.dummySet},
	} {
		if _, _, got := h.scheme(c.encoded); got != c.want {
			t.Errorf("parameter set of %.40q = %q, want %q", c.encoded, got, c.want)
		}
	}
}
