package latchkey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what the Authenticator accepts.
const (
	MaxUsernameLength      = 150  // Django's limit, in characters
	MaxLoginPasswordLength = 1024 // in bytes; longer is refused before hashing
	MaxPasswordLength      = 256  // for new passwords, in characters
	MaxEmailLength         = 254
	MaxNameLength          = 150
	maxUserAgentLength     = 512
)

// Options configures an Authenticator. Zero values take the defaults.
type Options struct {
	TokenTTL      time.Duration // absolute lifetime of a token; default 24h
	IdleTimeout   time.Duration // 0: off
	TouchInterval time.Duration // last_used_at granularity; default 1m
	// SyncInterval is how often the store's change feed is read; default 200ms.
	SyncInterval time.Duration
	// MaxStaleness is how long cached entries are served while the change
	// feed cannot be read; after that every check goes to the store.
	// Default 30s.
	MaxStaleness time.Duration
	// CleanupInterval is how often expired sessions are deleted; default 1h.
	CleanupInterval time.Duration
	// Retention is how long expired sessions (answering token_expired)
	// and change entries are kept; default 7 days.
	Retention time.Duration

	// CheckPassword validates a new password for a user; nil accepts any.
	// It returns a message fit for the client.
	CheckPassword func(username string, old, pw Password) error

	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand.Reader
	Logger *slog.Logger     // default discards
}

// Authenticator implements logins, token checks and revocation over a
// Store, a Cache and a PasswordHasher.
type Authenticator struct {
	store  Store
	cache  Cache
	hasher PasswordHasher
	opt    Options

	// gen counts evictions. A fill from the store that overlaps an
	// eviction is undone, so that a revoked token never re-enters the
	// cache from a read that started before the revocation.
	gen atomic.Uint64
	// synced is when the change feed was last read completely (unix ns).
	synced atomic.Int64
	// seq is the last change feed entry applied.
	seq atomic.Int64

	touchMu sync.Mutex
	touches map[Digest]time.Time
}

// maxPendingTouches bounds the last-use times waiting to be written.
const maxPendingTouches = 100_000

// NewAuthenticator returns an Authenticator. Call Run to start its
// background work (change feed, last-use writes, cleanup).
func NewAuthenticator(store Store, cache Cache, hasher PasswordHasher, opt Options) *Authenticator {
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 24 * time.Hour
	}
	if opt.TouchInterval <= 0 {
		opt.TouchInterval = time.Minute
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = 200 * time.Millisecond
	}
	if opt.MaxStaleness <= 0 {
		opt.MaxStaleness = 30 * time.Second
	}
	if opt.CleanupInterval <= 0 {
		opt.CleanupInterval = time.Hour
	}
	if opt.Retention <= 0 {
		opt.Retention = 7 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{store: store, cache: cache, hasher: hasher, opt: opt, touches: make(map[Digest]time.Time)}
}

// Principal is an authenticated request's identity.
type Principal struct {
	Digest  Digest
	Session CachedSession
	User    User // without PasswordHash
}

// Issued is the result of a login or password change.
type Issued struct {
	Token   Token
	Session Session
	User    User // without PasswordHash
}

// Client describes where a request came from, recorded on its session.
type Client struct {
	IP        string
	UserAgent string
}

// now returns the injected clock's time in UTC, at the microsecond
// precision every store keeps.
func (a *Authenticator) now() time.Time { return a.opt.Now().UTC().Truncate(time.Microsecond) }

// Authenticate checks a bearer token. A live, cached token costs no store
// query; a miss costs one and fills the cache.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !ValidTokenSyntax(token) {
		return Principal{}, ErrInvalidToken
	}
	d := Token(token).Digest()
	now := a.opt.Now()
	if now.UnixNano()-a.synced.Load() < int64(a.opt.MaxStaleness) {
		cs, ok, err := a.cache.Session(ctx, d)
		if err == nil && ok && now.Before(cs.ExpiresAt) &&
			(a.opt.IdleTimeout <= 0 || now.Sub(cs.LastUsedAt) < a.opt.IdleTimeout) {
			u, ok, err := a.cache.User(ctx, cs.UserID)
			if err == nil && ok && u.Active {
				if now.Sub(cs.LastUsedAt) >= a.opt.TouchInterval {
					a.touch(ctx, d, now)
				}
				return Principal{Digest: d, Session: cs, User: u}, nil
			}
		}
	}
	return a.lookup(ctx, d)
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
	if !now.Before(s.ExpiresAt) || (a.opt.IdleTimeout > 0 && now.Sub(s.LastUsedAt) >= a.opt.IdleTimeout) {
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
		a.evict(ctx, u.ID, d)
	}
}

