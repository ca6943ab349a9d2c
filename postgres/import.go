package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

// Import runs fn in one transaction and commits what it put unless fn
// fails; see latchkey.Importer.
//
// The transaction takes the change feed lock and the users lock first and
// holds them to its end. The change feed lock is what every change writer
// takes, and the import writes change entries as it goes, so their seqs
// follow commit order (see the package comment). Taking it first, not
// just before the commit, is what keeps an import from deadlocking with a
// login: a login takes the lock and then a user row, and an import that
// held user rows while it waited for the lock would close the circle.
// The cost: logins and revocations on every node wait while an import
// runs (token checks, which write nothing, go on). The users lock keeps
// CreateUser from drawing an id that the import is about to insert, and
// lets the import move the id sequence past the ids it kept.
func (s *Store) Import(ctx context.Context, opt latchkey.ImportOptions, fn func(latchkey.ImportTx) error) error {
	if err := opt.Validate(); err != nil {
		return fail("import", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail("import", err)
	}
	// After a commit, Rollback does nothing.
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	b.Queue(lockSQL, lockChanges)
	b.Queue(lockSQL, lockUsers)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fail("import", err)
	}
	it := &importTx{tx: tx}
	it.users = latchkey.UserImport{KeepHash: opt.KeepHash, Insert: it.insertUser, Find: it.find, Update: it.update, Fail: fail}
	// fn's error is the caller's own (a dry run's sentinel, say): it is
	// returned as it is.
	if err := fn(it); err != nil {
		return err
	}
	if it.created {
		// Under lockUsers no other transaction holds an unused id from the
		// sequence, so max(id) is past every id drawn and kept.
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users`); err != nil {
			return fail("import", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail("import", err)
	}
	return nil
}

// importTx is the ImportTx of one Import.
type importTx struct {
	tx      pgx.Tx
	users   latchkey.UserImport
	created bool // a user was inserted with its own id
}

// PutUser stores u by the rules of latchkey.ImportTx.
func (t *importTx) PutUser(ctx context.Context, u latchkey.User) (latchkey.ImportResult, error) {
	return t.users.Put(ctx, u)
}

// insertUser inserts u unless its id or username is taken.
func (t *importTx) insertUser(ctx context.Context, u latchkey.User) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		u.ID, u.Username, u.Email, u.FirstName, u.LastName, u.PasswordHash, u.Active, nullTime(u.LastLogin), u.DateJoined)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 1 {
		t.created = true
		return true, nil
	}
	return false, nil
}

// find reads the stored users with u's id or u's username. Change
// writers wait for the import's locks, so no login changes them between
// this read and the update.
func (t *importTx) find(ctx context.Context, u latchkey.User) ([]latchkey.User, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 OR username = $2`, u.ID, u.Username)
	if err != nil {
		return nil, err
	}
	return collectUsers(rows)
}

// importUpdate updates a user and, when $10, revokes every session of
// the user, writing the change entries, in one statement.
const importUpdate = `WITH u AS (
    UPDATE users SET username = $2, email = $3, first_name = $4, last_name = $5,
        password_hash = $6, is_active = $7, last_login = $8, date_joined = $9
    WHERE id = $1 RETURNING id
), d AS (
    DELETE FROM sessions WHERE user_id = $1 AND $10::boolean RETURNING user_id, digest
)
INSERT INTO changes (user_id, session, digest)
SELECT user_id, true, digest FROM d
UNION ALL
SELECT id, false, NULL FROM u
RETURNING session, digest`

// update stores m, the stored user merged with an imported one, and
// writes the change entries, in one statement. When revoke, it revokes
// every session of the user and returns their digests.
func (t *importTx) update(ctx context.Context, m latchkey.User, revoke bool) ([]latchkey.Digest, error) {
	rows, err := t.tx.Query(ctx, importUpdate, m.ID, m.Username, m.Email, m.FirstName, m.LastName, m.PasswordHash, m.Active,
		nullTime(m.LastLogin), m.DateJoined, revoke)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		ds      []latchkey.Digest
		changed bool
	)
	scan := revokedRow(&ds, &changed)
	for rows.Next() {
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !changed {
		// The row was read in this transaction, under lockUsers.
		return nil, errors.New("the user vanished")
	}
	return ds, nil
}

// importSession inserts a session unless its digest is stored or its user
// is missing or inactive, and returns what it found, in one statement.
const importSession = `WITH e AS (
    SELECT user_id FROM sessions WHERE digest = $2
), u AS (
    SELECT id, is_active FROM users WHERE id = $3
), i AS (
    INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name)
    SELECT $1, $2, id, $4, $5, $6, $7, $8, $9 FROM u WHERE is_active AND NOT EXISTS (SELECT FROM e)
    RETURNING 1
)
SELECT (SELECT user_id FROM e), (SELECT is_active FROM u), EXISTS (SELECT FROM i)`

// PutSession stores s by the rules of latchkey.ImportTx.
func (t *importTx) PutSession(ctx context.Context, s latchkey.Session) (latchkey.ImportResult, error) {
	var (
		owner    *int64
		active   *bool
		inserted bool
	)
	err := t.tx.QueryRow(ctx, importSession, s.ID, s.Digest[:], s.UserID, s.CreatedAt, s.LastUsedAt, s.ExpiresAt, s.IP, s.UserAgent, s.DeviceName).
		Scan(&owner, &active, &inserted)
	if err != nil {
		return latchkey.ImportResult{}, fail("import session", err)
	}
	res := latchkey.DecideImportSession(s, owner, active)
	if res.Action == latchkey.ImportCreated && !inserted {
		return latchkey.ImportResult{}, fail("import session", errors.New("the session was not inserted"))
	}
	return res, nil
}
