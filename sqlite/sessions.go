package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey"
)

var errNotHisSession = errors.New("the new session belongs to another user")

const sessionInsert = `INSERT INTO sessions
(id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) insertSession(ctx context.Context, tx *sql.Tx, sess latchkey.Session) error {
	_, err := s.txExec(ctx, tx, sessionInsert,
		sess.ID, sess.Digest[:], sess.UserID, micros(sess.CreatedAt), micros(sess.LastUsedAt), micros(sess.ExpiresAt), sess.IP, sess.UserAgent, sess.DeviceName)
	return err
}

// CreateSession records a login. It fails with ErrConflict, and writes
// nothing, when the user's hash is no longer u.ExpectHash, the user was
// disabled, or the user needs a second factor the login did not pass; with ErrNotFound when the user does not exist. A zero
// u.LastLogin leaves the last login as it was.
func (s *Store) CreateSession(ctx context.Context, sess latchkey.Session, u latchkey.LoginUpdate) error {
	return s.write(ctx, "create session", func(tx *sql.Tx) error {
		var (
			hash        string
			active, mfa bool
		)
		err := s.txQueryRow(ctx, tx, sessionUserState, sess.UserID).Scan(&hash, &active, &mfa)
		if err != nil {
			return err
		}
		// Under the write lock: a confirmation (ConfirmTOTP) commits
		// wholly before this read or wholly after this insert.
		if !active || hash != u.ExpectHash || (mfa && !u.SecondFactor) {
			return latchkey.ErrConflict
		}
		_, err = s.txExec(ctx, tx, loginUpdate,
			nullMicros(u.LastLogin), u.NewHash, sess.UserID)
		if err != nil {
			return err
		}
		if err := s.insertSession(ctx, tx, sess); err != nil {
			return err
		}
		return s.userChanged(ctx, tx, sess.UserID, micros(s.now()))
	})
}

// The statements of CreateSession, prepared once (prepareWrites).
const (
	sessionUserState = `SELECT password_hash, is_active, mfa FROM users WHERE id = ?`
	loginUpdate      = `UPDATE users SET
last_login = coalesce(?1, last_login),
password_hash = CASE ?2 WHEN '' THEN password_hash ELSE ?2 END
WHERE id = ?3`
)

// bySessionDigest is the cache-miss path of every token check: one lookup
// in the unique index on digest, one in the users primary key. The
// session's rowid goes to TouchSessions (see hints).
const bySessionDigest = `SELECT
s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent, s.device_name,
u.username, u.email, u.first_name, u.last_name, u.password_hash, u.is_active, u.last_login, u.date_joined,
s.rowid
FROM sessions AS s JOIN users AS u ON u.id = s.user_id
WHERE s.digest = ?`

// SessionByDigest returns the session with digest d, expired or not, and
// its user; ErrNotFound when there is none.
func (s *Store) SessionByDigest(ctx context.Context, d latchkey.Digest) (latchkey.Session, latchkey.User, error) {
	st, err := s.prepare(ctx, false, bySessionDigest)
	if err != nil {
		return latchkey.Session{}, latchkey.User{}, fail("session by digest", err)
	}
	var (
		sess                       latchkey.Session
		u                          latchkey.User
		created, used, exp, joined int64
		lastLogin                  sql.NullInt64
		rowid                      int64
	)
	err = st.QueryRowContext(ctx, d[:]).Scan(
		&sess.ID, &sess.UserID, &created, &used, &exp, &sess.IP, &sess.UserAgent, &sess.DeviceName,
		&u.Username, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.Active, &lastLogin, &joined,
		&rowid)
	if err != nil {
		return latchkey.Session{}, latchkey.User{}, fail("session by digest", err)
	}
	s.hints.add(d, rowid)
	sess.Digest = d
	sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(exp)
	u.ID = sess.UserID
	u.LastLogin, u.DateJoined = fromNullMicros(lastLogin), fromMicros(joined)
	return sess, u, nil
}

// SessionByID returns the session with that id, expired or not;
// ErrNotFound when there is none.
func (s *Store) SessionByID(ctx context.Context, id string) (latchkey.Session, error) {
	var (
		sess               latchkey.Session
		d                  []byte
		created, used, exp int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name
FROM sessions WHERE id = ?`, id).Scan(&d, &sess.UserID, &created, &used, &exp, &sess.IP, &sess.UserAgent, &sess.DeviceName)
	if err != nil {
		return latchkey.Session{}, fail("session by id", err)
	}
	if sess.Digest, err = digest(d); err != nil {
		return latchkey.Session{}, fail("session by id", err)
	}
	sess.ID = id
	sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(exp)
	return sess, nil
}

