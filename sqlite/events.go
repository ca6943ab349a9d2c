package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

const eventColumns = `id, at, kind, coalesce(user_id, 0), username, detail, ip, user_agent, session_id`

// scanEvent reads a row of eventColumns.
func scanEvent(row interface{ Scan(...any) error }) (latchkey.Event, error) {
	var (
		e  latchkey.Event
		at int64
	)
	if err := row.Scan(&e.ID, &at, &e.Kind, &e.UserID, &e.Username, &e.Detail, &e.IP, &e.UserAgent, &e.SessionID); err != nil {
		return latchkey.Event{}, err
	}
	e.At = fromMicros(at)
	return e, nil
}

// AppendEvents stores es in one transaction: one statement of up to
// eventsPerInsert rows at a time.
func (s *Store) AppendEvents(ctx context.Context, es []latchkey.Event) error {
	if len(es) == 0 {
		return nil
	}
	const eventsPerInsert = 100 // 800 parameters, under SQLite's 32766
	return s.write(ctx, "append events", func(tx *sql.Tx) error {
		for len(es) > 0 {
			n := min(len(es), eventsPerInsert)
			var q strings.Builder
			q.WriteString(`INSERT INTO events (at, kind, user_id, username, detail, ip, user_agent, session_id) VALUES `)
			args := make([]any, 0, 8*n)
			for i, e := range es[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
				e = e.Bounded()
				args = append(args, micros(e.At), string(e.Kind), sql.NullInt64{Int64: e.UserID, Valid: e.UserID != 0},
					e.Username, e.Detail, e.IP, e.UserAgent, e.SessionID)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
			es = es[n:]
		}
		return nil
	})
}

// EventsOfUser returns up to limit events of the user below before,
// newest first.
func (s *Store) EventsOfUser(ctx context.Context, userID, before int64, limit int) ([]latchkey.Event, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, userID, before, limit)
	if err != nil {
		return nil, fail("events of user", err)
	}
	defer rows.Close()
	var es []latchkey.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fail("events of user", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("events of user", err)
	}
	return es, nil
}

// Events calls fn with the events f selects, oldest first.
func (s *Store) Events(ctx context.Context, f latchkey.EventFilter, fn func(latchkey.Event) error) error {
	q := `SELECT ` + eventColumns + ` FROM events WHERE at >= ?`
	args := []any{micros(f.Since)}
	if f.Since.IsZero() {
		args[0] = int64(-1 << 63)
	}
	if f.UserID != 0 {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return fail("events", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return fail("events", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fail("events", err)
	}
	return nil
}

// DeleteEventsBefore removes the events older than t.
func (s *Store) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, "delete events", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE at < ?`, micros(t))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
