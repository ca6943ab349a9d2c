// Package deadline keeps the read and write deadlines of a listener's
// connections in memory and enforces them from one sweeper goroutine.
//
// net/http sets eight deadlines on every keep-alive request (the header,
// the whole request, the background read, the write, the idle wait); each
// is a runtime timer started, moved or stopped under the descriptor's
// lock, about 5 % of a cached token check. Here a deadline in the future
// is a store under the connection's own mutex, and the sweeper, every
// tick, makes the reads or writes whose deadline has passed fail as a
// timer would (os.ErrDeadlineExceeded). A deadline fires no earlier than
// asked and at most one tick and one sweep later; one already in the past
// (net/http's way of waking its background read) takes effect at once.
package deadline

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTick is the sweeper's period when NewListener is given none: the
// most a timeout can fire late.
const DefaultTick = 250 * time.Millisecond

// past is the deadline the sweeper sets to fail a blocked read or write.
var past = time.Unix(1, 0)

// Listener is a net.Listener whose connections' deadlines are swept.
type Listener struct {
	net.Listener
	tick time.Duration

	// swept is the start of the last sweep: a deadline not after it has
	// passed. It is never nil.
	swept atomic.Pointer[time.Time]

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	done   chan struct{} // closed when the sweeper has stopped
}

// NewListener wraps ln; tick ≤ 0 is DefaultTick. The sweeper runs until
// the listener is closed and its last connection too, so that a server
// draining its requests on shutdown keeps its timeouts.
func NewListener(ln net.Listener, tick time.Duration) *Listener {
	if tick <= 0 {
		tick = DefaultTick
	}
	l := &Listener{Listener: ln, tick: tick, conns: make(map[*conn]struct{}), done: make(chan struct{})}
	now := time.Now()
	l.swept.Store(&now)
	go l.sweeper()
	return l
}

// Accept returns the next connection, its deadlines swept.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, l: l}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// Close closes the listener; the connections it accepted stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.Listener.Close()
}

func (l *Listener) sweeper() {
	defer close(l.done)
	t := time.NewTicker(l.tick)
	defer t.Stop()
	for range t.C {
		if !l.sweep(time.Now()) {
			return
		}
	}
}

// sweep fails the reads and writes whose deadline is not after now; it
// reports whether the sweeper has more to do.
func (l *Listener) sweep(now time.Time) bool {
	l.swept.Store(&now)
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.expire(now)
	}
	return !l.closed || len(l.conns) > 0
}

func (l *Listener) remove(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// conn holds the deadlines net/http asks for; the underlying connection
// carries none but the past one that fails a read or write.
type conn struct {
	net.Conn
	l *Listener

	mu                      sync.Mutex
	read, write             time.Time // asked for; zero: none
	readFailed, writeFailed bool      // the underlying deadline is in the past
}

func (c *conn) SetDeadline(t time.Time) error      { return c.set(t, true, true) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.set(t, true, false) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.set(t, false, true) }

func (c *conn) set(t time.Time, read, write bool) error {
	passed := !t.IsZero() && !t.After(*c.l.swept.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if read {
		c.read = t
		err = c.apply(c.Conn.SetReadDeadline, &c.readFailed, t, passed)
	}
	if write {
		c.write = t
		if werr := c.apply(c.Conn.SetWriteDeadline, &c.writeFailed, t, passed); err == nil {
			err = werr
		}
	}
	return err
}

// apply brings the underlying deadline in line with a new one: the new one
// itself when it has passed, none when a passed one is being lifted, and
// nothing otherwise (the sweeper will tell).
func (c *conn) apply(set func(time.Time) error, failed *bool, t time.Time, passed bool) error {
	switch {
	case passed:
		*failed = true
		return set(t)
	case *failed:
		*failed = false
		return set(time.Time{})
	}
	return nil
}

// expire fails the connection's reads or writes whose deadline has passed.
func (c *conn) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readFailed && !c.read.IsZero() && !now.Before(c.read) {
		c.readFailed = true
		c.Conn.SetReadDeadline(past)
	}
	if !c.writeFailed && !c.write.IsZero() && !now.Before(c.write) {
		c.writeFailed = true
		c.Conn.SetWriteDeadline(past)
	}
}

func (c *conn) Close() error {
	c.l.remove(c)
	return c.Conn.Close()
}

// CloseWrite shuts the sending side, as net/http does before closing a
// connection whose request it did not read to the end.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom lets io.Copy into the connection use the underlying one's
// (sendfile or splice for a TCP connection).
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