// ListSessions returns the user's sessions that expire after now, newest
// first.
func (s *Store) ListSessions(ctx context.Context, userID int64, now time.Time) ([]latchkey.Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, digest, created_at, last_used_at, expires_at, ip, user_agent, device_name
FROM sessions WHERE user_id = ? AND expires_at > ?
ORDER BY created_at DESC, rowid DESC`, userID, micros(now))
	if err != nil {
		return nil, fail("list sessions", err)
	}
	defer rows.Close()
	var ss []latchkey.Session
	for rows.Next() {
		var (
			sess               latchkey.Session
			d                  sql.RawBytes
			created, used, exp int64
		)
		if err := rows.Scan(&sess.ID, &d, &created, &used, &exp, &sess.IP, &sess.UserAgent, &sess.DeviceName); err != nil {
			return nil, fail("list sessions", err)
		}
		if sess.Digest, err = digest(d); err != nil {
			return nil, fail("list sessions", err)
		}
		sess.UserID = userID
		sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(exp)
		ss = append(ss, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list sessions", err)
	}
	return ss, nil
}

// DeleteSession revokes the user's session with that id if it expires
// after now, and returns its digest; ErrNotFound otherwise.
func (s *Store) DeleteSession(ctx context.Context, userID int64, sessionID string, now time.Time) (latchkey.Digest, error) {
	var d latchkey.Digest
	err := s.write(ctx, "delete session", func(tx *sql.Tx) error {
		var b []byte
		err := tx.QueryRowContext(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ? AND expires_at > ? RETURNING digest`,
			sessionID, userID, micros(now)).Scan(&b)
		if err != nil {
			return err
		}
		if d, err = digest(b); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO changes (user_id, session, digest, at) VALUES (?, 1, ?, ?)`,
			userID, d[:], micros(s.now()))
		return err
	})
	if err != nil {
		return latchkey.Digest{}, err
	}
	return d, nil
}

// DeleteSessions revokes every session of the user, expired or not,
// except keep when it is not nil.
func (s *Store) DeleteSessions(ctx context.Context, userID int64, keep *latchkey.Digest) ([]latchkey.Digest, error) {
	var ds []latchkey.Digest
	err := s.write(ctx, "delete sessions", func(tx *sql.Tx) error {
		var err error
		ds, err = revoke(ctx, tx, userID, keep, micros(s.now()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// revoke deletes the user's sessions but keep, writes a change entry for
// each, and returns their digests.
func revoke(ctx context.Context, tx *sql.Tx, userID int64, keep *latchkey.Digest, at int64) ([]latchkey.Digest, error) {
	var k any // NULL: keep none
	if keep != nil {
		k = keep[:]
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (user_id, session, digest, at)
SELECT user_id, 1, digest, ?3 FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR digest <> ?2)`,
		userID, k, at)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR digest <> ?2) RETURNING digest`,
		userID, k)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []latchkey.Digest
	for rows.Next() {
		var b sql.RawBytes
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		d, err := digest(b)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// userChanged writes the change entry of a changed user record.
func (s *Store) userChanged(ctx context.Context, tx *sql.Tx, userID, at int64) error {
	_, err := s.txExec(ctx, tx, changedUser, userID, at)
	return err
}

// changedUser is the change entry of a changed user record.
const changedUser = `INSERT INTO changes (user_id, session, digest, at) VALUES (?, 0, NULL, ?)`

// DeleteExpired deletes the sessions that expired before t and returns
// their number. It also prunes the change entries older than t but the
// newest: a prefix of the feed, up to the newest entry older than t, whose
// end it records in changes_pruned for Changes to detect readers that fell
// behind it.
func (s *Store) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, "delete expired", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, micros(t))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_challenges WHERE expires_at < ?`, micros(t)); err != nil {
			return err
		}
		var end sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT max(seq) FROM changes
WHERE at < ? AND seq < (SELECT max(seq) FROM changes)`, micros(t)).Scan(&end)
		if err != nil || !end.Valid {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE seq <= ?`, end.Int64); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE changes_pruned SET seq = max(seq, ?) WHERE id = 1`, end.Int64)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
