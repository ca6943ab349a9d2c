package latchkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Authenticate checks a bearer token. A live, cached token costs no store
// query; a miss costs one and fills the cache. A cached entry whose last
// use looks older than the idle timeout is checked against the store,
// which holds the uses other processes recorded.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	// An mfa_token is no bearer token, whatever its digest finds.
	if !ValidTokenSyntax(token) || strings.HasPrefix(token, MFATokenPrefix) {
		a.opt.Metrics.TokenCheck(false, TokenInvalid)
		return Principal{}, ErrInvalidToken
	}
	d := Token(token).Digest()
	now := a.opt.Now()
	if now.UnixNano() < a.lease.until.Load() {
		cs, ok, err := a.cache.Session(ctx, d)
		if err == nil && ok && now.Before(cs.ExpiresAt) &&
			(a.opt.IdleTimeout <= 0 || now.Sub(cs.LastUsedAt) < a.opt.IdleTimeout) {
			u, ok, err := a.cache.User(ctx, cs.UserID)
			if err == nil && ok && u.Active {
				if now.Sub(cs.LastUsedAt) >= a.opt.TouchInterval {
					a.touch(ctx, d, now)
				}
				a.opt.Metrics.TokenCheck(true, TokenValid)
				return Principal{Digest: d, Session: cs, User: u}, nil
			}
		}
	}
	p, err := a.lookup(ctx, d)
	a.opt.Metrics.TokenCheck(false, tokenResultOf(err))
	return p, err
}

// lookup is the cache-miss path: one store query, then a cache fill.
func (a *Authenticator) lookup(ctx context.Context, d Digest) (Principal, error) {
	gen := a.gen.Load()
	s, u, err := a.store.SessionByDigest(ctx, d)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrInvalidToken
	}
	if err != nil {
		return Principal{}, Unavailable(fmt.Errorf("authenticate: %w", err))
	}
	now := a.now()
	if !u.Active {
		return Principal{}, ErrInvalidToken
	}
	if !now.Before(s.ExpiresAt) || a.idleExpired(now, s.LastUsedAt) {
		return Principal{}, ErrTokenExpired
	}
	u.PasswordHash = ""
	a.fill(ctx, gen, d, s.Cached(), u)
	if now.Sub(s.LastUsedAt) >= a.opt.TouchInterval {
		a.touch(ctx, d, now)
	}
	return Principal{Digest: d, Session: s.Cached(), User: u}, nil
}

// fill caches a session and its user unless an eviction happened since
// gen was read; cache errors only cost a later miss.
func (a *Authenticator) fill(ctx context.Context, gen uint64, d Digest, cs CachedSession, u User) {
	u.PasswordHash = ""
	if err := a.cache.PutUser(ctx, u); err != nil {
		a.opt.Logger.Warn("cache: put user", "err", err)
	}
	if err := a.cache.PutSession(ctx, d, cs); err != nil {
		a.opt.Logger.Warn("cache: put session", "err", err)
	}
	if a.gen.Load() != gen {
		a.invalidate(ctx, Invalidation{Sessions: []Digest{d}, Users: []int64{u.ID}})
	}
}

// invalidate drops revoked sessions and changed users from the cache: one
// Invalidation, applied once, whatever it names. It reaches the cache even
// when the client hung up.
func (a *Authenticator) invalidate(ctx context.Context, inv Invalidation) {
	if inv.Empty() {
		return
	}
	a.gen.Add(1)
	if err := a.cache.Invalidate(context.WithoutCancel(ctx), inv); err != nil {
		a.opt.Logger.Error("cache: invalidate", "err", err)
	}
}

// revoke applies a revocation the store has committed, for reason: it
// invalidates inv here (and, through a shared cache, elsewhere), then
// holds the answer until no other process can still serve what inv names
// (settle).
func (a *Authenticator) revoke(ctx context.Context, reason RevocationReason, inv Invalidation) {
	a.opt.Metrics.Revocation(reason)
	if inv.Empty() {
		return
	}
	committed := a.opt.Now()
	a.invalidate(ctx, inv)
	a.settle(ctx, committed)
}

