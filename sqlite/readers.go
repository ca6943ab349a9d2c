package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// RenewReader records id as a reader until expires.
func (s *Store) RenewReader(ctx context.Context, id string, expires time.Time) error {
	return s.write(ctx, "renew reader", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO readers (id, expires_at) VALUES (?, ?)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, id, micros(expires))
		return err
	})
}

// DropReader removes the record of id, and those that expired long ago.
func (s *Store) DropReader(ctx context.Context, id string) error {
	return s.write(ctx, "drop reader", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM readers WHERE id = ? OR expires_at < ?`, id, micros(s.now().Add(-time.Hour)))
		return err
	})
}

// OtherReaders counts the live readers other than id.
func (s *Store) OtherReaders(ctx context.Context, id string, now time.Time) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM readers WHERE id <> ? AND expires_at > ?`, id, micros(now)).Scan(&n); err != nil {
		return 0, fail("other readers", err)
	}
	return n, nil
}
