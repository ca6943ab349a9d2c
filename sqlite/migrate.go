package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/latchkeyhq/latchkey"
)

// Migrate brings the schema up to date. Each migration runs in its own
// transaction together with its schema_migrations row, so Migrate is
// idempotent, and two processes running it at once apply each migration
// once: the second waits for the first's write lock, then finds the row.
func (s *Store) Migrate(ctx context.Context) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT`
	if _, err := s.w.ExecContext(ctx, create); err != nil {
		return fail("migrate", err)
	}
	ms, err := latchkey.LoadMigrations(migrationFS)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range ms {
		err := s.write(ctx, "migrate "+m.Name, func(tx *sql.Tx) error {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, micros(s.now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migrationFS holds the schema changes, named NNNN_what.sql and applied in
// the order of NNNN. A released migration is never edited; a change is a new
// file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS
