package latchkey

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sync reads the store's change feed and invalidates what other processes
// changed: one replayed Invalidation per batch of entries. A complete read
// renews the lease on the cache from the instant it started: whatever was
// committed before then has been applied. When the process's reader record
// is past half its life, Sync renews it first. It is called by Run; tests
// call it to step the feed.
func (a *Authenticator) Sync(ctx context.Context) error {
	const batch = 1000
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	start := a.opt.Now()
	losses, lostAt := a.lease.lossCount()
	if losses != a.rewound {
		// The cache may have lost deletes: apply again what the
		// feed held since well before the loss.
		if seq := a.checkpoints.before(lostAt.Add(-rewindWindow)); seq >= 0 && seq < a.seq.Load() {
			a.opt.Logger.Info("cache lost its connection; replaying the change feed's recent entries",
				"from", seq, "to", a.seq.Load())
			a.seq.Store(seq)
		}
		a.rewound = losses
	}
	if a.lease.renewDue(start) {
		if err := a.renewReader(ctx); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	for {
		after := a.seq.Load()
		cs, err := a.store.Changes(ctx, after, batch)
		if errors.Is(err, ErrChangesLost) {
			a.gen.Add(1)
			if err := a.cache.Invalidate(ctx, Invalidation{All: true}); err != nil {
				return fmt.Errorf("sync: purge: %w", err)
			}
			last, err := a.store.LastChange(ctx)
			if err != nil {
				return fmt.Errorf("sync: %w", err)
			}
			a.seq.Store(last)
			continue
		}
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		inv := Invalidation{Replay: true}
		for _, c := range cs {
			if c.Session {
				inv.Sessions = append(inv.Sessions, c.Digest)
			} else {
				inv.Users = append(inv.Users, c.UserID)
			}
		}
		a.invalidate(ctx, inv)
		if len(cs) > 0 {
			a.seq.Store(cs[len(cs)-1].Seq)
		}
		if len(cs) < batch {
			a.checkpoints.record(a.opt.Now(), a.seq.Load())
			a.lease.synced(start, a.opt.MaxStaleness, losses)
			a.fedAt.Store(start.UnixNano())
			return nil
		}
	}
}

// Start records this process as a reader of the store (revocations wait
// for it), positions the change feed at its newest entry (the cache starts
// empty, so nothing before matters) and takes the lease on the cache.
func (a *Authenticator) Start(ctx context.Context) error {
	if err := a.renewReader(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	start := a.opt.Now()
	losses, _ := a.lease.lossCount()
	last, err := a.store.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.seq.Store(last)
	a.checkpoints.record(start, last)
	a.lease.synced(start, a.opt.MaxStaleness, losses)
	a.fedAt.Store(start.UnixNano())
	return nil
}

// CacheTrusted reports whether the cache may answer token checks now:
// whether the lease on it holds (lease.go). While it does not, every
// check goes to the store.
func (a *Authenticator) CacheTrusted() bool {
	return a.opt.Now().UnixNano() < a.lease.until.Load()
}

// FeedLag is how long ago the last complete read of the change feed
// started: about SyncInterval while the feed is read, growing while it
// cannot be; 0 before Start.
func (a *Authenticator) FeedLag() time.Duration {
	at := a.fedAt.Load()
	if at == 0 {
		return 0
	}
	return max(a.opt.Now().Sub(time.Unix(0, at)), 0)
}

// Run does the background work until ctx ends: it follows the change feed,
// writes last-use times and security events, and, unless
// Options.NoCleanup, deletes long-expired sessions and old events. Before
// it returns it writes the pending last-use times and events.
func (a *Authenticator) Run(ctx context.Context) error {
	syncT := time.NewTicker(a.opt.SyncInterval)
	defer syncT.Stop()
	touchT := time.NewTicker(a.flushEvery())
	defer touchT.Stop()
	var cleanC <-chan time.Time // nil: never
	if !a.opt.NoCleanup {
		cleanT := time.NewTicker(a.opt.CleanupInterval)
		defer cleanT.Stop()
		cleanC = cleanT.C
	}
	eventT := time.NewTicker(eventFlushEvery)
	defer eventT.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			err := errors.Join(a.FlushTouches(fctx), a.FlushEvents(fctx))
			if derr := a.store.DropReader(fctx, a.lease.id); derr != nil {
				a.opt.Logger.Warn("reader record not removed; revocations wait for it until it expires", "err", derr)
			}
			return err
		case <-syncT.C:
			err := a.Sync(ctx)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				failing = true
				a.opt.Logger.Error("change feed unreadable; the cache is off after max staleness, and revocations wait for this process until its reader record expires", "err", err)
			case err == nil && failing:
				failing = false
				a.opt.Logger.Info("change feed readable again")
			}
		case <-touchT.C:
			if err := a.FlushTouches(ctx); err != nil && ctx.Err() == nil {
				a.opt.Logger.Warn("last use times not written", "err", err)
			}
		case <-eventT.C:
			a.flushEventsIn(ctx)
		case <-a.events.full:
			a.flushEventsIn(ctx)
		case <-cleanC:
			a.Cleanup(ctx)
		}
	}
}

// flushEventsIn writes the queued events from Run, logging a failure.
func (a *Authenticator) flushEventsIn(ctx context.Context) {
	if err := a.FlushEvents(ctx); err != nil && ctx.Err() == nil {
		a.opt.Logger.Warn("security events not written yet", "err", err)
	}
}

// Cleanup deletes the sessions expired for longer than Retention, and the
// security events older than EventRetention. Run calls it every
// CleanupInterval; tests call it with the clock moved.
func (a *Authenticator) Cleanup(ctx context.Context) {
	now := a.now()
	n, err := a.store.DeleteExpired(ctx, now.Add(-a.opt.Retention))
	if err != nil && ctx.Err() == nil {
		a.opt.Logger.Warn("cleanup failed", "err", err)
	} else if n > 0 {
		a.opt.Logger.Info("expired sessions deleted", "count", n)
	}
	n, err = a.store.DeleteEventsBefore(ctx, now.Add(-a.opt.EventRetention))
	if err != nil && ctx.Err() == nil {
		a.opt.Logger.Warn("cleanup of security events failed", "err", err)
	} else if n > 0 {
		a.opt.Logger.Info("old security events deleted", "count", n)
	}
}
