package latchkey

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// No stale answer after a revocation returns. Each process that caches
// holds a lease on its cache: it serves a cached entry only until
// MaxStaleness after the start of its last complete read of the change
// feed, which it reads every SyncInterval. A revocation commits (with its
// change entry), then answers only MaxStaleness after the commit: by then
// every other process has either read the feed from after the commit, and
// so dropped what was revoked, or stopped serving from its cache. Waiting
// is needed only when another process caches from the same store, which
// each one records in the store (RenewReader) while it runs; a lone
// process answers at once.
//
// Both waits are lengths of time measured each on one process's own clock,
// so the processes' clocks need not agree for them. The reader records are
// compared across clocks: a process stops serving from its cache clockSkew
// before its record expires, so that clocks that agree to within clockSkew
// never let a revoking process count it out while it still serves.

const (
	// readerTTL is how long a reader record lasts; Sync renews it once
	// half of that has passed.
	readerTTL = 10 * time.Second
	// clockSkew is how far the clocks of processes sharing a store may
	// disagree.
	clockSkew = time.Second
)

// lease is a process's hold on its cache.
type lease struct {
	id string // the reader record's id

	mu     sync.Mutex
	fed    int64 // unix ns: the feed is applied up to here, plus MaxStaleness
	record int64 // unix ns: the reader record expires here

	// until is min(fed, record - clockSkew): cached entries are served
	// before it. The token check reads it without the lock.
	until atomic.Int64
}

// synced renews the lease after a complete read of the feed that started
// at start.
func (l *lease) synced(start time.Time, maxStaleness time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fed = max(l.fed, start.Add(maxStaleness).UnixNano())
	l.update()
}

// recorded notes that the reader record now expires at expires.
func (l *lease) recorded(expires time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record = expires.UnixNano()
	l.update()
}

// renewDue reports whether the reader record is past half its life.
func (l *lease) renewDue(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.UnixNano() >= l.record-int64(readerTTL/2)
}

func (l *lease) update() { l.until.Store(min(l.fed, l.record-int64(clockSkew))) }

// newReaderID returns a random id for a process's reader record.
func newReaderID(r io.Reader) string {
	var b [12]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		// A fixed id would only make two processes count each other
		// out: fail loudly rather than silently weaken revocation.
		panic(fmt.Sprintf("latchkey: reader id: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// renewReader writes this process's reader record.
func (a *Authenticator) renewReader(ctx context.Context) error {
	expires := a.opt.Now().Add(readerTTL)
	if err := a.store.RenewReader(ctx, a.lease.id, expires); err != nil {
		return fmt.Errorf("renew reader: %w", err)
	}
	a.lease.recorded(expires)
	return nil
}

// settle holds a revocation's answer until no other process can serve
// what it revoked from a cache: MaxStaleness after committed, when another
// process reads the store. A count that cannot be read waits (fail
// closed).
func (a *Authenticator) settle(ctx context.Context, committed time.Time) {
	n, err := a.store.OtherReaders(ctx, a.lease.id, committed)
	if err == nil && n == 0 {
		return
	}
	if d := a.opt.MaxStaleness - a.opt.Now().Sub(committed); d > 0 {
		a.opt.Sleep(ctx, d)
	}
}

// sleep is the default Options.Sleep.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
