package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

// Migrate brings the schema (in the first schema of the search_path) up to
// date. Each migration runs in its own transaction together with its
// schema_migrations row, after taking an advisory lock that every Migrate
// takes: Migrate is idempotent, and processes running it at once apply each
// migration once. The lock is a transaction lock, so a canceled Migrate
// never leaves it held on a pooled connection.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := latchkey.LoadMigrations(migrationFS)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockSQL, lockMigrate); err != nil {
				return err
			}
			// Under the lock: concurrent CREATE TABLE IF NOT EXISTS can
			// fail on the catalog's unique indexes.
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    bigint      PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)`)
			if err != nil {
				return err
			}
			var done bool
			err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done)
			if err != nil || done {
				return err
			}
			// No arguments: pgx sends it with the simple protocol, which
			// runs several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version)
			return err
		})
		if err != nil {
			return fail("migrate "+m.Name, err)
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
