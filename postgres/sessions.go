package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/latchkeyhq/latchkey"
)

var errNotHisSession = errors.New("the new session belongs to another user")

// createSession records a login in one statement: the user is updated only
// if still active with the expected hash ($11) and needing no second
// factor unless the login passed one ($13), the session is inserted only
// if the user was, and the change entry only if the session was. A
// ConfirmTOTP that updated the user row first makes the UPDATE wait for
// its commit and recheck the condition on the row it committed.
const createSession = `WITH u AS (
    UPDATE users SET
        last_login = coalesce($9::timestamptz, last_login),
        password_hash = CASE WHEN $10 = '' THEN password_hash ELSE $10 END
    WHERE id = $3 AND is_active AND password_hash = $11 AND ($13::boolean OR NOT mfa)
    RETURNING id
), s AS (
    INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name)
    SELECT $1, $2, id, $4, $5, $6, $7, $8, $12 FROM u
    RETURNING user_id
)
INSERT INTO changes (user_id, session) SELECT user_id, false FROM s
RETURNING seq`

// CreateSession records a login. It fails with ErrConflict, and writes
// nothing, when the user's hash is no longer u.ExpectHash, the user was
// disabled, or the user needs a second factor the login did not pass; with ErrNotFound when the user does not exist. A zero
// u.LastLogin leaves the last login as it was.
func (s *Store) CreateSession(ctx context.Context, sess latchkey.Session, u latchkey.LoginUpdate) error {
	args := []any{sess.ID, sess.Digest[:], sess.UserID, sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt, sess.IP, sess.UserAgent,
		nullTime(u.LastLogin), u.NewHash, u.ExpectHash, sess.DeviceName, u.SecondFactor}
	created := false
	err := s.writeChanges(ctx, "create session", createSession, args, func(pgx.Rows) error {
		created = true
		return nil
	})
	if err == nil && !created {
		err = fail("create session", s.userExists(ctx, sess.UserID))
	}
	return err
}

// bySessionDigest is the cache-miss path of every token check: one lookup
// in the unique index on digest, one in the users primary key.
const bySessionDigest = `SELECT
s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent, s.device_name,
u.username, u.email, u.first_name, u.last_name, u.password_hash, u.is_active, u.last_login, u.date_joined
FROM sessions AS s JOIN users AS u ON u.id = s.user_id
WHERE s.digest = $1`

// SessionByDigest returns the session with digest d, expired or not, and
// its user; ErrNotFound when there is none. It is one round trip: pgx
// prepares the statement once per connection.
func (s *Store) SessionByDigest(ctx context.Context, d latchkey.Digest) (latchkey.Session, latchkey.User, error) {
	var (
		sess      latchkey.Session
		u         latchkey.User
		lastLogin pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, bySessionDigest, d[:]).Scan(
		&sess.ID, &sess.UserID, &sess.CreatedAt, &sess.LastUsedAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent, &sess.DeviceName,
		&u.Username, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.Active, &lastLogin, &u.DateJoined)
	if err != nil {
		return latchkey.Session{}, latchkey.User{}, fail("session by digest", err)
	}
	sess.Digest = d
	sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.LastUsedAt.UTC(), sess.ExpiresAt.UTC()
	u.ID = sess.UserID
	u.LastLogin, u.DateJoined = fromNull(lastLogin), u.DateJoined.UTC()
	return sess, u, nil
}

// SessionByID returns the session with that id, expired or not;
// ErrNotFound when there is none.
func (s *Store) SessionByID(ctx context.Context, id string) (latchkey.Session, error) {
	var (
		sess latchkey.Session
		d    []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name
FROM sessions WHERE id = $1`, id).Scan(&d, &sess.UserID, &sess.CreatedAt, &sess.LastUsedAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent, &sess.DeviceName)
	if err != nil {
		return latchkey.Session{}, fail("session by id", err)
	}
	if sess.Digest, err = digest(d); err != nil {
		return latchkey.Session{}, fail("session by id", err)
	}
	sess.ID = id
	sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.LastUsedAt.UTC(), sess.ExpiresAt.UTC()
	return sess, nil
}

// ListSessions returns the user's sessions that expire after now, newest
// first.
func (s *Store) ListSessions(ctx context.Context, userID int64, now time.Time) ([]latchkey.Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, digest, created_at, last_used_at, expires_at, ip, user_agent, device_name
FROM sessions WHERE user_id = $1 AND expires_at > $2
ORDER BY created_at DESC, seq DESC`, userID, now)
	if err != nil {
		return nil, fail("list sessions", err)
	}
	defer rows.Close()
	var ss []latchkey.Session
	for rows.Next() {
		var (
			sess latchkey.Session
			d    []byte
		)
		if err := rows.Scan(&sess.ID, &d, &sess.CreatedAt, &sess.LastUsedAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent, &sess.DeviceName); err != nil {
			return nil, fail("list sessions", err)
		}
		if sess.Digest, err = digest(d); err != nil {
			return nil, fail("list sessions", err)
		}
		sess.UserID = userID
		sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.LastUsedAt.UTC(), sess.ExpiresAt.UTC()
		ss = append(ss, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list sessions", err)
	}
	return ss, nil
}

const deleteSession = `WITH d AS (
    DELETE FROM sessions WHERE id = $1 AND user_id = $2 AND expires_at > $3 RETURNING user_id, digest
)
INSERT INTO changes (user_id, session, digest) SELECT user_id, true, digest FROM d
RETURNING session, digest`

// DeleteSession revokes the user's session with that id if it expires
// after now, and returns its digest; ErrNotFound otherwise.
func (s *Store) DeleteSession(ctx context.Context, userID int64, sessionID string, now time.Time) (latchkey.Digest, error) {
	var (
		ds []latchkey.Digest
		ok bool
	)
	err := s.writeChanges(ctx, "delete session", deleteSession, []any{sessionID, userID, now}, revokedRow(&ds, &ok))
	if err == nil && len(ds) != 1 {
		err = fail("delete session", pgx.ErrNoRows)
	}
	if err != nil {
		return latchkey.Digest{}, err
	}
	return ds[0], nil
}

// deleteSessions revokes every session of the user but $2 (when not NULL).
const deleteSessions = `WITH d AS (
    DELETE FROM sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR digest <> $2) RETURNING user_id, digest
)
INSERT INTO changes (user_id, session, digest) SELECT user_id, true, digest FROM d
RETURNING session, digest`

// DeleteSessions revokes every session of the user, expired or not,
// except keep when it is not nil.
func (s *Store) DeleteSessions(ctx context.Context, userID int64, keep *latchkey.Digest) ([]latchkey.Digest, error) {
	var k []byte // NULL: keep none
	if keep != nil {
		k = keep[:]
	}
	var (
		ds []latchkey.Digest
		ok bool
	)
	if err := s.writeChanges(ctx, "delete sessions", deleteSessions, []any{userID, k}, revokedRow(&ds, &ok)); err != nil {
		return nil, err
	}
	return ds, nil
}

// touchSessions moves last_used_at forward where it is at least $3
// microseconds older. It locks the rows it updates with SKIP LOCKED, so it
// never waits for a row and can never be one end of a deadlock (two nodes
// touching the same sessions in different orders, or a touch crossing a
// revocation). A skipped row is being revoked, pruned or touched by
// another node at that moment: its time lags by at most one flush.
const touchSessions = `UPDATE sessions AS s SET last_used_at = t.at
FROM (
    SELECT l.id, t.at
    FROM unnest($1::bytea[], $2::timestamptz[]) AS t (digest, at)
    JOIN sessions AS l ON l.digest = t.digest
    WHERE l.last_used_at < t.at AND l.last_used_at <= t.at - $3::bigint * interval '1 microsecond'
    FOR UPDATE OF l SKIP LOCKED
) AS t
WHERE s.id = t.id`

// TouchSessions records last use times in one statement. A time only
// moves forward, and only by at least minInterval; unknown digests are
// skipped, and so are sessions another transaction holds locked (see
// touchSessions). Touches are not revocations and write no change entries.
func (s *Store) TouchSessions(ctx context.Context, touches map[latchkey.Digest]time.Time, minInterval time.Duration) error {
	if len(touches) == 0 {
		return nil
	}
	ds := make([][]byte, 0, len(touches))
	ats := make([]time.Time, 0, len(touches))
	for d, at := range touches {
		ds = append(ds, d[:])
		ats = append(ats, at)
	}
	if _, err := s.pool.Exec(ctx, touchSessions, ds, ats, minInterval.Microseconds()); err != nil {
		return fail("touch sessions", err)
	}
	return nil
}

// deleteExpired deletes expired sessions (skipping rows another
// transaction holds: they are being revoked, or touched, and go next
// time) and prunes the change entries older than $1 but the newest: a
// prefix of the feed, up to the newest entry older than $1, whose end it
// records in changes_pruned for Changes to detect readers that fell behind
// it. Entries are only deleted here, and DeleteExpired runs under
// lockPrune, so it never waits for a row another transaction holds.
const deleteExpired = `WITH s AS (
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions WHERE expires_at < $1 FOR UPDATE SKIP LOCKED
    )
    RETURNING 1
), m AS (
    DELETE FROM mfa_challenges WHERE expires_at < $1
), e AS (
    SELECT max(seq) AS seq FROM changes
    WHERE at < $1 AND seq < (SELECT max(seq) FROM changes)
), c AS (
    DELETE FROM changes WHERE seq <= (SELECT seq FROM e)
), p AS (
    UPDATE changes_pruned SET seq = greatest(changes_pruned.seq, e.seq)
    FROM e WHERE changes_pruned.id = 1 AND e.seq IS NOT NULL
)
SELECT count(*) FROM s`

// DeleteExpired deletes the sessions that expired before t and returns
// their number, and prunes the change feed (see deleteExpired).
func (s *Store) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	b := &pgx.Batch{}
	b.Queue(lockSQL, lockPrune)
	b.Queue(deleteExpired, t)
	var n int64
	err := s.send(ctx, "delete expired", b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
