package postgres

import (
	"context"
	"time"

	"github.com/latchkeyhq/latchkey"
)

const eventColumns = `id, at, kind, coalesce(user_id, 0), username, detail, ip, user_agent, session_id`

type eventRow interface{ Scan(...any) error }

// scanEvent reads a row of eventColumns.
func scanEvent(row eventRow) (latchkey.Event, error) {
	var e latchkey.Event
	var kind string
	if err := row.Scan(&e.ID, &e.At, &kind, &e.UserID, &e.Username, &e.Detail, &e.IP, &e.UserAgent, &e.SessionID); err != nil {
		return latchkey.Event{}, err
	}
	e.Kind = latchkey.EventKind(kind)
	e.At = e.At.UTC()
	return e, nil
}

// AppendEvents stores es with one statement, whatever their number: the
// columns go as arrays, unnested in order (WITH ORDINALITY), so that ids
// follow the order given.
func (s *Store) AppendEvents(ctx context.Context, es []latchkey.Event) error {
	if len(es) == 0 {
		return nil
	}
	n := len(es)
	var (
		at                                       = make([]time.Time, n)
		uid                                      = make([]int64, n)
		kind, name, detail, ip, ua, sid []string = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	)
	for i, e := range es {
		e = e.Bounded()
		at[i], kind[i], uid[i], name[i], detail[i], ip[i], ua[i], sid[i] = e.At, string(e.Kind), e.UserID, e.Username, e.Detail, e.IP, e.UserAgent, e.SessionID
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO events (at, kind, user_id, username, detail, ip, user_agent, session_id)
SELECT at, kind, nullif(user_id, 0), username, detail, ip, user_agent, session_id
FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    WITH ORDINALITY AS e(at, kind, user_id, username, detail, ip, user_agent, session_id, n)
ORDER BY n`, at, kind, uid, name, detail, ip, ua, sid)
	if err != nil {
		return fail("append events", err)
	}
	return nil
}

// EventsOfUser returns up to limit events of the user below before,
// newest first.
func (s *Store) EventsOfUser(ctx context.Context, userID, before int64, limit int) ([]latchkey.Event, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events
WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, userID, before, limit)
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
	q := `SELECT ` + eventColumns + ` FROM events WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::bigint = 0 OR user_id = $2) ORDER BY id`
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	rows, err := s.pool.Query(ctx, q, since, f.UserID)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE at < $1`, t)
	if err != nil {
		return 0, fail("delete events", err)
	}
	return tag.RowsAffected(), nil
}
