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
	fed    int64  // unix ns: the feed is applied up to here, plus MaxStaleness
	record int64  // unix ns: the reader record expires here
	losses uint64 // the cache's reported losses (LossReporter)
	lostAt int64  // unix ns of the newest

	// until is min(fed, record - clockSkew): cached entries are served
	// before it. The token check reads it without the lock.
	until atomic.Int64
}

// synced renews the lease after a complete read of the feed that started
// at start, unless the cache reported a loss since the read saw losses.
func (l *lease) synced(start time.Time, maxStaleness time.Duration, losses uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.losses != losses {
		return
	}
	l.fed = max(l.fed, start.Add(maxStaleness).UnixNano())
	l.update()
}

// lost ends the lease at once: the cache may serve what a lost delete
// left behind, until the feed's recent entries are replayed.
func (l *lease) lost(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.losses++
	l.lostAt = at.UnixNano()
	l.fed = 0
	l.update()
}

// lossCount returns the number of losses reported, and when the newest
// was.
func (l *lease) lossCount() (uint64, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.losses, time.Unix(0, l.lostAt)
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

// A shared cache can lose deletes it acknowledged (see LossReporter):
// Redis replicates asynchronously, so a failover can promote a replica that
// had not yet received the last deletes, and a restart can reload an older
// snapshot. When the cache reports such a loss, the lease ends at once, and
// the next Sync first rewinds the change feed to a checkpoint from at least
// rewindWindow before the loss and applies everything since again, which
// deletes what a lost delete left behind (or, while the backend is still
// down, owes it: see cache/redis). Only then is the cache served again.

const (
	// rewindWindow is how far before a reported loss the change feed is
	// replayed: longer than the replication lag of any healthy replica.
	rewindWindow = 30 * time.Second
	// checkpointEvery spaces the checkpoints kept for a rewind, and
	// maxCheckpoints bounds them: together they cover rewindWindow twice.
	checkpointEvery = time.Second
	maxCheckpoints  = 64
)

// checkpoint says that every change feed entry up to seq had been applied
// at at (unix ns).
type checkpoint struct{ at, seq int64 }

// checkpoints are the recent positions of the change feed. Only Sync and
// Start use them, under syncMu.
type checkpoints []checkpoint

// record notes that the feed is applied up to seq at at, at most once per
// checkpointEvery.
func (cs *checkpoints) record(at time.Time, seq int64) {
	n := at.UnixNano()
	if k := len(*cs); k > 0 && n-(*cs)[k-1].at < int64(checkpointEvery) {
		return
	}
	if len(*cs) == maxCheckpoints {
		*cs = append((*cs)[:0], (*cs)[1:]...)
	}
	*cs = append(*cs, checkpoint{at: n, seq: seq})
}

// before returns the position of the newest checkpoint at or before t: the
// oldest one kept when none is that old (the process started since).
func (cs checkpoints) before(t time.Time) int64 {
	if len(cs) == 0 {
		return -1
	}
	n := t.UnixNano()
	seq := cs[0].seq
	for _, c := range cs[1:] {
		if c.at > n {
			break
		}
		seq = c.seq
	}
	return seq
}

// cacheLost is the Authenticator's LossReporter callback.
func (a *Authenticator) cacheLost() { a.lease.lost(a.opt.Now()) }