// evict removes revoked sessions and a changed user from the cache.
// userID 0 evicts no user.
func (a *Authenticator) evict(ctx context.Context, userID int64, ds ...Digest) {
	// A revocation must reach the cache even if the client hung up.
	ctx = context.WithoutCancel(ctx)
	a.gen.Add(1)
	if len(ds) > 0 {
		if err := a.cache.DeleteSessions(ctx, ds...); err != nil {
			a.opt.Logger.Error("cache: delete sessions", "err", err)
		}
	}
	if userID != 0 {
		if err := a.cache.DeleteUser(ctx, userID); err != nil {
			a.opt.Logger.Error("cache: delete user", "err", err)
		}
	}
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

// Login verifies a username and password and issues a new token. Unknown
// users, wrong passwords, inactive users and unusable passwords all get
// ErrInvalidCredentials after the same hashing work.
func (a *Authenticator) Login(ctx context.Context, username string, pw Password, c Client) (Issued, error) {
	if err := checkLoginInput(username, pw); err != nil {
		return Issued{}, err
	}
	u, err := a.store.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Issued{}, Unavailable(fmt.Errorf("login: find user: %w", err))
	}
	// An unknown user is verified against an empty hash, which costs the
	// same as a real check.
	ok, rehash, err := a.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return Issued{}, err
	}
	if !ok || !u.Active || u.ID == 0 {
		return Issued{}, ErrInvalidCredentials
	}
	upd := LoginUpdate{ExpectHash: u.PasswordHash}
	if rehash {
		if upd.NewHash, err = a.hasher.Hash(ctx, pw); err != nil {
			// The login is good; the rehash can wait for the next one.
			a.opt.Logger.Warn("login: rehash", "user_id", u.ID, "err", err)
			upd.NewHash = ""
		}
	}
	gen := a.gen.Load()
	tok, s, err := a.newSession(u.ID, c)
	if err != nil {
		return Issued{}, err
	}
	upd.LastLogin = s.CreatedAt
	if err := a.store.CreateSession(ctx, s, upd); err != nil {
		if errors.Is(err, ErrConflict) {
			// The password changed or the user was disabled meanwhile.
			return Issued{}, ErrInvalidCredentials
		}
		return Issued{}, Unavailable(fmt.Errorf("login: create session: %w", err))
	}
	u.LastLogin = s.CreatedAt
	u.PasswordHash = ""
	// The user record changed (last login): drop the stale copy first.
	a.evict(ctx, u.ID)
	a.fill(ctx, gen+1, s.Digest, s.Cached(), u)
	return Issued{Token: tok, Session: s, User: u}, nil
}

// newSession draws a token and a session id.
func (a *Authenticator) newSession(userID int64, c Client) (Token, Session, error) {
	tok, err := NewToken(a.opt.Rand)
	if err != nil {
		return "", Session{}, Internal("new session: %w", err)
	}
	var id [16]byte
	if _, err := io.ReadFull(a.opt.Rand, id[:]); err != nil {
		return "", Session{}, Internal("new session: %w", err)
	}
	now := a.now()
	ua := c.UserAgent
	if len(ua) > maxUserAgentLength {
		ua = strings.ToValidUTF8(ua[:maxUserAgentLength], "")
	}
	return tok, Session{
		ID:         base64.RawURLEncoding.EncodeToString(id[:]),
		UserID:     userID,
		Digest:     tok.Digest(),
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(a.opt.TokenTTL),
		IP:         c.IP,
		UserAgent:  ua,
	}, nil
}

func checkLoginInput(username string, pw Password) error {
	var fe fieldErrors
	add := fe.add
	switch {
	case username == "":
		add("username", "This field is required.")
	case utf8.RuneCountInString(username) > MaxUsernameLength || !utf8.ValidString(username):
		add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", MaxUsernameLength))
	}
	switch {
	case pw == "":
		add("password", "This field is required.")
	case len(pw) > MaxLoginPasswordLength:
		add("password", fmt.Sprintf("Ensure this field has no more than %d bytes.", MaxLoginPasswordLength))
	}
	return fe.err()
}

// fieldErrors collects per-field messages for one invalid_request error.
type fieldErrors map[string][]string

func (fe *fieldErrors) add(field, msg string) {
	if *fe == nil {
		*fe = fieldErrors{}
	}
	(*fe)[field] = append((*fe)[field], msg)
}

// err returns the collected messages as an error, or nil when there are none.
func (fe fieldErrors) err() error {
	if fe == nil {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: CodeInvalidRequest, Detail: "Invalid input.", Fields: fe}
}

// LogoutScope says which tokens a logout revokes.
type LogoutScope string

const (
	LogoutLocal  LogoutScope = "local"  // this token
	LogoutOthers LogoutScope = "others" // every other token of the user
	LogoutGlobal LogoutScope = "global" // every token of the user
)

