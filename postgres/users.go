package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/latchkeyhq/latchkey"
)

const userColumns = `id, username, email, first_name, last_name, password_hash, is_active, last_login, date_joined`

// scanUser reads the columns of userColumns, in order.
func scanUser(row pgx.Row) (latchkey.User, error) {
	var (
		u         latchkey.User
		lastLogin pgtype.Timestamptz
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.Active, &lastLogin, &u.DateJoined)
	u.LastLogin = fromNull(lastLogin)
	u.DateJoined = u.DateJoined.UTC()
	return u, err
}

// collectUsers reads rows of userColumns, and closes rows. No rows is a
// nil slice.
func collectUsers(rows pgx.Rows) ([]latchkey.User, error) {
	return pgx.AppendRows([]latchkey.User(nil), rows, func(row pgx.CollectableRow) (latchkey.User, error) { return scanUser(row) })
}

// CreateUser inserts u. A zero u.ID is assigned; another is kept (imports
// keep their ids) and the id sequence is moved past it. A taken username
// or id is ErrConflict. Creating a user writes no change entry: no cache
// can hold what did not exist.
func (s *Store) CreateUser(ctx context.Context, u latchkey.User) (latchkey.User, error) {
	// Return the times as they read back.
	if !u.LastLogin.IsZero() {
		u.LastLogin = normal(u.LastLogin)
	}
	u.DateJoined = normal(u.DateJoined)
	b := &pgx.Batch{}
	b.Queue(lockSQL, lockUsers)
	explicit := u.ID != 0
	if explicit {
		b.Queue(`INSERT INTO users (`+userColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			u.ID, u.Username, u.Email, u.FirstName, u.LastName, u.PasswordHash, u.Active, nullTime(u.LastLogin), u.DateJoined)
		// Under lockUsers no other transaction holds an unused id from
		// the sequence, so max(id) is past every id drawn and kept.
		b.Queue(`SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users`)
	} else {
		b.Queue(`INSERT INTO users (username, email, first_name, last_name, password_hash, is_active, last_login, date_joined)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			u.Username, u.Email, u.FirstName, u.LastName, u.PasswordHash, u.Active, nullTime(u.LastLogin), u.DateJoined)
	}
	err := s.send(ctx, "create user", b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&u.ID); err != nil {
			return err
		}
		if explicit {
			_, err := br.Exec()
			return err
		}
		return nil
	})
	if err != nil {
		return latchkey.User{}, err
	}
	return u, nil
}

// UserByID returns the user with the id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (latchkey.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return latchkey.User{}, fail("user by id", err)
	}
	return u, nil
}

// UserByUsername returns the user with exactly that username (case
// matters), or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (latchkey.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	if err != nil {
		return latchkey.User{}, fail("user by username", err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]latchkey.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fail("list users", err)
	}
	us, err := collectUsers(rows)
	if err != nil {
		return nil, fail("list users", err)
	}
	return us, nil
}

// PasswordHashes calls fn with each user's password hash, reading one row
// at a time. An error from fn is returned as it is.
func (s *Store) PasswordHashes(ctx context.Context, fn func(hash string) error) error {
	rows, err := s.pool.Query(ctx, `SELECT password_hash FROM users`)
	if err != nil {
		return fail("password hashes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return fail("password hashes", err)
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fail("password hashes", err)
	}
	return nil
}

// revokedRow scans a row of a revoking write's RETURNING session, digest:
// a revoked session's digest, or the entry of the changed user record.
func revokedRow(ds *[]latchkey.Digest, userChanged *bool) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		var (
			session bool
			b       []byte
		)
		if err := rows.Scan(&session, &b); err != nil {
			return err
		}
		if !session {
			*userChanged = true
			return nil
		}
		d, err := digest(b)
		if err != nil {
			return err
		}
		*ds = append(*ds, d)
		return nil
	}
}

// setActive updates the user and, when disabling, revokes every session,
// writing the change entries, in one statement.
const setActive = `WITH u AS (
    UPDATE users SET is_active = $2 WHERE id = $1 RETURNING id
), d AS (
    DELETE FROM sessions WHERE user_id = $1 AND NOT $2::boolean RETURNING user_id, digest
)
INSERT INTO changes (user_id, session, digest)
SELECT user_id, true, digest FROM d
UNION ALL
SELECT id, false, NULL FROM u
RETURNING session, digest`

// SetActive enables or disables a user. Disabling revokes every session of
// the user; either way the user record changed.
func (s *Store) SetActive(ctx context.Context, userID int64, active bool) ([]latchkey.Digest, error) {
	var (
		ds    []latchkey.Digest
		found bool
	)
	err := s.writeChanges(ctx, "set active", setActive, []any{userID, active}, revokedRow(&ds, &found))
	if err == nil && !found {
		err = fail("set active", pgx.ErrNoRows)
	}
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// setPassword replaces the hash unless $3 is set and stale, then revokes
// every session of the user and creates the new one ($11), in one
// statement. The DELETE does not see the INSERT: both read the
// statement's snapshot, so the new session survives.
const setPassword = `WITH u AS (
    UPDATE users SET password_hash = $2 WHERE id = $1 AND ($3 = '' OR password_hash = $3) RETURNING id
), d AS (
    DELETE FROM sessions WHERE user_id = $1 AND EXISTS (SELECT FROM u) RETURNING user_id, digest
), n AS (
    INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name)
    SELECT $4, $5, id, $6, $7, $8, $9, $10, $12 FROM u WHERE $11::boolean
)
INSERT INTO changes (user_id, session, digest)
SELECT user_id, true, digest FROM d
UNION ALL
SELECT id, false, NULL FROM u
RETURNING session, digest`

// SetPassword replaces the user's password hash unless u.ExpectHash is set
// and stale (ErrConflict), revokes every session of the user, and then
// creates u.Session if it is set.
func (s *Store) SetPassword(ctx context.Context, userID int64, u latchkey.PasswordUpdate) ([]latchkey.Digest, error) {
	var sess latchkey.Session
	if u.Session != nil {
		if u.Session.UserID != userID {
			return nil, latchkey.Internal("postgres: set password: %w", errNotHisSession)
		}
		sess = *u.Session
	}
	args := []any{userID, u.NewHash, u.ExpectHash,
		sess.ID, sess.Digest[:], sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt, sess.IP, sess.UserAgent,
		u.Session != nil, sess.DeviceName}
	var (
		ds      []latchkey.Digest
		changed bool
	)
	err := s.writeChanges(ctx, "set password", setPassword, args, revokedRow(&ds, &changed))
	if err == nil && !changed {
		err = fail("set password", s.userExists(ctx, userID))
	}
	if err != nil {
		return nil, err
	}
	return ds, nil
}