// touch records a use of a session: at once in the cache, and later, in a
// batch, in the store.
func (a *Authenticator) touch(ctx context.Context, d Digest, now time.Time) {
	if err := a.cache.TouchSession(ctx, d, now); err != nil {
		a.opt.Logger.Warn("cache: touch session", "err", err)
	}
	a.touchMu.Lock()
	if len(a.touches) < maxPendingTouches {
		a.touches[d] = now
	}
	a.touchMu.Unlock()
}

// FlushTouches writes pending last-use times to the store.
func (a *Authenticator) FlushTouches(ctx context.Context) error {
	a.touchMu.Lock()
	if len(a.touches) == 0 {
		a.touchMu.Unlock()
		return nil
	}
	batch := a.touches
	a.touches = make(map[Digest]time.Time)
	a.touchMu.Unlock()
	if err := a.store.TouchSessions(ctx, batch, a.opt.TouchInterval); err != nil {
		return fmt.Errorf("flush touches: %w", err)
	}
	return nil
}

// newSession draws a token and a session id for a login of the user from
// c, on the device named device (normalised: see normalizeDeviceName).
func (a *Authenticator) newSession(userID int64, c Client, device string) (Token, Session, error) {
	tok, err := NewToken(a.opt.Rand)
	if err != nil {
		return "", Session{}, Internal("new session: %w", err)
	}
	var id [16]byte
	if _, err := io.ReadFull(a.opt.Rand, id[:]); err != nil {
		return "", Session{}, Internal("new session: %w", err)
	}
	now := a.now()
	return tok, Session{
		ID:         base64.RawURLEncoding.EncodeToString(id[:]),
		UserID:     userID,
		Digest:     tok.Digest(),
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(a.opt.TokenTTL),
		IP:         c.IP(),
		UserAgent:  cleanUserAgent(c.UserAgent),
		DeviceName: device,
	}, nil
}

// LogoutScope says which tokens a logout revokes.
type LogoutScope string

const (
	LogoutLocal  LogoutScope = "local"  // this token
	LogoutOthers LogoutScope = "others" // every other token of the user
	LogoutGlobal LogoutScope = "global" // every token of the user
)

// Logout revokes tokens of the principal's user, for the request from c.
func (a *Authenticator) Logout(ctx context.Context, p Principal, scope LogoutScope, c Client) error {
	var (
		ds  []Digest
		err error
	)
	switch scope {
	case LogoutLocal, "":
		_, err = a.store.DeleteSession(ctx, p.User.ID, p.Session.SessionID, time.Time{})
		if errors.Is(err, ErrNotFound) {
			err = nil // already gone: logging out twice is fine
		}
		ds = []Digest{p.Digest}
	case LogoutOthers:
		ds, err = a.store.DeleteSessions(ctx, p.User.ID, &p.Digest)
	case LogoutGlobal:
		ds, err = a.store.DeleteSessions(ctx, p.User.ID, nil)
	default:
		return InvalidField("scope", "Must be one of local, others, global.")
	}
	if err != nil {
		return Unavailable(fmt.Errorf("logout: %w", err))
	}
	a.revoke(ctx, RevokedLogout, Invalidation{Sessions: ds})
	if scope == "" {
		scope = LogoutLocal
	}
	a.emit(ctx, Event{Kind: EventLogout, UserID: p.User.ID, Username: p.User.Username, Detail: string(scope),
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: p.Session.SessionID})
	return nil
}

// Sessions lists the principal's live sessions.
func (a *Authenticator) Sessions(ctx context.Context, p Principal) ([]Session, error) {
	ss, err := a.store.ListSessions(ctx, p.User.ID, a.now())
	if err != nil {
		return nil, Unavailable(fmt.Errorf("list sessions: %w", err))
	}
	return ss, nil
}

// RevokeSession revokes one of the principal's live sessions by id, for
// the request from c.
func (a *Authenticator) RevokeSession(ctx context.Context, p Principal, id string, c Client) error {
	if !plausibleSessionID(id) {
		return ErrNotFound
	}
	d, err := a.store.DeleteSession(ctx, p.User.ID, id, a.now())
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return Unavailable(fmt.Errorf("revoke session: %w", err))
	}
	a.revoke(ctx, RevokedSession, Invalidation{Sessions: []Digest{d}})
	a.emit(ctx, Event{Kind: EventSessionDelete, UserID: p.User.ID, Username: p.User.Username,
		IP: c.IP(), UserAgent: c.UserAgent, SessionID: id})
	return nil
}
