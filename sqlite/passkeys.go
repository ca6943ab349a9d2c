package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/latchkeyhq/latchkey"
)

// Passkeys (latchkey.PasskeyStore).

const passkeyColumns = `credential_id, user_id, public_key, sign_count, transports, aaguid, attestation_type,
backup_eligible, backup_state, name, created_at, last_used_at`

// CreatePasskey stores p; ErrConflict when its credential id is stored.
func (s *Store) CreatePasskey(ctx context.Context, p latchkey.Passkey) error {
	return s.write(ctx, "create passkey", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, p.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return latchkey.ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
			p.CredentialID, p.UserID, p.PublicKey, int64(p.SignCount), strings.Join(p.Transports, ","),
			nonNil(p.AAGUID), p.AttestationType, p.BackupEligible, p.BackupState, p.Name, micros(p.CreatedAt))
		return err
	})
}

// nonNil is b, or an empty slice for nil: a NOT NULL column takes it.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanPasskey(row interface{ Scan(...any) error }) (latchkey.Passkey, error) {
	var (
		p          latchkey.Passkey
		count      int64
		transports string
		created    int64
		used       sql.NullInt64
	)
	err := row.Scan(&p.CredentialID, &p.UserID, &p.PublicKey, &count, &transports, &p.AAGUID, &p.AttestationType,
		&p.BackupEligible, &p.BackupState, &p.Name, &created, &used)
	if err != nil {
		return latchkey.Passkey{}, err
	}
	p.SignCount = uint32(count)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	p.CreatedAt = fromMicros(created)
	if used.Valid {
		p.LastUsedAt = fromMicros(used.Int64)
	}
	return p, nil
}

// PasskeysOf returns the user's passkeys, oldest first.
func (s *Store) PasskeysOf(ctx context.Context, userID int64) ([]latchkey.Passkey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ?
ORDER BY created_at, credential_id`, userID)
	if err != nil {
		return nil, fail("passkeys of", err)
	}
	defer rows.Close()
	var ps []latchkey.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fail("passkeys of", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("passkeys of", err)
	}
	return ps, nil
}

// PasskeyByCredentialID returns the passkey of credentialID.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (latchkey.Passkey, error) {
	p, err := scanPasskey(s.r.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, credentialID))
	if err != nil {
		return latchkey.Passkey{}, fail("passkey by credential id", err)
	}
	return p, nil
}

// UsePasskey records an assertion if the stored counter is u.OldCount.
func (s *Store) UsePasskey(ctx context.Context, u latchkey.PasskeyUse) error {
	return s.write(ctx, "use passkey", func(tx *sql.Tx) error {
		var count int64
		if err := tx.QueryRowContext(ctx, `SELECT sign_count FROM passkeys WHERE credential_id = ?`, u.CredentialID).Scan(&count); err != nil {
			return err
		}
		if count != int64(u.OldCount) {
			return latchkey.ErrConflict
		}
		_, err := tx.ExecContext(ctx, `UPDATE passkeys SET sign_count = ?, backup_state = ?, last_used_at = ?
WHERE credential_id = ?`, int64(u.NewCount), u.BackupState, micros(u.At), u.CredentialID)
		return err
	})
}

// DeletePasskey removes the user's passkey of credentialID.
func (s *Store) DeletePasskey(ctx context.Context, userID int64, credentialID []byte) error {
	return s.write(ctx, "delete passkey", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM passkeys WHERE user_id = ? AND credential_id = ?`, userID, credentialID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = latchkey.ErrNotFound
			}
			return err
		}
		return nil
	})
}
