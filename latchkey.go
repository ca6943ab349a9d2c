// Package latchkey is a login API: users exchange a username and password
// for an opaque bearer token, and every later request is authenticated from
// a cache keyed by the token's digest.
//
// This root package holds the domain and imports only the standard
// library, and golang.org/x/text/unicode/norm for the one rule the
// standard library cannot state: usernames in NFKC form, as Django keeps
// them. The domain is users, sessions, tokens and errors; the
// Authenticator, whose methods are the only ways in: the login gate
// (Login, and ChangePassword's old password), token checks, revocation as
// one Invalidation, introspection for service clients, administration and
// the change feed's replay; and the interfaces the mechanisms implement,
// each in a package named for it:
//
//   - Store, with its ServiceClientStore and EventStore, and Importer (sqlite,
//     postgres), with storetest;
//   - Cache (cache/memory, cache/redis, cache/tiered), with cache/cachetest;
//   - PasswordHasher (password);
//   - Throttle and ServiceClientThrottle (throttle) over a ThrottleStore
//     (throttle/memory, throttle/redis), with throttle/throttletest;
//   - CaptchaVerifier (captcha) and its ReplayGuard (cache/memory.Claims,
//     cache/redis.Claims), with cache/guardtest;
//   - RelyingParty, the cryptography of passkeys (webauthn), with a
//     software authenticator for tests (webauthn/webauthntest);
//   - ChallengeStore, the state of WebAuthn ceremonies
//     (cache/memory.Challenges, cache/redis.Challenges), with
//     cache/challengetest;
//   - Metrics (prom), which observes the Authenticator's decisions.
//
// api serves the Authenticator over HTTP; cmd/latchkey chooses and wires
// the mechanisms.
package latchkey

import (
	"context"
	"time"
)

// User is an account. PasswordHash is an encoded hash (PHC string or a
// Django encoding); it never leaves the server.
type User struct {
	ID           int64
	Username     string
	Email        string
	FirstName    string
	LastName     string
	PasswordHash string
	Active       bool
	LastLogin    time.Time // zero when the user never logged in
	DateJoined   time.Time
}

// Limits on what the Authenticator accepts.
const (
	MaxUsernameLength      = 150  // Django's limit, in characters
	MaxLoginPasswordLength = 1024 // in bytes; longer is refused before hashing
	MaxPasswordLength      = 256  // for new passwords, in characters
	MaxEmailLength         = 254
	MaxNameLength          = 150
	MaxDeviceNameLength    = 64 // in characters, once normalised (NFC)
	maxUserAgentLength     = 512
)

// Session is one issued token: one device or client of a user. The token
// itself is not kept, only its digest.
type Session struct {
	ID         string // public, random; names the session in the API
	UserID     int64
	Digest     Digest
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
	// DeviceName is the name the client gave its login ("Alice's
	// laptop"), checked by CheckDeviceName; "" when it gave none.
	DeviceName string
}

// CachedSession is what the token cache keeps for a digest: enough to
// authenticate without the store.
type CachedSession struct {
	SessionID  string
	UserID     int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
}

// Cached returns the part of s that the token cache keeps.
func (s Session) Cached() CachedSession {
	return CachedSession{
		SessionID:  s.ID,
		UserID:     s.UserID,
		CreatedAt:  s.CreatedAt,
		ExpiresAt:  s.ExpiresAt,
		LastUsedAt: s.LastUsedAt,
	}
}

// Change is one entry of a store's change feed: a revoked session (Session
// true, Digest set) or a changed user record (Session false). Processes that
// share a store read the feed to evict what another process changed.
type Change struct {
	Seq     int64
	UserID  int64
	Session bool
	Digest  Digest
}

// LoginUpdate is what a successful login writes besides the new session.
type LoginUpdate struct {
	// ExpectHash is the password hash the password was verified against. The
	// login fails with ErrConflict if it changed meanwhile, or if the user
	// was disabled meanwhile.
	ExpectHash string
	// NewHash, when not empty, replaces the stored hash (a rehash to
	// stronger parameters).
	NewHash   string
	LastLogin time.Time
	// SecondFactor says the login passed a second factor. Without it,
	// the login fails with ErrConflict when the user needs one
	// (MFAStore.ConfirmTOTP), decided with the insert, atomically: no
	// login that started before a confirmation commits after it.
	SecondFactor bool
}

// PasswordUpdate replaces a user's password hash and revokes every session
// of the user.
type PasswordUpdate struct {
	// ExpectHash, when not empty, must equal the stored hash or the update
	// fails with ErrConflict (the password changed concurrently).
	ExpectHash string
	NewHash    string
	// Session, when not nil, is created in the same transaction, after the
	// revocation: the caller's new session.
	Session *Session
}

