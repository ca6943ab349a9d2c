package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// LockChanges is the change feed lock's key, for tests that look for it in
// pg_locks.
const LockChanges = lockChanges

// Pool returns the Store's pool, for tests that look under the Store.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
