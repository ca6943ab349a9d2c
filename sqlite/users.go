package sqlite

import (
	"context"
	"database/sql"

	"github.com/latchkeyhq/latchkey"
)

const userColumns = `id, username, email, first_name, last_name, password_hash, is_active, last_login, date_joined`

// scanUser reads the columns of userColumns, in order.
func scanUser(row interface{ Scan(...any) error }) (latchkey.User, error) {
	var (
		u         latchkey.User
		lastLogin sql.NullInt64
		joined    int64
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.Active, &lastLogin, &joined)
	u.LastLogin = fromNullMicros(lastLogin)
	u.DateJoined = fromMicros(joined)
	return u, err
}

// scanUsers reads rows of userColumns, and closes rows.
func scanUsers(rows *sql.Rows) ([]latchkey.User, error) {
	defer rows.Close()
	var us []latchkey.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// CreateUser inserts u. A zero u.ID is assigned; another is kept (imports
// keep their ids). A taken username or id is ErrConflict. Creating a user
// writes no change entry: no cache can hold what did not exist.
func (s *Store) CreateUser(ctx context.Context, u latchkey.User) (latchkey.User, error) {
	// Return the times as they read back.
	if !u.LastLogin.IsZero() {
		u.LastLogin = normal(u.LastLogin)
	}
	u.DateJoined = normal(u.DateJoined)
	id := sql.NullInt64{Int64: u.ID, Valid: u.ID != 0}
	err := s.write(ctx, "create user", func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO users (`+userColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			id, u.Username, u.Email, u.FirstName, u.LastName, u.PasswordHash, u.Active,
			nullMicros(u.LastLogin), micros(u.DateJoined),
		).Scan(&u.ID)
	})
	if err != nil {
		return latchkey.User{}, err
	}
	return u, nil
}

// UserByID returns the user with the id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (latchkey.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return latchkey.User{}, fail("user by id", err)
	}
	return u, nil
}

// UserByUsername returns the user with exactly that username (case
// matters), or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (latchkey.User, error) {
	st, err := s.prepare(ctx, false, `SELECT `+userColumns+` FROM users WHERE username = ?`)
	if err != nil {
		return latchkey.User{}, fail("user by username", err)
	}
	u, err := scanUser(st.QueryRowContext(ctx, username))
	if err != nil {
		return latchkey.User{}, fail("user by username", err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]latchkey.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fail("list users", err)
	}
	us, err := scanUsers(rows)
	if err != nil {
		return nil, fail("list users", err)
	}
	return us, nil
}

// PasswordHashes calls fn with each user's password hash, reading one row
// at a time. An error from fn is returned as it is.
func (s *Store) PasswordHashes(ctx context.Context, fn func(hash string) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT password_hash FROM users`)
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

// SetActive enables or disables a user. Disabling revokes every session of
// the user; either way the user record changed.
func (s *Store) SetActive(ctx context.Context, userID int64, active bool) ([]latchkey.Digest, error) {
	var ds []latchkey.Digest
	err := s.write(ctx, "set active", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET is_active = ? WHERE id = ?`, active, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		at := micros(s.now())
		if !active {
			if ds, err = revoke(ctx, tx, userID, nil, at); err != nil {
				return err
			}
		}
		return s.userChanged(ctx, tx, userID, at)
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// SetPassword replaces the user's password hash unless u.ExpectHash is set
// and stale (ErrConflict), revokes every session of the user, and then
// creates u.Session if it is set.
func (s *Store) SetPassword(ctx context.Context, userID int64, u latchkey.PasswordUpdate) ([]latchkey.Digest, error) {
	var ds []latchkey.Digest
	err := s.write(ctx, "set password", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?1 WHERE id = ?2 AND (?3 = '' OR password_hash = ?3)`,
			u.NewHash, userID, u.ExpectHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// Either no such user or a stale ExpectHash.
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
				return err
			}
			return latchkey.ErrConflict
		}
		at := micros(s.now())
		if ds, err = revoke(ctx, tx, userID, nil, at); err != nil {
			return err
		}
		if err := s.userChanged(ctx, tx, userID, at); err != nil {
			return err
		}
		if u.Session != nil {
			if u.Session.UserID != userID {
				return errNotHisSession
			}
			return s.insertSession(ctx, tx, *u.Session)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}