// Store keeps users and sessions, the service clients
// (ServiceClientStore), the security events (EventStore), second factors
// (MFAStore) and passkeys (PasskeyStore). Every method that changes
// sessions or a user writes Change entries in the same transaction, so that the change
// feed never misses a revocation. Errors are *Error values of kind
// NotFound, Conflict or Internal; implementations translate driver errors.
type Store interface {
	CreateUser(ctx context.Context, u User) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// PasswordHashes calls fn with the password hash of every user, in
	// no set order, one row at a time: the password hasher learns from
	// them what the stored hashes cost to check before the first login.
	// An error from fn stops the walk and is returned unchanged.
	PasswordHashes(ctx context.Context, fn func(hash string) error) error
	// SetActive enables or disables a user; disabling revokes every
	// session of the user and returns their digests.
	SetActive(ctx context.Context, userID int64, active bool) ([]Digest, error)
	// SetPassword applies u and returns the digests of the revoked sessions.
	SetPassword(ctx context.Context, userID int64, u PasswordUpdate) ([]Digest, error)

	// CreateSession records a login: the session, the user's last login
	// and, optionally, a rehashed password, in one transaction.
	CreateSession(ctx context.Context, s Session, u LoginUpdate) error
	// SessionByDigest finds a session and its user with one indexed query.
	// It returns sessions whether expired or not; ErrNotFound when absent.
	SessionByDigest(ctx context.Context, d Digest) (Session, User, error)
	// SessionByID finds a session by its public id, whoever's it is and
	// whether expired or not; ErrNotFound when absent. Administration
	// uses it to name a session by its id alone.
	SessionByID(ctx context.Context, id string) (Session, error)
	// ListSessions returns the user's sessions that expire after now,
	// newest first.
	ListSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error)
	// DeleteSession revokes one session of the user that expires after
	// now; ErrNotFound when there is none with that id.
	DeleteSession(ctx context.Context, userID int64, sessionID string, now time.Time) (Digest, error)
	// DeleteSessions revokes every session of the user except keep (when
	// not nil) and returns the revoked digests.
	DeleteSessions(ctx context.Context, userID int64, keep *Digest) ([]Digest, error)
	// TouchSessions records last use times. A session's time is only moved
	// forward, and only when it is at least minInterval older.
	TouchSessions(ctx context.Context, touches map[Digest]time.Time, minInterval time.Duration) error
	// DeleteExpired removes sessions and MFA challenges that expired
	// before t, and change entries older than t (always keeping the
	// newest).
	DeleteExpired(ctx context.Context, t time.Time) (int64, error)

	// Changes returns up to limit change entries with Seq > after, oldest
	// first. It returns ErrChangesLost when entries after `after` were
	// already pruned; the reader must then drop everything it cached.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// LastChange returns the newest change sequence number (0 when none).
	LastChange(ctx context.Context) (int64, error)

	// RenewReader records that the process id reads the change feed and
	// caches from the store until expires, replacing its earlier record:
	// a revocation must then wait for it (see Authenticator).
	RenewReader(ctx context.Context, id string, expires time.Time) error
	// DropReader removes the record of id; unknown ids are ignored.
	DropReader(ctx context.Context, id string) error
	// OtherReaders counts the readers other than id whose record expires
	// after now.
	OtherReaders(ctx context.Context, id string, now time.Time) (int, error)

	ServiceClientStore
	EventStore
	MFAStore
	PasskeyStore

	Ping(ctx context.Context) error
	Close() error
}

// ErrChangesLost reports a gap in a change feed read.
var ErrChangesLost = &Error{Kind: KindInternal, Code: "changes_lost", Detail: "change feed entries were pruned"}

// Invalidation names cached entries that must not be served again:
// revoked sessions by digest, changed users by id, or everything. A
// revocation is one Invalidation, applied to the cache once, so that a
// cache shared by several processes announces it to them once.
type Invalidation struct {
	Sessions []Digest
	Users    []int64
	// All drops every entry (the change feed lost entries: anything may
	// have changed).
	All bool
	// Replay marks an invalidation replayed from the store's change feed.
	// Every process that shares a cache reads the feed and replays the
	// same changes itself, and the process that made a change announced
	// it already: a shared cache applies a replay without announcing it
	// again, and without waiting for its announcement to come back.
	Replay bool
}

// Empty reports whether inv names nothing.
func (inv Invalidation) Empty() bool {
	return !inv.All && len(inv.Sessions) == 0 && len(inv.Users) == 0
}

// Cache holds authenticated sessions by digest and users by id, so that a
// token check costs no store query. Entries are bounded in number, and a
// session entry is never returned after its ExpiresAt.
type Cache interface {
	Session(ctx context.Context, d Digest) (CachedSession, bool, error)
	PutSession(ctx context.Context, d Digest, s CachedSession) error
	// TouchSession moves an existing entry's LastUsedAt forward; it never
	// creates an entry.
	TouchSession(ctx context.Context, d Digest, at time.Time) error

	// User returns a cached user. Cached users carry no password hash.
	User(ctx context.Context, id int64) (User, bool, error)
	PutUser(ctx context.Context, u User) error

	// Invalidate drops what inv names. A cache shared by several
	// processes also announces it to the others, unless inv.Replay. Once
	// it returns, this process is never served what inv named, even when
	// a shared backend could not be reached (see cache/redis).
	Invalidate(ctx context.Context, inv Invalidation) error
	Ping(ctx context.Context) error
}

// A LossReporter is a Cache whose shared backend can undo deletes it
// acknowledged: a Redis failover to a replica they had not reached yet, a
// restart, a partition healed on the wrong side. OnLoss registers fn,
// which the cache calls, promptly and without blocking, each time that may
// have happened: when it loses its connection to the backend or calls to
// it start failing. The Authenticator then serves nothing from the cache
// until it has redone the recent invalidations of the change feed
// (Authenticator.Sync), so that an entry a lost delete left behind is never
// served.
type LossReporter interface {
	OnLoss(fn func())
}

// PasswordHasher hashes new passwords and verifies given ones against an
// encoded hash, choosing the algorithm from the encoding. Implementations
// bound how many hashes run at once and return ErrOverloaded when a caller
// waited too long.
type PasswordHasher interface {
	Hash(ctx context.Context, pw Password) (string, error)
	// Verify reports whether pw matches encoded, and whether encoded
	// should be replaced by a fresh Hash (weaker parameters or another
	// algorithm). An empty or unusable encoded hash never matches. A
	// check that does not match takes the same time whatever encoded is
	// (empty, unusable, or of any algorithm and cost), so that the time a
	// failed login takes tells nothing about the user.
	Verify(ctx context.Context, pw Password, encoded string) (ok, rehash bool, err error)
}
