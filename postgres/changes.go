package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/latchkeyhq/latchkey"
)

// changesAfter reads the feed's bounds and up to $2 entries after $1 in
// one statement, so from one snapshot: the first row carries the bounds
// (and no entry when there is none to return).
const changesAfter = `SELECT p.seq, l.last, c.seq, c.user_id, c.session, c.digest
FROM changes_pruned AS p
CROSS JOIN (SELECT coalesce(max(seq), 0) AS last FROM changes) AS l
LEFT JOIN LATERAL (
    SELECT seq, user_id, session, digest FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2
) AS c ON true
WHERE p.id = 1
ORDER BY c.seq`

// Changes returns up to limit change entries with Seq > after, oldest
// first. It returns ErrChangesLost when DeleteExpired pruned entries after
// `after`, and also when `after` is beyond the newest entry (the database
// was restored from an older backup, say): either way the reader's cache
// may hold what was revoked.
//
// Seqs are drawn in commit order (see the package comment), so an entry
// that is not visible yet always gets a seq above every visible one: a
// reader that advances to the newest seq it saw skips nothing.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]latchkey.Change, error) {
	rows, err := s.pool.Query(ctx, changesAfter, after, max(limit, 0))
	if err != nil {
		return nil, fail("changes", err)
	}
	defer rows.Close()
	var (
		pruned, last int64
		bounds       bool
		cs           []latchkey.Change
	)
	for rows.Next() {
		var (
			seq, userID pgtype.Int8
			session     pgtype.Bool
			d           []byte
		)
		if err := rows.Scan(&pruned, &last, &seq, &userID, &session, &d); err != nil {
			return nil, fail("changes", err)
		}
		bounds = true
		if !seq.Valid {
			continue // the bounds alone
		}
		c := latchkey.Change{Seq: seq.Int64, UserID: userID.Int64, Session: session.Bool}
		if c.Session {
			if c.Digest, err = digest(d); err != nil {
				return nil, fail("changes", err)
			}
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("changes", err)
	}
	if !bounds {
		// Fail closed: without the pruning mark no gap can be ruled out.
		return nil, latchkey.Internal("postgres: changes: the changes_pruned row is missing")
	}
	if after < pruned || after > last {
		return nil, fmt.Errorf("postgres: changes after %d (pruned through %d, newest %d): %w", after, pruned, last, latchkey.ErrChangesLost)
	}
	return cs, nil
}

// LastChange returns the newest change sequence number, 0 when none.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var last int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&last); err != nil {
		return 0, fail("last change", err)
	}
	return last, nil
}
