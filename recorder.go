package latchkey

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// The recording of security events: each is logged at once, and queued
// for the store, which Run writes in batches off the request path. A
// login waits on no insert of its own.

const (
	// maxPendingEvents bounds the events waiting to be written, about
	// 1 KiB each at most. When the queue is full (the store has not
	// answered for a while, under a flood of refused logins) a new event
	// is dropped and counted, not waited for: a flood must not slow
	// logins down to the store's pace. The log line of a dropped event
	// is written all the same.
	maxPendingEvents = 10_000
	// eventBatch is the number of queued events that has Run write them
	// without waiting for its ticker.
	eventBatch = 500
	// eventFlushEvery is how often Run writes the queued events: an event
	// reaches the store, and GET /v1/events, within about this long.
	eventFlushEvery = 200 * time.Millisecond
)

// eventQueue holds the events waiting to be written.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	dropped int
	// full is signalled when eventBatch events are pending.
	full chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{full: make(chan struct{}, 1)} }

// emit records e: one log line at info, then the queue. Its time is the
// injected clock's.
func (a *Authenticator) emit(ctx context.Context, e Event) {
	e.At = a.now()
	e = e.Bounded()
	a.logEvent(ctx, e)
	q := a.events
	q.mu.Lock()
	if len(q.pending) >= maxPendingEvents {
		q.dropped++
		q.mu.Unlock()
		return
	}
	q.pending = append(q.pending, e)
	n := len(q.pending)
	q.mu.Unlock()
	if n >= eventBatch {
		select {
		case q.full <- struct{}{}:
		default:
		}
	}
}

// logEvent writes the line of an event: `event` is its kind. The name
// typed at a login is not written unless it is the user's (a password
// typed into the username field would be): only its username_hash, as
// the login line shows it.
func (a *Authenticator) logEvent(ctx context.Context, e Event) {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", string(e.Kind)))
	if e.UserID != 0 {
		attrs = append(attrs, slog.Int64("user_id", e.UserID), slog.String("username", e.Username))
	} else if e.Username != "" {
		attrs = append(attrs, slog.String("username_hash", a.usernameHash(foldUsername(e.Username))))
	}
	if e.Detail != "" {
		attrs = append(attrs, slog.String("detail", e.Detail))
	}
	attrs = append(attrs, slog.String("ip", e.IP), slog.String("user_agent", e.UserAgent))
	if e.SessionID != "" {
		attrs = append(attrs, slog.String("session_id", e.SessionID))
	}
	a.opt.Logger.LogAttrs(ctx, slog.LevelInfo, "security event", attrs...)
}

// FlushEvents writes the queued events to the store. Events a failed
// write held go back to the queue, as many as it has room for.
func (a *Authenticator) FlushEvents(ctx context.Context) error {
	q := a.events
	q.mu.Lock()
	batch, dropped := q.pending, q.dropped
	q.pending, q.dropped = nil, 0
	q.mu.Unlock()
	if dropped > 0 {
		a.opt.Logger.Warn("security events dropped: the queue was full", "count", dropped)
	}
	if len(batch) == 0 {
		return nil
	}
	err := a.store.AppendEvents(ctx, batch)
	if err == nil {
		return nil
	}
	q.mu.Lock()
	room := max(maxPendingEvents-len(q.pending), 0)
	if len(batch) > room {
		q.dropped += len(batch) - room
		batch = batch[len(batch)-room:]
	}
	q.pending = append(batch, q.pending...)
	q.mu.Unlock()
	return fmt.Errorf("flush events: %w", err)
}

// UserEvents returns the principal's events below the cursor before (0:
// the newest), newest first, at most limit (from 1 to MaxEventPage).
func (a *Authenticator) UserEvents(ctx context.Context, p Principal, before int64, limit int) ([]Event, error) {
	if before < 0 {
		return nil, InvalidField("before", "Must be an event id.")
	}
	if limit < 1 || limit > MaxEventPage {
		return nil, InvalidField("limit", fmt.Sprintf("Must be from 1 to %d.", MaxEventPage))
	}
	es, err := a.store.EventsOfUser(ctx, p.User.ID, before, limit)
	if err != nil {
		return nil, Unavailable(fmt.Errorf("user events: %w", err))
	}
	return es, nil
}

// MaxEventPage bounds a page of UserEvents.
const MaxEventPage = 200

// Events calls fn with the events f selects, oldest first: the
// operator's view, with every detail.
func (a *Authenticator) Events(ctx context.Context, f EventFilter, fn func(Event) error) error {
	return a.store.Events(ctx, f, fn)
}

// UserID returns the id of the user named username (in any form that
// names them), for an operator's filter.
func (a *Authenticator) UserID(ctx context.Context, username string) (int64, error) {
	if err := checkUsername(username); err != nil {
		return 0, err
	}
	u, err := a.findUser(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("find user: %w", err)
	}
	return u.ID, nil
}
