package password

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The floor that failed verifications are padded to: for each parameter
// set, an envelope of what its checks cost lately, and the floor is the
// highest of them.
const (
	// maxSets bounds the parameter sets followed one by one. Stored
	// hashes are outside input: a crafted table of hashes that differ in
	// their iteration counts must not grow the map without end. Sets
	// beyond it share one envelope, overflowSet.
	maxSets     = 64
	overflowSet = "(other)"
	// peakHalfLife is how fast a slow check's mark fades towards its
	// set's typical cost: the floor follows a loaded machine at once, and
	// a single outlier stops costing every failed login within a minute or
	// two.
	peakHalfLife = 30 * time.Second
	// typicalWeight is how many checks a set's typical cost averages
	// over: each moves it 1/typicalWeight of the way.
	typicalWeight = 8
)

// costs holds the cost envelope of each parameter set. It is safe for
// concurrent use.
type costs struct {
	mu   sync.Mutex
	sets map[string]*cost
}

// cost is one parameter set's envelope: its typical cost, an average of
// its checks, and above it the mark of the slowest recent check, which
// fades back to the typical cost. With no new checks the envelope stays
// at the typical cost: a set checked rarely (an old Django hash) keeps its
// place in the floor.
type cost struct {
	typical time.Duration
	peak    time.Duration // the envelope at at
	at      time.Time
}

// level returns the envelope at now.
func (c *cost) level(now time.Time) time.Duration {
	age := now.Sub(c.at)
	if c.peak <= c.typical || age <= 0 {
		return max(c.peak, c.typical)
	}
	fade := math.Exp2(-float64(age) / float64(peakHalfLife))
	return c.typical + time.Duration(float64(c.peak-c.typical)*fade)
}

// add records that a check of set cost d, finished at now, and returns
// the floor.
func (cs *costs) add(set string, d time.Duration, now time.Time) time.Duration {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.sets[set]
	if c == nil && len(cs.sets) >= maxSets {
		set = overflowSet
		c = cs.sets[set]
	}
	if c == nil {
		cs.sets[set] = &cost{typical: d, peak: d, at: now}
	} else {
		c.peak, c.at = max(c.level(now), d), now
		c.typical += (d - c.typical) / typicalWeight
	}
	return cs.floor(now)
}

// floor returns the highest envelope at now; cs.mu is held.
func (cs *costs) floor(now time.Time) time.Duration {
	var f time.Duration
	for _, c := range cs.sets {
		f = max(f, c.level(now))
	}
	return f
}

// known reports whether set has an envelope of its own.
func (cs *costs) known(set string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.sets[set] != nil
}

// Floor returns the time a verification that does not match takes at
// least, counted from when it has a hashing slot: the recent cost of the
// slowest parameter set checked or calibrated. It is 0 before the first
// check.
func (h *Hasher) Floor() time.Duration {
	h.costs.mu.Lock()
	defer h.costs.mu.Unlock()
	return h.costs.floor(h.now())
}

// Calibrate makes the floor cover every stored hash before the first
// login, so that no failed login is quicker than another from the start:
// it walks the stored hashes with each (a latchkey.Store's PasswordHashes)
// and times a random password against one hash of each parameter set
// not seen yet, and the dummy. Each is timed three times and the fastest
// counts: a first run may pay for memory the process never touched (and
// a second too, before the first's is collected: Django's argon2 takes
// 100 MiB), and that one-off must not pin the floor.
//
// A parameter set that appears later (an import into a running server) is
// learnt at its first check, which is then the one failed login not
// padded to it. Calibrate returns how many parameter sets it timed. It
// takes hashing slots as Verify does, and fails with each's error or an
// overloaded Hasher's.
func (h *Hasher) Calibrate(ctx context.Context, each func(ctx context.Context, fn func(encoded string) error) error) (int, error) {
	exemplars := map[string]string{} // parameter set → a hash of it
	if !h.costs.known(h.dummySet) {
		exemplars[h.dummySet] = ""
	}
	err := each(ctx, func(encoded string) error {
		_, _, set := h.scheme(encoded)
		if _, ok := exemplars[set]; !ok && len(exemplars) < maxSets && !h.costs.known(set) {
			exemplars[set] = encoded
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("password: calibrate: %w", err)
	}
	pw := latchkey.Password(rand.Text()) // matches no hash
	sets := make([]string, 0, len(exemplars))
	for set := range exemplars {
		sets = append(sets, set)
	}
	slices.Sort(sets)
	for _, set := range sets {
		var best verification
		for i := range 3 {
			v, err := h.measure(ctx, pw, exemplars[set])
			if err != nil {
				return 0, fmt.Errorf("password: calibrate: %w", err)
			}
			if i == 0 || v.spent < best.spent {
				best = v
			}
		}
		h.costs.add(best.set, best.spent, best.start.Add(best.spent))
	}
	return len(sets), nil
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
