package postgres

import (
	"context"
	"time"
)

// RenewReader records id as a reader until expires.
func (s *Store) RenewReader(ctx context.Context, id string, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO readers (id, expires_at) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, id, expires)
	if err != nil {
		return fail("renew reader", err)
	}
	return nil
}

// DropReader removes the record of id, and those that expired long ago.
func (s *Store) DropReader(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM readers WHERE id = $1 OR expires_at < now() - interval '1 hour'`, id); err != nil {
		return fail("drop reader", err)
	}
	return nil
}

// OtherReaders counts the live readers other than id.
func (s *Store) OtherReaders(ctx context.Context, id string, now time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM readers WHERE id <> $1 AND expires_at > $2`, id, now).Scan(&n); err != nil {
		return 0, fail("other readers", err)
	}
	return n, nil
}