// Logout revokes tokens of the principal's user.
func (a *Authenticator) Logout(ctx context.Context, p Principal, scope LogoutScope) error {
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
	a.evict(ctx, 0, ds...)
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

// RevokeSession revokes one of the principal's live sessions by id.
func (a *Authenticator) RevokeSession(ctx context.Context, p Principal, id string) error {
	d, err := a.store.DeleteSession(ctx, p.User.ID, id, a.now())
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return Unavailable(fmt.Errorf("revoke session: %w", err))
	}
	a.evict(ctx, 0, d)
	return nil
}

// ChangePassword checks the old password, sets the new one, revokes every
// token of the user (the caller's too) and issues a new token.
func (a *Authenticator) ChangePassword(ctx context.Context, p Principal, old, pw Password, c Client) (Issued, error) {
	switch {
	case old == "":
		return Issued{}, InvalidField("old_password", "This field is required.")
	case pw == "":
		return Issued{}, InvalidField("new_password", "This field is required.")
	case len(old) > MaxLoginPasswordLength:
		return Issued{}, wrongPassword()
	}
	u, err := a.store.UserByID(ctx, p.User.ID)
	if err != nil {
		return Issued{}, Unavailable(fmt.Errorf("change password: %w", err))
	}
	ok, _, err := a.hasher.Verify(ctx, old, u.PasswordHash)
	if err != nil {
		return Issued{}, err
	}
	if !ok {
		return Issued{}, wrongPassword()
	}
	if err := a.checkNewPassword(u.Username, old, pw); err != nil {
		return Issued{}, err
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return Issued{}, err
	}
	gen := a.gen.Load()
	tok, s, err := a.newSession(u.ID, c)
	if err != nil {
		return Issued{}, err
	}
	ds, err := a.store.SetPassword(ctx, u.ID, PasswordUpdate{ExpectHash: u.PasswordHash, NewHash: hash, Session: &s})
	if errors.Is(err, ErrConflict) {
		return Issued{}, wrongPassword()
	}
	if err != nil {
		return Issued{}, Unavailable(fmt.Errorf("change password: %w", err))
	}
	a.evict(ctx, u.ID, append(ds, p.Digest)...)
	u.PasswordHash = ""
	a.fill(ctx, gen+1, s.Digest, s.Cached(), u)
	return Issued{Token: tok, Session: s, User: u}, nil
}

// ErrWrongPassword is the cause of the error a password change with a
// wrong old password gets (an invalid_request naming old_password), so
// callers can count it as a failed guess.
var ErrWrongPassword = errors.New("wrong old password")

func wrongPassword() error {
	e := InvalidField("old_password", "Wrong password.")
	e.Err = ErrWrongPassword
	return e
}

// checkNewPassword applies the length bounds and the configured policy.
func (a *Authenticator) checkNewPassword(username string, old, pw Password) error {
	n := utf8.RuneCountInString(string(pw))
	if n > MaxPasswordLength {
		return InvalidField("new_password", fmt.Sprintf("Ensure this password has no more than %d characters.", MaxPasswordLength))
	}
	if !utf8.ValidString(string(pw)) {
		return InvalidField("new_password", "The password is not valid UTF-8.")
	}
	if a.opt.CheckPassword != nil {
		if err := a.opt.CheckPassword(username, old, pw); err != nil {
			return InvalidField("new_password", err.Error())
		}
	}
	return nil
}

// NewUser is what AddUser needs besides the password.
type NewUser struct {
	Username  string
	Email     string
	FirstName string
	LastName  string
}

// AddUser creates an active user with a password that passes the policy.
func (a *Authenticator) AddUser(ctx context.Context, nu NewUser, pw Password) (User, error) {
	if err := checkNewUser(nu); err != nil {
		return User{}, err
	}
	if err := a.checkNewPassword(nu.Username, "", pw); err != nil {
		return User{}, err
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, err
	}
	u, err := a.store.CreateUser(ctx, User{
		Username:     nu.Username,
		Email:        nu.Email,
		FirstName:    nu.FirstName,
		LastName:     nu.LastName,
		PasswordHash: hash,
		Active:       true,
		DateJoined:   a.now(),
	})
	if errors.Is(err, ErrConflict) {
		return User{}, InvalidField("username", "A user with that username already exists.")
	}
	if err != nil {
		return User{}, fmt.Errorf("add user: %w", err)
	}
	u.PasswordHash = ""
	return u, nil
}

