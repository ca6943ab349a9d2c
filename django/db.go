package django

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// The queries of both databases: users by id, then tokens, both in one
// read transaction so that they come from one snapshot.
const (
	userQuery  = `SELECT id, username, email, first_name, last_name, password, is_active, %s, %s FROM %s ORDER BY id`
	tokenQuery = `SELECT "key", user_id, %s FROM ` + tokenTable + ` ORDER BY created, "key"`
)

// SQLite reads the users and tokens of the Django SQLite database file at
// path, opened read-only: Django may keep running. A project without
// Django REST Framework's authtoken app has no tokens to read.
func (r Reader) SQLite(ctx context.Context, path string, h Handler) error {
	_, table, err := r.userModel()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("django: sqlite: %w", err)
	}
	name := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs) +
		"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return fmt.Errorf("django: sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// A read transaction: its first read takes a snapshot that both
	// queries see.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("django: sqlite %s: %w", path, err)
	}
	defer tx.Rollback()

	// Times are read as the text Django wrote, not as the driver would
	// convert the columns it sees declared datetime.
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(userQuery, "CAST(last_login AS TEXT)", "CAST(date_joined AS TEXT)", `"`+table+`"`))
	if err != nil {
		return fmt.Errorf("django: sqlite %s: read %s: %w", path, table, err)
	}
	err = eachRow(rows, func() error {
		var (
			u         User
			lastLogin sql.NullString
			joined    string
		)
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.Password, &u.IsActive, &lastLogin, &joined); err != nil {
			return err
		}
		if err := sqliteTimes(&u, lastLogin, joined); err != nil {
			return fmt.Errorf("user %d: %w", u.ID, err)
		}
		return call(h.User, u)
	})
	if err != nil {
		return readError("sqlite "+path, table, err)
	}

	var n int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, tokenTable).Scan(&n)
	if err != nil || n == 0 {
		return readError("sqlite "+path, tokenTable, err)
	}
	rows, err = tx.QueryContext(ctx, fmt.Sprintf(tokenQuery, "CAST(created AS TEXT)"))
	if err != nil {
		return fmt.Errorf("django: sqlite %s: read %s: %w", path, tokenTable, err)
	}
	err = eachRow(rows, func() error {
		var (
			t            Token
			key, created string
		)
		if err := rows.Scan(&key, &t.UserID, &created); err != nil {
			return err
		}
		t.Key = latchkey.Token(key)
		var err error
		if t.Created, err = parseTime(created); err != nil {
			return fmt.Errorf("token of user %d: created: %w", t.UserID, err)
		}
		return call(h.Token, t)
	})
	return readError("sqlite "+path, tokenTable, err)
}

func sqliteTimes(u *User, lastLogin sql.NullString, joined string) error {
	var err error
	if lastLogin.Valid {
		if u.LastLogin, err = parseTime(lastLogin.String); err != nil {
			return fmt.Errorf("last_login: %w", err)
		}
	}
	if u.DateJoined, err = parseTime(joined); err != nil {
		return fmt.Errorf("date_joined: %w", err)
	}
	return nil
}

// Postgres reads the users and tokens of the Django PostgreSQL database at
// url (a postgres:// URL or key=value string, as pgx reads them), in one
// read-only, repeatable-read transaction. Tables are found on the URL's
// search_path. A project without Django REST Framework's authtoken app
// has no tokens to read.
func (r Reader) Postgres(ctx context.Context, url string, h Handler) error {
	_, table, err := r.userModel()
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("django: postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("django: postgres: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	rows, err := tx.Query(ctx, fmt.Sprintf(userQuery, "last_login", "date_joined", pgx.Identifier{table}.Sanitize()))
	if err != nil {
		return readError("postgres", table, err)
	}
	var (
		u         User
		lastLogin *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.Password, &u.IsActive, &lastLogin, &u.DateJoined}, func() error {
		u.LastLogin = time.Time{}
		if lastLogin != nil {
			u.LastLogin = lastLogin.UTC()
		}
		u.DateJoined = u.DateJoined.UTC()
		return call(h.User, u)
	})
	if err != nil {
		return readError("postgres", table, err)
	}

	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, tokenTable).Scan(&exists); err != nil || !exists {
		return readError("postgres", tokenTable, err)
	}
	rows, err = tx.Query(ctx, fmt.Sprintf(tokenQuery, "created"))
	if err != nil {
		return readError("postgres", tokenTable, err)
	}
	var (
		t   Token
		key string
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &t.UserID, &t.Created}, func() error {
		t.Key = latchkey.Token(key)
		t.Created = t.Created.UTC()
		return call(h.Token, t)
	})
	return readError("postgres", tokenTable, err)
}

// eachRow calls fn for each row and closes rows.
func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// call hands a record to a Handler callback, marking its error as the
// callback's own.
func call[T any](fn func(T) error, v T) error {
	if fn == nil {
		return nil
	}
	if err := fn(v); err != nil {
		return callbackError{err}
	}
	return nil
}

// readError returns a callback's error as it is and wraps any other.
func readError(db, table string, err error) error {
	var cb callbackError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cb):
		return cb.err
	}
	return fmt.Errorf("django: %s: read %s: %w", db, table, err)
}
