package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"strconv"

	"github.com/latchkeyhq/latchkey"
)

// importTx is the ImportTx of one Import. Its statements are prepared once
// for the transaction and closed with it.
type importTx struct {
	tx    *sql.Tx
	at    int64 // stamps the change entries
	users latchkey.UserImport

	// newSessions says whether the previous session was inserted.
	newSessions bool

	findUser, insertUserStmt, updateUser *sql.Stmt
	findSession, insertSessionStmt       *sql.Stmt
}

// Import runs fn in one write transaction and commits what it put unless
// fn fails; see latchkey.Importer. The transaction holds the file's write
// lock from start to end: logins and revocations of other processes wait
// for it (up to their 5-second busy timeout, then fail with 503), while
// token checks, which only read, go on.
func (s *Store) Import(ctx context.Context, opt latchkey.ImportOptions, fn func(latchkey.ImportTx) error) error {
	if err := opt.Validate(); err != nil {
		return fail("import", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail("import", err)
	}
	// A large import writes far more pages than the default page cache
	// (2 MiB) holds, and the sessions' digests land all over their index:
	// the import's connection gets a larger cache while it runs. Deferred
	// before the rollback, the reset runs after it, once the connection
	// is free again.
	var cacheSize int64
	if err := tx.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cacheSize); err != nil {
		tx.Rollback()
		return fail("import", err)
	}
	defer s.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = `+strconv.FormatInt(cacheSize, 10))
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -65536`); err != nil {
		return fail("import", err)
	}
	it := &importTx{tx: tx, at: micros(s.now()), newSessions: true}
	it.users = latchkey.UserImport{KeepHash: opt.KeepHash, Insert: it.insertUser, Find: it.find, Update: it.update, Fail: fail}
	if err := it.prepare(ctx); err != nil {
		return fail("import", err)
	}
	// fn's error is the caller's own (a dry run's sentinel, say): it is
	// returned as it is.
	if err := fn(it); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fail("import", err)
	}
	return nil
}

func (t *importTx) prepare(ctx context.Context) error {
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&t.findUser, `SELECT ` + userColumns + ` FROM users WHERE id = ? OR username = ?`},
		// Inserts nothing when the id or the username is taken.
		{&t.insertUserStmt, `INSERT INTO users (` + userColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&t.updateUser, `UPDATE users SET username = ?2, email = ?3, first_name = ?4, last_name = ?5,
password_hash = ?6, is_active = ?7, last_login = ?8, date_joined = ?9 WHERE id = ?1`},
		// What latchkey.DecideImportSession is told: the user holding the
		// digest and whether the session's user is active, each NULL when
		// there is none.
		{&t.findSession, `SELECT (SELECT user_id FROM sessions WHERE digest = ?), (SELECT is_active FROM users WHERE id = ?)`},
		// Inserts nothing when the digest is stored or the user is
		// missing or inactive.
		{&t.insertSessionStmt, `INSERT INTO sessions (id, digest, user_id, created_at, last_used_at, expires_at, ip, user_agent, device_name)
SELECT ?1, ?2, id, ?4, ?5, ?6, ?7, ?8, ?9 FROM users WHERE id = ?3 AND is_active
ON CONFLICT DO NOTHING`},
	} {
		st, err := t.tx.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

// PutUser stores u by the rules of latchkey.ImportTx.
func (t *importTx) PutUser(ctx context.Context, u latchkey.User) (latchkey.ImportResult, error) {
	return t.users.Put(ctx, u)
}

// insertUser inserts u unless its id or username is taken.
func (t *importTx) insertUser(ctx context.Context, u latchkey.User) (bool, error) {
	r, err := t.insertUserStmt.ExecContext(ctx, u.ID, u.Username, u.Email, u.FirstName, u.LastName, u.PasswordHash, u.Active,
		nullMicros(u.LastLogin), micros(u.DateJoined))
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

// find reads the stored users with u's id or u's username.
func (t *importTx) find(ctx context.Context, u latchkey.User) ([]latchkey.User, error) {
	rows, err := t.findUser.QueryContext(ctx, u.ID, u.Username)
	if err != nil {
		return nil, err
	}
	return scanUsers(rows)
}

// update stores m, the stored user merged with an imported one, and
// writes the change entries. When mustRevoke, it revokes every session
// of the user and returns their digests.
func (t *importTx) update(ctx context.Context, m latchkey.User, mustRevoke bool) ([]latchkey.Digest, error) {
	_, err := t.updateUser.ExecContext(ctx, m.ID, m.Username, m.Email, m.FirstName, m.LastName, m.PasswordHash, m.Active,
		nullMicros(m.LastLogin), micros(m.DateJoined))
	if err != nil {
		return nil, err
	}
	var ds []latchkey.Digest
	if mustRevoke {
		if ds, err = revoke(ctx, t.tx, m.ID, nil, t.at); err != nil {
			return nil, err
		}
	}
	_, err = t.tx.ExecContext(ctx, changedUser, m.ID, t.at)
	return ds, err
}

// PutSession stores s by the rules of latchkey.ImportTx. Like PutUser,
// it first tries what the previous session needed: the insert, or the
// read that tells why there is nothing to insert.
func (t *importTx) PutSession(ctx context.Context, s latchkey.Session) (latchkey.ImportResult, error) {
	created := latchkey.ImportResult{Action: latchkey.ImportCreated}
	if t.newSessions {
		if ok, err := t.insertSession(ctx, s); err != nil || ok {
			return created, err
		}
		t.newSessions = false
	}
	var (
		owner  *int64
		active *bool
	)
	if err := t.findSession.QueryRowContext(ctx, s.Digest[:], s.UserID).Scan(&owner, &active); err != nil {
		return latchkey.ImportResult{}, fail("import session", err)
	}
	if res := latchkey.DecideImportSession(s, owner, active); res.Action != latchkey.ImportCreated {
		return res, nil
	}
	if ok, err := t.insertSession(ctx, s); err != nil || !ok {
		// Not inserted: its id, derived from the digest, is taken.
		return latchkey.ImportResult{}, fail("import session", cmp.Or(err, error(latchkey.ErrConflict)))
	}
	t.newSessions = true
	return created, nil
}

// insertSession inserts s unless its digest is stored or its user is
// missing or inactive.
func (t *importTx) insertSession(ctx context.Context, s latchkey.Session) (bool, error) {
	r, err := t.insertSessionStmt.ExecContext(ctx, s.ID, s.Digest[:], s.UserID, micros(s.CreatedAt), micros(s.LastUsedAt), micros(s.ExpiresAt), s.IP, s.UserAgent, s.DeviceName)
	if err != nil {
		return false, fail("import session", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fail("import session", err)
	}
	return n == 1, nil
}