func checkNewUser(nu NewUser) error {
	var fe fieldErrors
	add := fe.add
	switch {
	case nu.Username == "":
		add("username", "This field is required.")
	case !utf8.ValidString(nu.Username) || utf8.RuneCountInString(nu.Username) > MaxUsernameLength:
		add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", MaxUsernameLength))
	case strings.IndexFunc(nu.Username, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		add("username", "Usernames may not contain spaces or control characters.")
	}
	if len(nu.Email) > MaxEmailLength || (nu.Email != "" && !strings.Contains(nu.Email, "@")) || !utf8.ValidString(nu.Email) {
		add("email", "Enter a valid email address.")
	}
	for f, v := range map[string]string{"first_name": nu.FirstName, "last_name": nu.LastName} {
		if utf8.RuneCountInString(v) > MaxNameLength || !utf8.ValidString(v) {
			add(f, fmt.Sprintf("Ensure this field has no more than %d characters.", MaxNameLength))
		}
	}
	return fe.err()
}

// SetUserPassword sets a user's password (an administrator's act: no old
// password) and revokes every token of the user.
func (a *Authenticator) SetUserPassword(ctx context.Context, username string, pw Password) error {
	u, err := a.store.UserByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := a.checkNewPassword(u.Username, "", pw); err != nil {
		return err
	}
	hash, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	ds, err := a.store.SetPassword(ctx, u.ID, PasswordUpdate{NewHash: hash})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	a.evict(ctx, u.ID, ds...)
	return nil
}

// SetUserActive enables or disables a user. Disabling revokes every token
// of the user at once.
func (a *Authenticator) SetUserActive(ctx context.Context, username string, active bool) error {
	u, err := a.store.UserByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	ds, err := a.store.SetActive(ctx, u.ID, active)
	if err != nil {
		return fmt.Errorf("set active: %w", err)
	}
	a.evict(ctx, u.ID, ds...)
	return nil
}

// Users lists every user, without password hashes.
func (a *Authenticator) Users(ctx context.Context) ([]User, error) {
	us, err := a.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for i := range us {
		us[i].PasswordHash = ""
	}
	return us, nil
}

// Ready reports whether the store answers. A cache that does not answer
// (Redis down) does not make the server unready: checks then go to the
// store, correct and slower, and logins keep working.
func (a *Authenticator) Ready(ctx context.Context) error {
	if err := a.store.Ping(ctx); err != nil {
		return Unavailable(fmt.Errorf("store: %w", err))
	}
	return nil
}

// Sync reads the store's change feed and evicts what other processes
// changed. It is called by Run; tests call it to step the feed.
func (a *Authenticator) Sync(ctx context.Context) error {
	const batch = 1000
	for {
		after := a.seq.Load()
		cs, err := a.store.Changes(ctx, after, batch)
		if errors.Is(err, ErrChangesLost) {
			a.gen.Add(1)
			if err := a.cache.Purge(ctx); err != nil {
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
		var ds []Digest
		rctx := Replayed(ctx)
		for _, c := range cs {
			if c.Session {
				ds = append(ds, c.Digest)
			} else {
				a.evict(rctx, c.UserID)
			}
		}
		if len(ds) > 0 {
			a.evict(rctx, 0, ds...)
		}
		if len(cs) > 0 {
			a.seq.Store(cs[len(cs)-1].Seq)
		}
		if len(cs) < batch {
			a.synced.Store(a.opt.Now().UnixNano())
			return nil
		}
	}
}

// Start positions the change feed at its newest entry (the cache starts
// empty, so nothing before matters) and marks the cache fresh.
func (a *Authenticator) Start(ctx context.Context) error {
	last, err := a.store.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.seq.Store(last)
	a.synced.Store(a.opt.Now().UnixNano())
	return nil
}

// Run does the background work until ctx ends: it follows the change feed,
// writes last-use times and deletes long-expired sessions. Before it
// returns it writes the pending last-use times.
func (a *Authenticator) Run(ctx context.Context) error {
	syncT := time.NewTicker(a.opt.SyncInterval)
	defer syncT.Stop()
	touchT := time.NewTicker(time.Second)
	defer touchT.Stop()
	cleanT := time.NewTicker(a.opt.CleanupInterval)
	defer cleanT.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return a.FlushTouches(fctx)
		case <-syncT.C:
			err := a.Sync(ctx)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				failing = true
				a.opt.Logger.Error("change feed unreadable; cache entries expire from use after max staleness", "err", err)
			case err == nil && failing:
				failing = false
				a.opt.Logger.Info("change feed readable again")
			}
		case <-touchT.C:
			if err := a.FlushTouches(ctx); err != nil && ctx.Err() == nil {
				a.opt.Logger.Warn("last use times not written", "err", err)
			}
		case <-cleanT.C:
			n, err := a.store.DeleteExpired(ctx, a.now().Add(-a.opt.Retention))
			if err != nil && ctx.Err() == nil {
				a.opt.Logger.Warn("cleanup failed", "err", err)
			} else if n > 0 {
				a.opt.Logger.Info("expired sessions deleted", "count", n)
			}
		}
	}
}
