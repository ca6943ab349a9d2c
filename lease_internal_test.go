package latchkey

import (
	"testing"
	"time"
)

// TestCheckpoints: a rewind goes back to the newest checkpoint at or
// before the time asked, or to the oldest kept when none is that old; the
// checkpoints are spaced and bounded.
func TestCheckpoints(t *testing.T) {
	var cs checkpoints
	if got := cs.before(time.Unix(100, 0)); got != -1 {
		t.Fatalf("before on none = %d, want -1", got)
	}
	t0 := time.Unix(1000, 0)
	for i := range 200 {
		// Every 500ms: every other one is kept.
		cs.record(t0.Add(time.Duration(i)*500*time.Millisecond), int64(10*i))
	}
	if len(cs) != maxCheckpoints {
		t.Fatalf("%d checkpoints kept, want %d", len(cs), maxCheckpoints)
	}
	if covered := time.Duration(cs[len(cs)-1].at - cs[0].at); covered < 2*rewindWindow-checkpointEvery {
		t.Errorf("checkpoints cover %v, want about %v", covered, 2*rewindWindow)
	}
	last := t0.Add(199 * 500 * time.Millisecond)
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{last, 1980},                        // the newest kept (i = 198)
		{last.Add(-10 * time.Second), 1780}, // i = 178
		{last.Add(-10*time.Second + 999*time.Millisecond), 1800}, // i = 180
		{t0, cs[0].seq}, // older than any: the oldest
	} {
		if got := cs.before(tc.at); got != tc.want {
			t.Errorf("before(%v) = %d, want %d", tc.at.Sub(t0), got, tc.want)
		}
	}
}
