package deadline

import "time"

// Sweep runs one sweep at now, as the sweeper does every tick.
func (l *Listener) Sweep(now time.Time) bool { return l.sweep(now) }

// Done is closed once the listener and all its connections are closed and
// the sweeper has stopped.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Len is the number of open connections.
func (l *Listener) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
