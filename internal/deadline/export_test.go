package deadline

import "time"

// Sweep runs one sweep at now, as the sweeper does every tick.
func (l *Listener) Sweep(now time.Time) bool { return l.sweep(now) }
