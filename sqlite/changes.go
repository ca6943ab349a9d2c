package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/latchkeyhq/latchkey"
)

// Changes returns up to limit change entries with Seq > after, oldest
// first. It returns ErrChangesLost when DeleteExpired pruned entries after
// `after`, and also when `after` is beyond the newest entry (the file was
// replaced, say, by an older copy): either way the reader's cache may hold
// what was revoked.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]latchkey.Change, error) {
	// One read transaction: the bounds and the entries come from the same
	// snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fail("changes", err)
	}
	defer tx.Rollback()
	var pruned, last int64
	err = tx.QueryRowContext(ctx, `SELECT seq, (SELECT coalesce(max(seq), 0) FROM changes) FROM changes_pruned WHERE id = 1`).
		Scan(&pruned, &last)
	if err != nil {
		return nil, fail("changes", err)
	}
	if after < pruned || after > last {
		return nil, fmt.Errorf("sqlite: changes after %d (pruned through %d, newest %d): %w", after, pruned, last, latchkey.ErrChangesLost)
	}
	if limit <= 0 || after == last {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, user_id, session, digest FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fail("changes", err)
	}
	defer rows.Close()
	var cs []latchkey.Change
	for rows.Next() {
		var (
			c latchkey.Change
			d sql.RawBytes
		)
		if err := rows.Scan(&c.Seq, &c.UserID, &c.Session, &d); err != nil {
			return nil, fail("changes", err)
		}
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
	return cs, nil
}

// LastChange returns the newest change sequence number, 0 when none.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var last int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&last); err != nil {
		return 0, fail("last change", err)
	}
	return last, nil
}
